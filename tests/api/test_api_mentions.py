"""GET /v1/mentions (search), GET /v1/mentions/{id}, POST /v1/mentions:batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_testkit import T0, refresh_store, utc

from api.schemas import MentionPage
from core.mention import Mention


def _ids(page) -> list[str]:
    return [m["id"] for m in page["items"]]


def test_newest_first_and_cursor_pages_cover_everything_once(client, keys, seeded):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 37} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/mentions", params=params, headers=keys.h()).json()
        MentionPage.model_validate(page)
        seen += page["items"]
        cursor = page["next_cursor"]
        pages += 1
        if not cursor:
            break
        assert pages < 50
    assert len(seen) == len(seeded) == len({m["id"] for m in seen})
    keys_ = [(Mention.model_validate(m).published_at, m["id"]) for m in seen]
    assert keys_ == sorted(keys_, reverse=True)


def test_filters_match_a_hand_count(client, keys, seeded):
    params = {"brand": "华为", "source": ["jd", "weibo"], "sentiment": "negative", "limit": 200}
    got = set(_ids(client.get("/v1/mentions", params=params, headers=keys.h()).json()))
    want = {m.id for m in seeded if "华为" in m.brands and m.source in ("jd", "weibo")
            and m.sentiment is not None and m.sentiment.label == "negative"}
    assert got == want and want


def test_time_window_and_naive_times_are_shanghai(client, keys, seeded):
    since, until = T0 + timedelta(hours=10), T0 + timedelta(hours=20)
    naive = {"since": since.strftime("%Y-%m-%dT%H:%M:%S"), "until": until.strftime("%Y-%m-%dT%H:%M:%S"), "limit": 200}
    got = set(_ids(client.get("/v1/mentions", params=naive, headers=keys.h()).json()))
    want = {m.id for m in seeded if since <= m.published_at < until}
    assert got == want and want
    # the same window in UTC with "Z", and with an unencoded "+" that arrived as a space
    z = {"since": utc(since).strftime("%Y-%m-%dT%H:%M:%SZ"), "until": utc(until).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "limit": 200}
    assert set(_ids(client.get("/v1/mentions", params=z, headers=keys.h()).json())) == want
    spaced = f"/v1/mentions?limit=200&since={since.strftime('%Y-%m-%dT%H:%M:%S')}+08:00" \
             f"&until={until.strftime('%Y-%m-%dT%H:%M:%S')}+08:00"
    assert set(_ids(client.get(spaced, headers=keys.h()).json())) == want


def test_two_character_full_text_query(client, keys, seeded):
    got = set(_ids(client.get("/v1/mentions", params={"q": "投诉", "limit": 200}, headers=keys.h()).json()))
    want = {m.id for m in seeded if "投诉" in m.text}
    assert got == want and want


def test_get_one_and_404(client, keys, seeded):
    m = seeded[5]
    r = client.get(f"/v1/mentions/{m.id}", headers=keys.h())
    assert r.status_code == 200 and Mention.model_validate(r.json()).text == m.text
    r = client.get("/v1/mentions/weibo:nope", headers=keys.h())
    assert r.status_code == 404 and "does not exist" in r.json()["detail"]


@pytest.mark.parametrize("params, status, words", [
    ({"limit": 0}, 422, "limit"),
    ({"limit": 201}, 422, "limit"),
    ({"kind": "tweet"}, 422, "kind"),
    ({"sentiment": "angry"}, 422, "sentiment"),
    ({"sort": "random"}, 422, "sort"),
    ({"since": "yesterday"}, 400, "ISO 8601"),
    ({"since": "2026-11-12", "until": "2026-11-11"}, 400, "must be after"),
    ({"since": "9999-01-01"}, 400, "year"),
    ({"cursor": "not-a-cursor"}, 400, "cursor"),
    ({"brand": "x" * 65}, 400, "brand"),
])
def test_bad_search_input_is_a_clear_problem(client, keys, seeded, params, status, words):
    r = client.get("/v1/mentions", params=params, headers=keys.h())
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words in r.json()["detail"]


def _raw(i: int, **kw) -> dict:
    return {"id": f"weibo:9{i:04d}", "source": "weibo", "kind": "post", "text": f"华为的客服很好 {i}",
            "published_at": "2026-11-11T09:30:00+08:00"} | kw


def test_batch_ingest_reports_each_item_and_is_idempotent(client, keys, seeded):
    from core.brands import Brand, BrandRepo

    BrandRepo(client.app.state.state_db).upsert(Brand(name="华为", keywords=["华为"]))
    items = [_raw(1), {"id": "weibo:bad", "source": "weibo", "kind": "post", "text": "",
                       "published_at": "2026-11-11T09:30:00+08:00"},
             _raw(2, published_at="2026-11-11T09:30:00"), "not an object", _raw(3, brands=["自定义"])]
    r = client.post("/v1/mentions:batch", json={"mentions": items}, headers=keys.h("write"))
    assert r.status_code == 422  # a non-object item is a malformed request, not a per-item error
    del items[3]
    r = client.post("/v1/mentions:batch", json={"mentions": items}, headers=keys.h("write"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"], body["inserted"], body["updated"]) == (2, 2, 2, 0)
    by_index = {it["index"]: it for it in body["items"]}
    assert "text is empty" in by_index[1]["error"]
    assert "time zone" in by_index[2]["error"]
    refresh_store(client.app)
    stored = client.get("/v1/mentions/weibo:90001", headers=keys.h()).json()
    assert stored["brands"] == ["华为"]  # tagged from the monitored brands
    assert client.get("/v1/mentions/weibo:90003", headers=keys.h()).json()["brands"] == ["自定义"]
    again = client.post("/v1/mentions:batch", json={"mentions": items}, headers=keys.h("write")).json()
    refresh_store(client.app)
    assert (again["inserted"], again["updated"]) == (0, 2)
    total = client.get("/v1/mentions", params={"q": "客服很好", "limit": 200}, headers=keys.h()).json()
    assert len(total["items"]) == 2


def test_batch_limits(client, keys):
    assert client.post("/v1/mentions:batch", json={"mentions": []}, headers=keys.h("write")).status_code == 422
    many = {"mentions": [_raw(i) for i in range(1001)]}
    assert client.post("/v1/mentions:batch", json=many, headers=keys.h("write")).status_code == 422
    r = client.post("/v1/mentions:batch", content=b"{not json", headers=keys.h("write") | {
        "content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


# Emotions ---------------------------------------------------------------------------------------

def test_emotion_filter_is_repeatable_and_combines_with_the_others(client, keys, seeded):
    params = {"brand": "小米", "emotion": ["angry", "sad"], "sentiment": ["negative", "neutral"], "limit": 200}
    page = client.get("/v1/mentions", params=params, headers=keys.h()).json()
    want = {m.id for m in seeded if "小米" in m.brands and m.emotion in ("angry", "sad")
            and m.sentiment is not None and m.sentiment.label in ("negative", "neutral")}
    assert set(_ids(page)) == want and want and page["total"] == len(want)
    assert all(m["emotion"] in ("angry", "sad") for m in page["items"])
    one = client.get("/v1/mentions", params={"emotion": "fear", "limit": 200}, headers=keys.h()).json()
    assert set(_ids(one)) == {m.id for m in seeded if m.emotion == "fear"} != set()
    # Repeating a value changes nothing.
    twice = client.get("/v1/mentions", params={"emotion": ["fear", "fear"], "limit": 200}, headers=keys.h()).json()
    assert _ids(twice) == _ids(one)


@pytest.mark.parametrize(("path", "extra"), [("/v1/mentions", {}), ("/v1/mentions/breakdown", {"by": "emotion"}),
                                             ("/v1/touchpoints", {}), ("/v1/topics", {})])
def test_an_unknown_emotion_is_a_422_naming_the_six(client, keys, seeded, path, extra):
    r = client.get(path, params={"emotion": ["angry", "furious"], **extra}, headers=keys.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = r.json()["detail"]
    assert detail.startswith("query.emotion.1:") and "'happy', 'angry', 'sad', 'fear', 'surprise' or 'neutral'" in detail


def _breakdown(client, keys, **params):
    window = {"since": T0.isoformat(), "until": (T0 + timedelta(days=3)).isoformat()}
    r = client.get("/v1/mentions/breakdown", params=window | params, headers=keys.h())
    assert r.status_code == 200, r.text
    return r.json()


def _ranked(counter: dict[str, int], limit: int = 20) -> list[dict]:
    return [{"key": k, "count": n} for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def test_breakdown_by_emotion_matches_a_hand_count(client, keys, seeded):
    from collections import Counter

    body = _breakdown(client, keys, by="emotion")
    assert body["by"] == "emotion" and body["total"] == len(seeded)
    assert body["rows"] == _ranked(Counter(m.emotion or "unscored" for m in seeded))
    # With filters: what the negative mentions of 华为 on weibo feel, top 3.
    sub = [m for m in seeded if "华为" in m.brands and m.source == "weibo"
           and m.sentiment is not None and m.sentiment.label == "negative"]
    body = _breakdown(client, keys, by="emotion", brand="华为", source="weibo", sentiment="negative", limit=3)
    assert body["rows"] == _ranked(Counter(m.emotion or "unscored" for m in sub), 3) and body["total"] == len(sub)
    # And the other way round: the sentiments and sources of the angry mentions.
    angry = [m for m in seeded if m.emotion == "angry"]
    body = _breakdown(client, keys, by="sentiment", emotion="angry")
    assert body["rows"] == _ranked(Counter(m.sentiment.label.value if m.sentiment else "unscored" for m in angry))
    assert _breakdown(client, keys, by="source", emotion="angry")["rows"] == _ranked(Counter(m.source for m in angry))


def test_breakdown_window_and_bad_input(client, keys, seeded):
    half = T0 + timedelta(hours=36)
    body = _breakdown(client, keys, by="emotion", until=half.isoformat())
    assert body["total"] == sum(m.published_at < half for m in seeded)
    empty = client.get("/v1/mentions/breakdown", params={"by": "emotion", "since": "2025-01-01", "until": "2025-02-01"},
                       headers=keys.h()).json()
    assert empty["rows"] == [] and empty["total"] == 0
    for params, status, words in (({"by": "colour"}, 422, "by"), ({}, 422, "by"),
                                  ({"by": "emotion", "since": "2024-01-01", "until": "2026-01-01"}, 400, "")):
        r = client.get("/v1/mentions/breakdown", params=params, headers=keys.h())
        assert r.status_code == status and words in r.json()["detail"], r.text
    assert client.get("/v1/mentions/breakdown", params={"by": "emotion"}).status_code == 401


def test_openapi_documents_the_emotion_parameter_and_breakdown(client):
    spec = client.get("/openapi.json").json()

    def param(path, name):
        (p,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
        return p

    for path in ("/v1/mentions", "/v1/mentions/breakdown", "/v1/touchpoints", "/v1/topics"):
        p = param(path, "emotion")
        assert p["schema"]["type"] == "array" and "angry" in p["description"], path
        assert p["schema"]["items"]["enum"] == ["happy", "angry", "sad", "fear", "surprise", "neutral"], path
    assert "emotion" in param("/v1/mentions/breakdown", "by")["schema"]["enum"]
    assert "BreakdownResponse" in spec["components"]["schemas"]
