"""GET /v1/topics and GET /v1/touchpoints."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from api_testkit import HOURS, T0

WINDOW = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=HOURS)).isoformat()}


def test_touchpoints_match_aspect_counts(client, keys, seeded):
    r = client.get("/v1/touchpoints", params={"brand": "小米", **WINDOW}, headers=keys.h())
    assert r.status_code == 200, r.text
    rows = r.json()["touchpoints"]
    want: dict[str, Counter] = {}
    for m in seeded:
        if "小米" in m.brands:
            for a in m.aspects:
                want.setdefault(a.touchpoint, Counter())[a.sentiment.value] += 1
    assert {row["touchpoint"] for row in rows} == set(want)
    for row in rows:
        c = want[row["touchpoint"]]
        assert (row["positive"], row["neutral"], row["negative"]) == (c["positive"], c["neutral"], c["negative"])
        assert row["net_sentiment"] == pytest.approx((c["positive"] - c["negative"]) / sum(c.values()), abs=1e-4)
    assert [r["total"] for r in rows] == sorted((r["total"] for r in rows), reverse=True)


def test_touchpoints_window_excludes_outside(client, keys, seeded):
    r = client.get("/v1/touchpoints", params={"since": "2025-01-01", "until": "2025-02-01"}, headers=keys.h())
    assert r.status_code == 200 and r.json()["touchpoints"] == []


def test_topics_returns_keywords_counts_and_window(client, keys, seeded):
    r = client.get("/v1/topics", params={"brand": "华为", **WINDOW, "keywords": 5}, headers=keys.h())
    assert r.status_code == 200, r.text
    body = r.json()
    n = sum(1 for m in seeded if "华为" in m.brands)
    assert body["mentions"] == n
    assert body["sample_size"] == n
    kw = {k["term"]: k["count"] for k in body["keywords"]}
    assert 0 < len(kw) <= 5
    assert kw.get("华为") == n  # every 华为 mention carries the keyword 华为
    assert body["topics"], body["notes"]
    ids = {m.id for m in seeded if "华为" in m.brands}
    for t in body["topics"]:
        assert t["size"] >= 1 and t["terms"] and set(t["mention_ids"]) <= ids
    assert sum(t["size"] for t in body["topics"]) <= n
    assert body["emerging"] and all(e["score"] > 0 for e in body["emerging"])


def test_topics_empty_window_says_why(client, keys, seeded):
    body = client.get("/v1/topics", params={"since": "2025-01-01", "until": "2025-01-02"}, headers=keys.h()).json()
    assert body["mentions"] == 0 and body["topics"] == [] and body["emerging"] == []
    assert body["notes"]


@pytest.mark.parametrize("path", ["/v1/topics", "/v1/touchpoints"])
@pytest.mark.parametrize("params, status", [
    ({"since": "2020-01-01", "until": "2026-01-01"}, 400),
    ({"since": "garbage"}, 400),
    ({"keywords": 1000}, 422),
])
def test_topic_input_validation(client, keys, path, params, status):
    if path == "/v1/touchpoints" and "keywords" in params:
        params = {"source": "BAD\x01"}
        status = 400
    r = client.get(path, params=params, headers=keys.h())
    assert r.status_code == status, r.text


def test_touchpoints_and_topics_of_the_angry_mentions(client, keys, seeded):
    r = client.get("/v1/touchpoints", params={"emotion": "angry", **WINDOW}, headers=keys.h())
    assert r.status_code == 200, r.text
    want: dict[str, Counter] = {}
    for m in seeded:
        if m.emotion == "angry":
            for a in m.aspects:
                want.setdefault(a.touchpoint, Counter())[a.sentiment.value] += 1
    got = {row["touchpoint"]: (row["positive"], row["neutral"], row["negative"]) for row in r.json()["touchpoints"]}
    assert got == {tp: (c["positive"], c["neutral"], c["negative"]) for tp, c in want.items()} and got
    body = client.get("/v1/topics", params={"brand": "小米", "emotion": ["angry", "sad"], **WINDOW, "keywords": 3},
                      headers=keys.h()).json()
    n = sum(1 for m in seeded if "小米" in m.brands and m.emotion in ("angry", "sad"))
    assert body["mentions"] == body["sample_size"] == n > 0
    assert {k["term"]: k["count"] for k in body["keywords"]}.get("小米") == n
