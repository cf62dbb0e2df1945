"""GET /v1/trends: per-bucket sentiment counts, net sentiment, time zones, source split, share of voice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from api_testkit import EMOTIONS as EMOTION_NAMES
from api_testkit import HOURS, T0

from api.routes.trends import TrendResponse as RouteTrendResponse
from api.schemas import TrendResponse

WINDOW = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=HOURS)).isoformat()}


def _label(m) -> str:
    return m.sentiment.label.value if m.sentiment else "unscored"


def test_hourly_counts_and_net_sentiment_match_the_corpus(client, keys, seeded):
    r = client.get("/v1/trends", params={"brand": "小米", "interval": "hour", **WINDOW}, headers=keys.h())
    assert r.status_code == 200, r.text
    body = r.json()
    TrendResponse.model_validate(body)  # the hand-serialised body honours the documented model
    assert r.headers["x-ratelimit-limit"]
    assert body["share_of_voice"] is None and len(body["series"]) == 1
    buckets = body["series"][0]["buckets"]
    assert len(buckets) == HOURS
    want: dict[datetime, Counter] = {}
    for m in seeded:
        if "小米" in m.brands:
            start = m.published_at.replace(minute=0, second=0, microsecond=0)
            want.setdefault(start, Counter())[_label(m)] += 1
    for b in buckets:
        start = datetime.fromisoformat(b["start"])
        assert start.utcoffset() == timedelta(hours=8)
        c = want.get(start, Counter())
        assert (b["positive"], b["neutral"], b["negative"], b["unscored"]) == \
            (c["positive"], c["neutral"], c["negative"], c["unscored"])
        assert b["total"] == sum(c.values())
        if b["total"]:
            assert b["net_sentiment"] == pytest.approx((c["positive"] - c["negative"]) / b["total"], abs=1e-4)
        else:
            assert b["net_sentiment"] is None
    assert body["series"][0]["total"] == sum(sum(c.values()) for c in want.values())


def test_day_buckets_follow_the_time_zone(client, keys, seeded):
    params = {"brand": "华为", "interval": "day", **WINDOW}
    sh = client.get("/v1/trends", params=params | {"tz": "Asia/Shanghai"}, headers=keys.h()).json()
    utc = client.get("/v1/trends", params=params | {"tz": "UTC"}, headers=keys.h()).json()
    sh_starts = [datetime.fromisoformat(b["start"]) for b in sh["series"][0]["buckets"]]
    utc_starts = [datetime.fromisoformat(b["start"]) for b in utc["series"][0]["buckets"]]
    assert all(s.hour == 0 and s.utcoffset() == timedelta(hours=8) for s in sh_starts)
    assert all(s.hour == 0 and s.utcoffset() == timedelta(0) for s in utc_starts)
    first_utc_day = Counter(m.published_at.astimezone(UTC).date() for m in seeded if "华为" in m.brands)
    got = {datetime.fromisoformat(b["start"]).date(): b["total"] for b in utc["series"][0]["buckets"]}
    for day, n in got.items():
        assert n == first_utc_day.get(day, 0)


def test_split_by_source(client, keys, seeded):
    r = client.get("/v1/trends", params={"brand": "海底捞", "interval": "day", "split_by": "source", **WINDOW},
                   headers=keys.h()).json()
    totals = {s["source"]: s["total"] for s in r["series"]}
    want = Counter(m.source for m in seeded if "海底捞" in m.brands)
    assert {k: v for k, v in totals.items() if v} == dict(want)
    assert all(s["brand"] == "海底捞" for s in r["series"])


def test_several_brands_give_share_of_voice(client, keys, seeded):
    r = client.get("/v1/trends", params={"brand": ["小米", "华为", "海底捞"], "interval": "day", **WINDOW},
                   headers=keys.h()).json()
    TrendResponse.model_validate(r)
    sov = r["share_of_voice"]
    counts = Counter(b for m in seeded for b in m.brands)
    grand = sum(counts[b] for b in ("小米", "华为", "海底捞"))
    for e in sov["brands"]:
        assert e["total"] == counts[e["brand"]]
        assert e["share"] == pytest.approx(counts[e["brand"]] / grand, abs=1e-4)
    assert sum(e["share"] for e in sov["brands"]) == pytest.approx(1, abs=1e-3)
    for b in sov["buckets"]:
        if any(b["shares"].values()):
            assert sum(b["shares"].values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("params, status, words", [
    ({"interval": "minute"}, 422, "interval"),
    ({"tz": "Mars/Olympus"}, 400, "time zone"),
    ({"tz": "../../etc/passwd"}, 400, "time zone"),
    ({"since": "2020-01-01", "until": "2026-01-01", "interval": "hour"}, 400, "longer than"),
    ({"since": "2026-11-12T00:00:00+08:00", "until": "2026-11-12T00:00:00+08:00"}, 400, "must be after"),
    ({"brand": [f"b{i}" for i in range(11)]}, 400, "at most"),
    ({"split_by": "brand"}, 422, "split_by"),
])
def test_bad_trend_input(client, keys, params, status, words):
    r = client.get("/v1/trends", params=params, headers=keys.h())
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_default_window_is_recent(client, keys):
    r = client.get("/v1/trends", params={"interval": "hour"}, headers=keys.h()).json()
    until = datetime.fromisoformat(r["until"])
    assert timedelta(0) <= datetime.now(UTC) - until < timedelta(minutes=5)
    assert until - datetime.fromisoformat(r["since"]) == timedelta(days=2)


# Emotion: ?emotion= filter and split_by=emotion -------------------------------------------------

def _sh_day(m) -> datetime:
    t = m.published_at.astimezone(T0.tzinfo)
    return datetime(t.year, t.month, t.day, tzinfo=T0.tzinfo)


def _points(series: dict) -> dict[datetime, tuple]:
    return {datetime.fromisoformat(b["start"]): (b["total"], b["positive"], b["neutral"], b["negative"],
                                                 b["unscored"]) for b in series["buckets"]}


def _want(ms, bucket_of=_sh_day) -> dict[datetime, tuple]:
    c: dict[datetime, Counter] = {}
    for m in ms:
        c.setdefault(bucket_of(m), Counter())[_label(m)] += 1
    return {k: (sum(v.values()), v["positive"], v["neutral"], v["negative"], v["unscored"]) for k, v in c.items()}


def test_emotion_filter_counts_only_those_mentions(client, keys, seeded):
    r = client.get("/v1/trends", params={"brand": "小米", "emotion": ["angry", "sad"], "interval": "day", **WINDOW},
                   headers=keys.h())
    assert r.status_code == 200, r.text
    body = r.json()
    RouteTrendResponse.model_validate(body)
    (series,) = body["series"]
    assert series["brand"] == "小米" and series["emotion"] is None and series["source"] is None
    want = _want(m for m in seeded if "小米" in m.brands and m.emotion in ("angry", "sad"))
    got = {k: v for k, v in _points(series).items() if v[0]}
    assert got == want and series["total"] == sum(v[0] for v in want.values()) > 0
    everything = client.get("/v1/trends", params={"brand": "小米", "interval": "day", **WINDOW}, headers=keys.h())
    assert series["total"] < everything.json()["series"][0]["total"]


def test_split_by_emotion_gives_one_series_per_brand_and_emotion(client, keys, seeded):
    r = client.get("/v1/trends", params={"brand": ["小米", "华为"], "split_by": "emotion", "interval": "hour", **WINDOW},
                   headers=keys.h())
    assert r.status_code == 200, r.text
    body = r.json()
    RouteTrendResponse.model_validate(body)
    assert body["split_by"] == "emotion"
    keys_of = {(s["brand"], s["emotion"]) for s in body["series"]}
    for brand in ("小米", "华为"):
        ms = [m for m in seeded if brand in m.brands]
        assert any(m.emotion is None for m in ms)  # the corpus has unscored mentions for both
        assert {e for b, e in keys_of if b == brand} == {*EMOTION_NAMES, "unscored"}
    hour = lambda m: m.published_at.astimezone(T0.tzinfo).replace(minute=0, second=0, microsecond=0)  # noqa: E731
    for s in body["series"]:
        assert len(s["buckets"]) == HOURS
        want = _want((m for m in seeded if s["brand"] in m.brands and (m.emotion or "unscored") == s["emotion"]), hour)
        assert {k: v for k, v in _points(s).items() if v[0]} == want
    # Share of voice still compares the brands' whole volumes.
    counts = Counter(b for m in seeded for b in m.brands)
    assert {e["brand"]: e["total"] for e in body["share_of_voice"]["brands"]} == {"小米": counts["小米"],
                                                                                  "华为": counts["华为"]}


def test_split_by_requested_emotions_only(client, keys, seeded):
    r = client.get("/v1/trends", params={"brand": "海底捞", "split_by": "emotion", "emotion": ["fear", "happy", "fear"],
                                         "interval": "day", **WINDOW}, headers=keys.h()).json()
    assert [s["emotion"] for s in r["series"]] == ["fear", "happy"]  # sorted, deduplicated
    for s in r["series"]:
        want = _want(m for m in seeded if "海底捞" in m.brands and m.emotion == s["emotion"])
        assert {k: v for k, v in _points(s).items() if v[0]} == want


def test_an_unknown_emotion_is_a_422_naming_the_six(client, keys):
    r = client.get("/v1/trends", params={"emotion": ["angry", "furious"]}, headers=keys.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = r.json()["detail"]
    assert detail.startswith("query.emotion.1:") and "'happy', 'angry', 'sad', 'fear', 'surprise' or 'neutral'" in detail
    r = client.get("/v1/trends", params={"split_by": "feeling"}, headers=keys.h())
    assert r.status_code == 422 and "'source' or 'emotion'" in r.json()["detail"]


def test_openapi_documents_the_emotion_parameters(client):
    op = client.get("/openapi.json").json()["paths"]["/v1/trends"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["emotion"]["schema"]["type"] == "array"
    assert "emotion" in str(params["split_by"]["schema"])
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "emotion" in schemas["TrendSeries"]["properties"]


class _TrendOnly:
    """A store that answers trends with TrendBucket models only (as Elasticsearch does): no trend_counts."""

    def __init__(self, store):
        self.trend = store.trend


def test_stores_without_trend_counts_give_the_same_emotion_series(app, client, keys, seeded):
    from api.deps import get_store

    params = {"brand": ["小米", "海底捞"], "split_by": "emotion", "interval": "day", **WINDOW}
    fast = client.get("/v1/trends", params=params, headers=keys.h()).json()
    filtered = {**params, "split_by": "source", "emotion": "angry"}
    fast_filtered = client.get("/v1/trends", params=filtered, headers=keys.h()).json()
    app.dependency_overrides[get_store] = lambda: _TrendOnly(app.state.store)
    try:
        slow = client.get("/v1/trends", params=params, headers=keys.h()).json()
        slow_filtered = client.get("/v1/trends", params=filtered, headers=keys.h()).json()
    finally:
        app.dependency_overrides.pop(get_store)
    assert slow == fast and len(fast["series"]) == 2 * 7
    assert slow_filtered == fast_filtered and {s["source"] for s in fast_filtered["series"]} <= {"weibo", "jd", "tieba"}
