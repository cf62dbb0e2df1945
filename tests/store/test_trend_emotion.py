"""Trends filtered or split by emotion, on every backend (Elasticsearch when ES_URL is set).

The rollups have no emotion, so these trends are counted from the mentions; every expected number
is a brute-force count over the inserted mentions, never hard-coded.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.mention import Mention
from store.base import EMOTIONS, TrendQuery

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
END = datetime(2026, 11, 20, tzinfo=SH)
START = END - timedelta(days=10)
BRANDS = ("小米", "华为", "海底捞")
SOURCES = ("weibo", "jd", "tieba")
LABELS = ("positive", "neutral", "negative", None)


def _mention(i: int, at: datetime, brands: list[str], source: str, label: str | None, emotion: str | None) -> Mention:
    sentiment = None
    if label is not None:
        p = {"positive": 0.1, "neutral": 0.1, "negative": 0.1}
        p[label] = 0.8
        sentiment = {"label": label, "probs": p, "score": p["positive"] - p["negative"], "model": "t"}
    return Mention.model_validate({"id": f"{source}:{i}", "source": source, "kind": "post", "text": f"第{i}条",
                                   "published_at": at, "brands": brands, "sentiment": sentiment,
                                   "emotion": emotion})


@pytest.fixture(scope="module")
def corpus() -> list[Mention]:
    rng = random.Random(11)
    out = []
    for i in range(360):
        r = rng.random()
        # Mostly one brand; some name two (they must count once in a several-brand series), some none.
        brands = (rng.sample(BRANDS, 2) if r < 0.2 else [] if r < 0.3 else [rng.choice(BRANDS)])
        emotion = None if rng.random() < 0.15 else rng.choice(EMOTIONS)
        at = START + timedelta(minutes=rng.randrange(10 * 24 * 60))
        out.append(_mention(i, at, brands, rng.choice(SOURCES), rng.choice(LABELS), emotion))
    # Right on and just before Shanghai midnights (UTC 16:00): the day buckets' edges.
    for j, at in enumerate([datetime(2026, 11, 15, tzinfo=SH), datetime(2026, 11, 15, tzinfo=SH) - timedelta(
            microseconds=1), datetime(2026, 11, 16, 23, 59, 59, tzinfo=SH)]):
        out.append(_mention(1000 + j, at, ["小米", "华为"], "weibo", "negative", "angry"))
    return out


@pytest.fixture
def loaded(store, corpus):
    store.upsert(corpus)
    return store


def _label(m: Mention) -> str:
    return m.sentiment.label.value if m.sentiment else "unscored"


def _emotion(m: Mention) -> str:
    return m.emotion or "unscored"


def _day(m: Mention, tz=SH) -> datetime:
    t = m.published_at.astimezone(tz)
    return datetime(t.year, t.month, t.day, tzinfo=tz)


def _brute(corpus, keep, key_of=lambda m: [None], bucket_of=_day) -> Counter:
    """(key, bucket start, 'total' | sentiment label) -> count."""
    c: Counter = Counter()
    for m in corpus:
        if keep(m):
            for k in key_of(m):
                b = bucket_of(m)
                c[(k, b, "total")] += 1
                c[(k, b, _label(m))] += 1
    return c


def _check(buckets, ref: Counter) -> None:
    got: Counter = Counter()
    for b in buckets:
        assert b.total == b.positive + b.neutral + b.negative + b.unscored
        for name in ("total", "positive", "neutral", "negative", "unscored"):
            if getattr(b, name):
                got[(b.key, b.start, name)] += getattr(b, name)
    assert got == +ref


def _in(m: Mention, since: datetime, until: datetime) -> bool:
    return since <= m.published_at < until


def test_emotion_filter_for_one_brand_per_shanghai_day(loaded, corpus):
    q = TrendQuery(brands=["小米"], emotions=["angry"], since=START, until=END, interval="day")
    buckets = loaded.trend(q)
    assert [b.start for b in buckets] == [START + timedelta(days=i) for i in range(10)]
    assert all(b.start.utcoffset() == timedelta(hours=8) and b.key is None for b in buckets)
    ref = _brute(corpus, lambda m: "小米" in m.brands and m.emotion == "angry" and _in(m, START, END))
    assert sum(ref[k] for k in ref if k[2] == "total") > 10  # the data does exercise the filter
    _check(buckets, ref)


def test_several_emotions_over_all_mentions(loaded, corpus):
    q = TrendQuery(emotions=["sad", "fear"], since=START, until=END)
    ref = _brute(corpus, lambda m: m.emotion in ("sad", "fear") and _in(m, START, END))
    _check(loaded.trend(q), ref)


def test_split_by_emotion_names_every_emotion_and_unscored(loaded, corpus):
    buckets = loaded.trend(TrendQuery(since=START, until=END, split_by="emotion"))
    assert {b.key for b in buckets} == {*EMOTIONS, "unscored"}
    assert len(buckets) == 7 * 10
    ref = _brute(corpus, lambda m: _in(m, START, END), key_of=lambda m: [_emotion(m)])
    _check(buckets, ref)
    # The emotions together are the plain trend, bucket by bucket.
    plain = {b.start: b.total for b in loaded.trend(TrendQuery(since=START, until=END))}
    per_start = Counter()
    for b in buckets:
        per_start[b.start] += b.total
    assert dict(per_start) == plain


def test_split_by_requested_emotions_for_a_brand_zero_fills(loaded, corpus):
    q = TrendQuery(brands=["海底捞"], emotions=["surprise", "happy"], since=START, until=END + timedelta(days=2),
                   split_by="emotion")
    buckets = loaded.trend(q)
    assert {b.key for b in buckets} == {"surprise", "happy"}
    assert len(buckets) == 2 * 12 and all(b.total == 0 for b in buckets if b.start >= END)
    ref = _brute(corpus, lambda m: "海底捞" in m.brands and m.emotion in ("surprise", "happy") and _in(m, START, END),
                 key_of=lambda m: [m.emotion])
    _check(buckets, ref)


def test_brand_without_mentions_of_the_emotion_is_zeros_and_unscored_only_without_filter(loaded):
    buckets = loaded.trend(TrendQuery(brands=["nosuch"], since=START, until=END, split_by="emotion"))
    assert {b.key for b in buckets} == set(EMOTIONS)  # no "unscored": there is no such mention
    assert all(b.total == 0 for b in buckets)


def test_several_brands_with_an_emotion_count_a_mention_once(loaded, corpus):
    both = ["小米", "华为"]
    q = TrendQuery(brands=both, emotions=["angry", "neutral"], since=START, until=END)
    keep = lambda m: bool(set(both) & set(m.brands)) and m.emotion in ("angry", "neutral") and _in(m, START, END)  # noqa: E731
    assert any(set(both) <= set(m.brands) and keep(m) for m in corpus)
    _check(loaded.trend(q), _brute(corpus, keep))


def test_split_by_brand_with_an_emotion(loaded, corpus):
    q = TrendQuery(brands=list(BRANDS), emotions=["happy"], since=START, until=END, split_by="brand")
    buckets = loaded.trend(q)
    assert {b.key for b in buckets} == set(BRANDS)
    ref = _brute(corpus, lambda m: m.emotion == "happy" and _in(m, START, END),
                 key_of=lambda m: [b for b in m.brands if b in BRANDS])
    _check(buckets, ref)


def test_split_by_source_with_an_emotion_per_hour(loaded, corpus):
    since, until = END - timedelta(days=2), END
    q = TrendQuery(emotions=["angry", "sad"], sources=["weibo", "jd"], since=since, until=until, interval="hour",
                   split_by="source")
    buckets = loaded.trend(q)
    assert {b.key for b in buckets} == {"weibo", "jd"} and len(buckets) == 2 * 48
    hour = lambda m: m.published_at.astimezone(SH).replace(minute=0, second=0, microsecond=0)  # noqa: E731
    ref = _brute(corpus, lambda m: m.emotion in ("angry", "sad") and m.source in ("weibo", "jd") and _in(m, since, until),
                 key_of=lambda m: [m.source], bucket_of=hour)
    _check(buckets, ref)


def test_five_minute_emotion_trend(loaded, corpus):
    since = datetime(2026, 11, 15, 8, 0, tzinfo=SH) - timedelta(hours=12)
    until = since + timedelta(hours=12)
    q = TrendQuery(brands=["华为"], emotions=["angry"], since=since, until=until, interval="5min", split_by="emotion")
    buckets = loaded.trend(q)
    assert len(buckets) == 144 and {b.key for b in buckets} == {"angry"}
    five = lambda m: datetime.fromtimestamp(m.published_at.timestamp() // 300 * 300, UTC).astimezone(SH)  # noqa: E731
    ref = _brute(corpus, lambda m: "华为" in m.brands and m.emotion == "angry" and _in(m, since, until),
                 key_of=lambda m: ["angry"], bucket_of=five)
    assert ref  # the midnight mentions are in there
    _check(buckets, ref)


def test_weeks_across_a_dst_change_split_by_emotion(loaded, corpus):
    since, until = datetime(2026, 10, 26, tzinfo=NY), datetime(2026, 11, 23, tzinfo=NY)  # DST ends Nov 1
    buckets = loaded.trend(TrendQuery(since=since, until=until, interval="week", tz="America/New_York",
                                      split_by="emotion"))
    assert all(b.start.weekday() == 0 and b.start.hour == 0 for b in buckets)

    def week(m):
        t = m.published_at.astimezone(NY)
        d = datetime(t.year, t.month, t.day, tzinfo=NY)
        return d - timedelta(days=d.weekday())

    ref = _brute(corpus, lambda m: _in(m, since, until), key_of=lambda m: [_emotion(m)], bucket_of=week)
    _check(buckets, ref)


def test_changing_a_mentions_emotion_moves_it_between_trends(store):
    at = datetime(2026, 11, 12, 10, tzinfo=SH)
    since, until = at - timedelta(days=1), at + timedelta(days=1)
    store.upsert([_mention(1, at, ["小米"], "weibo", "negative", "angry"),
                  _mention(2, at, ["小米"], "weibo", "negative", None)])
    store.upsert([_mention(1, at, ["小米"], "weibo", "negative", "sad"),
                  _mention(2, at, ["小米"], "weibo", "negative", "fear")])

    def totals(emotion):
        return sum(b.total for b in store.trend(TrendQuery(brands=["小米"], emotions=[emotion], since=since,
                                                           until=until)))
    assert (totals("angry"), totals("sad"), totals("fear")) == (0, 1, 1)
    split = store.trend(TrendQuery(brands=["小米"], since=since, until=until, split_by="emotion"))
    assert {b.key: b.total for b in split if b.total} == {"sad": 1, "fear": 1}


# Elasticsearch request body and response parsing (offline) ---------------------------------------

def test_es_trend_body_filters_and_splits_by_emotion():
    from store import es_bodies as eb
    from store.buckets import bucket_starts

    starts, end = bucket_starts(START, END, "day", SH)
    body = eb.trend_body(TrendQuery(brands=["小米"], emotions=["angry", "sad"], since=START, until=END), starts, end)
    flt = body["query"]["bool"]["filter"]
    assert {"terms": {"emotion": ["angry", "sad"]}} in flt and {"terms": {"brands": ["小米"]}} in flt
    assert set(body["aggs"]) == {"h"}  # no split: one histogram
    # The emotion field is a keyword in the mapping: terms filters and aggregations work on it.
    assert eb.load_templates()["opmon-mentions"]["template"]["mappings"]["properties"]["emotion"] == {"type": "keyword"}

    split = eb.trend_body(TrendQuery(since=START, until=END, split_by="emotion"), starts, end)
    assert not any("emotion" in c.get("terms", {}) for c in split["query"]["bool"]["filter"])
    terms = split["aggs"]["k"]["terms"]
    # Mentions without an emotion are counted under "unscored", like the embedded store.
    assert terms == {"field": "emotion", "size": len(EMOTIONS) + 1, "missing": "unscored"}
    assert split["aggs"]["k"]["aggs"]["h"]["date_histogram"]["time_zone"] == "Asia/Shanghai"

    only = eb.trend_body(TrendQuery(emotions=["fear"], since=START, until=END, split_by="emotion"), starts, end)
    assert only["aggs"]["k"]["terms"] == {"field": "emotion", "size": 1}  # null emotions are filtered out
    assert {"terms": {"emotion": ["fear"]}} in only["query"]["bool"]["filter"]


def test_es_parse_trend_by_emotion_zero_fills_every_emotion():
    from store import es_bodies as eb
    from store.buckets import bucket_starts

    since = datetime(2026, 11, 1, tzinfo=SH)
    q = TrendQuery(since=since, until=since + timedelta(days=2), split_by="emotion")
    starts, _ = bucket_starts(q.since, q.until, "day", SH)
    base = int(since.timestamp()) * 1000

    def sent(p, n, neg, u):
        return {"buckets": {"positive": {"doc_count": p}, "neutral": {"doc_count": n},
                            "negative": {"doc_count": neg}, "unscored": {"doc_count": u}}}

    resp = {"aggregations": {"k": {"buckets": [
        {"key": "angry", "doc_count": 4, "h": {"buckets": [
            {"key": base, "doc_count": 3, "s": sent(0, 1, 2, 0)},
            {"key": base + 86400000, "doc_count": 1, "s": sent(0, 0, 1, 0)}]}},
        {"key": "unscored", "doc_count": 2, "h": {"buckets": [
            {"key": base, "doc_count": 0, "s": sent(0, 0, 0, 0)},
            {"key": base + 86400000, "doc_count": 2, "s": sent(1, 0, 0, 1)}]}}]}}}
    out = eb.parse_trend(resp, q, starts)
    assert {b.key for b in out} == {*EMOTIONS, "unscored"} and len(out) == 14
    got = {(b.key, b.start.day): (b.total, b.positive, b.neutral, b.negative, b.unscored) for b in out if b.total}
    assert got == {("angry", 1): (3, 0, 1, 2, 0), ("angry", 2): (1, 0, 0, 1, 0), ("unscored", 2): (2, 1, 0, 0, 1)}
    filtered = TrendQuery(emotions=["sad"], since=q.since, until=q.until, split_by="emotion")
    assert {b.key for b in eb.parse_trend({"aggregations": {"k": {"buckets": []}}}, filtered, starts)} == {"sad"}


# What only the embedded store promises -------------------------------------------------------------

def _plans(st, queries) -> list[str]:
    """The query plan of each statement that counts from the mentions table."""
    c = st._conn()
    seen: list[str] = []
    c.set_trace_callback(seen.append)
    try:
        for q in queries:
            assert st.trend(q)
    finally:
        c.set_trace_callback(None)
    return [" | ".join(r[3] for r in c.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in seen if " mentions m" in sql]


def test_sqlite_emotion_trends_for_brands_read_the_brands_index_ranges(sqlite_store, corpus):
    sqlite_store.upsert(corpus)
    plans = _plans(sqlite_store, [
        TrendQuery(brands=["小米"], emotions=["angry"], since=START, until=END),
        TrendQuery(brands=["小米", "华为"], since=START, until=END, split_by="emotion", sources=["weibo"]),
        TrendQuery(brands=list(BRANDS), emotions=["sad"], since=START, until=END, split_by="brand")])
    assert len(plans) == 3
    for plan in plans:  # the brands' rows carry the emotion; mentions are only looked up by seq
        assert "mention_brands USING PRIMARY KEY (brand=? AND published_us>? AND published_us<?)" in plan, plan
        assert "SEARCH m USING INTEGER PRIMARY KEY" in plan and "SCAN m" not in plan, plan


def test_sqlite_emotion_trends_over_all_mentions_walk_the_time_index_only_for_a_small_range(sqlite_store, corpus):
    sqlite_store.upsert(corpus)
    short, whole = _plans(sqlite_store, [
        TrendQuery(emotions=["sad"], since=END - timedelta(days=1), until=END, interval="hour"),
        TrendQuery(since=START, until=END, split_by="emotion")])
    assert "mentions_newest (published_us>? AND published_us<?)" in short, short
    assert "SCAN m" in whole, whole  # most of the store: one straight pass beats a lookup per row


def test_sqlite_trends_without_emotion_still_read_only_rollups(sqlite_store, corpus):
    sqlite_store.upsert(corpus)
    c = sqlite_store._conn()
    seen: list[str] = []
    c.set_trace_callback(seen.append)
    try:
        for q in (TrendQuery(brands=["小米"], since=START, until=END, split_by="source"),
                  TrendQuery(since=START, until=END, interval="hour"),
                  TrendQuery(brands=list(BRANDS), since=START, until=END, split_by="brand")):
            assert sqlite_store.trend(q)
    finally:
        c.set_trace_callback(None)
    assert seen and all("rollup_" in s and " mentions" not in s for s in seen), seen
