"""/v1/alerts through the real app (FastAPI TestClient): list/filter/cursor, get, ack, resolve, scopes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_testkit import STEP, T0, add_brand, mention_stream
from fastapi.testclient import TestClient

from alerts.monitor import Monitor
from api.main import create_app
from core.settings import Settings

N = 3 * 288
SURGE = N - 48


@pytest.fixture
def client(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", nlp_enabled=False, rate_limit_per_minute=100_000,
                        brands_file=tmp_path / "none.yaml")
    app = create_app(settings, webhook_worker=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(client) -> dict[str, str]:
    repo = client.app.state.keys
    return {s: repo.create(s, [s])[1] for s in ("read", "write", "admin")}


@pytest.fixture
def alerts(client) -> list[str]:
    store, db = client.app.state.store, client.app.state.state_db
    rate = lambda i: 25.0 if SURGE <= i < SURGE + 6 else 1.0  # noqa: E731
    store.upsert(mention_stream("小米", T0, N, rate, lambda i: 0.8 if SURGE <= i < SURGE + 6 else 0.15))
    add_brand(db)
    r = Monitor(store, db, settings=client.app.state.settings, history=timedelta(days=3), delay=timedelta(0),
                backfill=timedelta(hours=6)).run_once(now=T0 + (SURGE + 3) * STEP)
    assert r.opened
    return r.opened


def h(keys, scope="read"):
    return {"X-API-Key": keys[scope]}


def test_list_get_filter_and_page(client, keys, alerts):
    r = client.get("/v1/alerts", headers=h(keys))
    assert r.status_code == 200
    body = r.json()
    assert {a["id"] for a in body["items"]} == set(alerts)
    a0 = body["items"][0]
    assert a0["status"] == "open" and a0["brand"] == "小米" and a0["summary_zh"] and a0["explanation"]
    one = client.get(f"/v1/alerts/{alerts[0]}", headers=h(keys)).json()
    assert one["id"] == alerts[0] and one["peak"]["p_value"] < 1e-6
    vol = client.get("/v1/alerts", params={"kind": "volume_surge", "status": "open", "brand": "小米"},
                     headers=h(keys)).json()["items"]
    assert [a["kind"] for a in vol] == ["volume_surge"]
    assert client.get("/v1/alerts", params={"brand": "华为"}, headers=h(keys)).json()["items"] == []
    ids, cursor = [], None
    while True:
        page = client.get("/v1/alerts", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                          headers=h(keys)).json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == [a["id"] for a in body["items"]]


def test_ack_and_resolve_need_write(client, keys, alerts):
    aid = alerts[0]
    assert client.post(f"/v1/alerts/{aid}/ack", headers=h(keys, "read")).status_code == 403
    assert client.post(f"/v1/alerts/{aid}/ack").status_code == 401
    r = client.post(f"/v1/alerts/{aid}/ack", headers=h(keys, "write"))
    assert r.status_code == 200 and r.json()["acked_by"].startswith("key:")
    r = client.post(f"/v1/alerts/{aid}/resolve", headers=h(keys, "write"))
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    again = client.post(f"/v1/alerts/{aid}/resolve", headers=h(keys, "write"))
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/v1/alerts", params={"status": "resolved"}, headers=h(keys)).json()["items"]
    assert [a["id"] for a in listed] == [aid]


def test_bad_input_is_a_clear_error(client, keys, alerts):
    assert client.get("/v1/alerts/al_ffff", headers=h(keys)).status_code == 404
    assert client.get("/v1/alerts/../../etc", headers=h(keys)).status_code in (404, 422)
    assert client.get("/v1/alerts/nope", headers=h(keys)).status_code == 422
    assert client.get("/v1/alerts", params={"status": "maybe"}, headers=h(keys)).status_code == 422
    assert client.get("/v1/alerts", params={"limit": 0}, headers=h(keys)).status_code == 422
    assert client.get("/v1/alerts", params={"cursor": "!!!"}, headers=h(keys)).status_code == 400
    assert client.get("/v1/alerts").status_code == 401


def test_openapi_documents_the_routes(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/alerts", "/v1/alerts/{alert_id}", "/v1/alerts/{alert_id}/ack", "/v1/alerts/{alert_id}/resolve"):
        assert path in spec["paths"]
    ok = spec["paths"]["/v1/alerts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/AlertPage")
