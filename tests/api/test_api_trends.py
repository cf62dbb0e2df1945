"""GET /v1/trends: per-bucket sentiment counts, net sentiment, time zones, source split, share of voice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from api_testkit import HOURS, T0

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
