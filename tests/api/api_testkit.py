"""API test fixtures: an app over a real store (SQLite; Elasticsearch too when ES_URL is set),
keys of each scope, and a small deterministic corpus whose numbers the tests recompute by hand."""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.brands import Brand, BrandRepo
from core.mention import SHANGHAI, Mention
from core.settings import Settings

# The corpus lives in a fixed past window so that numbers never depend on the clock.
T0 = datetime(2026, 11, 10, 0, 0, tzinfo=SHANGHAI)
HOURS = 72
BRANDS = ("小米", "华为", "海底捞")
SOURCES = ("weibo", "jd", "tieba")
LABELS = ("positive", "neutral", "negative", None)
TOUCHPOINTS = ("物流", "客服", "价格")
EMOTIONS = ("happy", "angry", "sad", "fear", "surprise", "neutral")
PHRASES = {
    "positive": "{b}的{t}真不错，点赞",
    "neutral": "{b}的{t}一般般吧",
    "negative": "{b}的{t}太差了，投诉没人理",
    None: "说说{b}的{t}",
}


def make_corpus(n: int = 240, seed: int = 7) -> list[Mention]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        brand = BRANDS[i % 3] if i % 11 else BRANDS[0]
        source = SOURCES[rng.randrange(3)]
        label = LABELS[rng.randrange(4)]
        tp = TOUCHPOINTS[rng.randrange(3)]
        published = T0 + timedelta(minutes=rng.randrange(HOURS * 60))
        sentiment = None
        aspects = []
        if label is not None:
            probs = {"positive": 0.1, "neutral": 0.1, "negative": 0.1}
            probs[label] = 0.8
            sentiment = {"label": label, "probs": probs, "score": probs["positive"] - probs["negative"],
                         "model": "test"}
            aspects = [{"touchpoint": tp, "sentiment": label}]
        kind = "review" if source == "jd" else "post"
        out.append(Mention.model_validate({
            "id": f"{source}:{1000 + i}", "source": source, "kind": kind,
            "text": PHRASES[label].format(b=brand, t=tp) + f" #{i}",
            "published_at": published.isoformat(), "brands": [brand], "sentiment": sentiment,
            "aspects": aspects, "keywords": [tp, brand], "metrics": {"likes": i % 17},
            # Every 8th mention not scored for emotion; from the index, so the draws above stay as they were.
            "emotion": None if i % 8 == 0 else EMOTIONS[(i * 5) % 6],
        }))
    return out


@dataclass
class Keys:
    admin: str
    write: str
    read: str

    def h(self, which: str = "read") -> dict[str, str]:
        return {"X-API-Key": getattr(self, which)}


def _backends():
    yield pytest.param("sqlite", id="sqlite")
    yield pytest.param("elasticsearch", id="es", marks=[
        pytest.mark.es,
        pytest.mark.skipif(not os.environ.get("ES_URL"), reason="ES_URL not set: no Elasticsearch cluster to test"),
    ])


# Modules whose tests exercise the store run on every backend; the rest (auth, webhooks, brands, ...)
# do not depend on it and run on SQLite only.
STORE_MODULES = {"test_api_mentions", "test_api_trends", "test_api_topics", "test_api_export"}


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.module.__name__ in STORE_MODULES:
        metafunc.parametrize("backend", list(_backends()), indirect=True)


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def api_settings(tmp_path, backend) -> Settings:
    kw = {}
    if backend == "elasticsearch":
        kw = {"es_url": os.environ["ES_URL"], "es_index_prefix": f"opmontest{uuid.uuid4().hex[:8]}"}
    return Settings(data_dir=tmp_path / "data", store=backend, nlp_enabled=False,
                    rate_limit_per_minute=100_000, brands_file=tmp_path / "none.yaml", **kw)


@pytest.fixture
def app(api_settings):
    return create_app(api_settings, webhook_worker=False)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c
    if app.state.settings.store == "elasticsearch":
        _drop_es(app.state.settings)


def _es_client(settings: Settings):
    from elasticsearch import Elasticsearch

    return Elasticsearch(settings.es_url, api_key=settings.es_api_key.get_secret_value() if settings.es_api_key
                         else None, verify_certs=settings.es_verify_certs)


def _drop_es(settings: Settings) -> None:
    """Delete this test's indices by name (ES 8 refuses wildcard deletes by default)."""
    es = _es_client(settings)
    names = list(es.indices.get(index=f"{settings.es_index_prefix}*", expand_wildcards="all"))
    if names:
        es.indices.delete(index=",".join(names), ignore_unavailable=True)


def refresh_store(app) -> None:
    """Make just-written mentions searchable (Elasticsearch refreshes on an interval)."""
    store = app.state.store
    refresh = getattr(store, "refresh", None)
    if callable(refresh):
        refresh()
    elif app.state.settings.store == "elasticsearch":
        _es_client(app.state.settings).indices.refresh(index=f"{app.state.settings.es_index_prefix}*")


@pytest.fixture
def keys(client) -> Keys:
    repo = client.app.state.keys
    return Keys(admin=repo.create("admin", ["admin"])[1], write=repo.create("writer", ["write"])[1],
                read=repo.create("reader", ["read"])[1])


@pytest.fixture
def corpus() -> list[Mention]:
    return make_corpus()


@pytest.fixture
def seeded(client, corpus) -> list[Mention]:
    client.app.state.store.upsert(corpus)
    refresh_store(client.app)
    repo = BrandRepo(client.app.state.state_db)
    for b in BRANDS:
        repo.upsert(Brand(name=b, keywords=[b]))
    return corpus


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


class LiveServer:
    """The app under a real uvicorn on 127.0.0.1 (a free port), in a thread, lifespan included."""

    def __init__(self, app):
        import threading
        import time

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.app = app

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
