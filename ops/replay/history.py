"""A baseline history for the demo brands, written straight into the store.

The spike detector compares now with the same hour of previous weeks; a fresh demo has no past. So
the demo seeds four weeks of ordinary, mostly positive/neutral mentions (about two an hour per brand,
busier in the evening) before the replayed day. These rows are marked: ids `<source>:hist-...`,
`keyword` = "demo-history", sentiment model "demo-history" (labels come from the generator, not from
the NLP model). Nothing outside the demo writes them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from core.mention import Author, Label, Mention, Metrics, Sentiment
from ops.replay.content import HOTPOT, PHONE, QUIET_HOURS, _Gen

SOURCES = {PHONE: ["weibo", "weibo", "tieba", "jd"], HOTPOT: ["weibo", "weibo", "dianping", "discuz"]}
_PROBS = {"positive": (0.8, 0.15, 0.05), "neutral": (0.15, 0.7, 0.15), "negative": (0.05, 0.15, 0.8)}


def _sentiment(label: str) -> Sentiment:
    p, u, n = _PROBS[label]
    return Sentiment(label=Label(label), probs={Label.positive: p, Label.neutral: u, Label.negative: n},
                     score=round(p - n, 3), model="demo-history")


def history(now: datetime, days: int = 28, per_hour: float = 2.0, seed: int = 11) -> list[Mention]:
    rng = random.Random(seed)
    gen = _Gen(seed, now)
    out: list[Mention] = []
    end = now - timedelta(hours=QUIET_HOURS)
    start = end - timedelta(days=days)
    hours = int((end - start).total_seconds() // 3600)
    n = 0
    for brand in (PHONE, HOTPOT):
        for h in range(hours):
            t0 = start + timedelta(hours=h)
            local_hour = (t0.hour + 8) % 24
            rate = per_hour * (1.6 if 18 <= local_hour <= 23 else 0.3 if 1 <= local_hour <= 7 else 1.0)
            for _ in range(_poisson(rng, rate)):
                n += 1
                kind = gen.quiet_kind()
                source = rng.choice(SOURCES[brand])
                native = f"hist-{n}"
                mid = f"discuz:bbs.chihuo.example:{native}" if source == "discuz" else f"{source}:{native}"
                p = gen.person()
                review = source in ("jd", "dianping")
                out.append(Mention(
                    id=mid, source=source, kind="review" if review else "post", text=gen.text(brand, kind),
                    author=Author(id=str(p.uid), name=p.name, followers=p.followers, verified=p.verified),
                    published_at=t0 + timedelta(seconds=rng.uniform(0, 3599)),
                    metrics=Metrics(likes=rng.randint(0, 40), rating={"positive": 5, "neutral": 4,
                                                                        "negative": 2}[kind] if review else None),
                    location=p.city, keyword="demo-history", brands=[brand], sentiment=_sentiment(kind),
                    lang="zh",
                ))
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth: fine for the small rates here
    import math

    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def seed_history(store, now: datetime, **kw) -> int:
    rows = history(now, **kw)
    for i in range(0, len(rows), 1000):
        store.upsert(rows[i:i + 1000])
    return len(rows)


def world_mentions(world) -> list[Mention]:
    """The replay world as stored mentions (brands and written sentiment filled in), for tests that
    need the surge in a store without crawling it."""
    out = []
    sources = [("weibo", world.weibo, None), ("jd", world.jd, None), ("dianping", world.dianping, None)]
    for source, groups, _ in sources:
        for items in groups.values():
            for i in items:
                out.append(_as_mention(source, f"{source}:{i.native_id}", i, "review" if source != "weibo" else "post"))
    for forum in world.tieba.values():
        for t in forum:
            for n, f in enumerate(t.floors):
                out.append(_as_mention("tieba", f"tieba:{f.native_id}", f, "post" if n == 0 else "comment"))
    for board in world.discuz.values():
        for t in board:
            for n, f in enumerate(t.floors):
                out.append(_as_mention("discuz", f"discuz:bbs.chihuo.example:{f.native_id}", f,
                                       "post" if n == 0 else "comment"))
    return list({m.id: m for m in out}.values())


def _as_mention(source: str, mid: str, i, kind: str) -> Mention:
    p = i.author
    return Mention(id=mid, source=source, kind=kind, text=i.text if i.text != "此用户未填写评价内容" else "",
                   author=Author(id=str(p.uid), name=p.name, followers=p.followers, verified=p.verified),
                   published_at=i.published, metrics=Metrics(likes=i.likes, rating=i.rating), location=p.city,
                   brands=[i.brand], sentiment=_sentiment(i.sentiment), lang="zh")
