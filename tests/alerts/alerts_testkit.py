"""Alert test fixtures: a real SQLite mention store, a real state DB file, and a generator of
mention streams (steady rate, daily profile, surges) for one brand."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.brands import Brand, BrandRepo
from core.mention import Mention
from core.settings import Settings
from store.factory import open_store
from store.sqlite_db import StateDB

STEP = timedelta(minutes=5)
# A fixed past window: numbers never depend on the clock.
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SOURCES = ("weibo", "jd", "tieba")
CITIES = ("北京", "上海", "广州")


@pytest.fixture
def store_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", nlp_enabled=False, brands_file=tmp_path / "none.yaml")


@pytest.fixture
def store(store_settings):
    s = open_store(store_settings)
    yield s
    s.close()


@pytest.fixture
def state_db(store_settings):
    db = StateDB(store_settings.state_db)
    yield db
    db.close()


def add_brand(db: StateDB, name: str = "小米", sensitivity: str = "balanced") -> Brand:
    b = Brand(name=name, keywords=[name], sensitivity=sensitivity)
    BrandRepo(db).upsert(b)
    return b


def mention_stream(brand: str, start: datetime, buckets: int, rate: Callable[[int], float],
                   negative_share: Callable[[int], float] = lambda i: 0.2, seed: int = 1,
                   text: Callable[[int, bool], str] | None = None, prefix: str = "m") -> list[Mention]:
    """Poisson mentions per 5-minute bucket; bucket i has mean rate(i) and negative share(i)."""
    rng = random.Random(seed)
    out = []
    n = 0
    for i in range(buckets):
        lam = rate(i)
        # Poisson by inversion (small means) / normal approximation (large means).
        k = max(0, round(rng.gauss(lam, lam ** 0.5))) if lam > 30 else _poisson(rng, lam)
        for _ in range(k):
            neg = rng.random() < negative_share(i)
            label = "negative" if neg else "positive"
            probs = {"positive": 0.1, "neutral": 0.1, "negative": 0.1}
            probs[label] = 0.8
            src = SOURCES[rng.randrange(3)]
            body = text(i, neg) if text else (f"{brand}的客服太差了，退款很慢" if neg else f"{brand}的手机很好用")
            out.append(Mention.model_validate({
                "id": f"{src}:{prefix}{n}", "source": src, "kind": "post", "text": f"{body} {n}",
                "published_at": (start + i * STEP + timedelta(seconds=rng.randrange(300))).isoformat(),
                "brands": [brand], "location": CITIES[rng.randrange(3)],
                "sentiment": {"label": label, "probs": probs, "score": probs["positive"] - probs["negative"],
                              "model": "test"},
                "aspects": [{"touchpoint": "客服" if neg else "产品", "sentiment": label}],
                "metrics": {"likes": rng.randrange(100)},
            }))
            n += 1
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    import math

    L, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= L:
            return k
        k += 1
