"""Health, readiness, metrics, problem+json for unknown routes, the OpenAPI document, the CLI, and
ingest through a real (tiny) NLP model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings


def test_healthz_readyz_metrics(client, keys, seeded):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["store"]["ok"]
    client.get("/v1/brands", headers=keys.h())
    m = client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'opmon_api_requests_total{method="GET",route="/v1/brands",status="200"}' in m.text
    assert keys.read not in m.text


def test_readyz_is_503_when_the_store_is_gone(client):
    store = client.app.state.store
    client.app.state.store = None
    try:
        r = client.get("/readyz")
        assert r.status_code == 503 and not r.json()["checks"]["store"]["ok"]
    finally:
        client.app.state.store = store


def test_readyz_reports_a_missing_model(tmp_path):
    s = Settings(data_dir=tmp_path / "d", nlp_enabled=True, model=str(tmp_path / "no-model-here"))
    with TestClient(create_app(s, webhook_worker=False)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert not r.json()["checks"]["model"]["ok"] and r.json()["checks"]["model"]["detail"]
        assert r.json()["checks"]["store"]["ok"]


def test_unknown_route_and_method_are_problems(client, keys):
    r = client.get("/v1/nothing", headers=keys.h())
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.patch("/v1/brands", headers=keys.h())
    assert r.status_code == 405 and r.json()["status"] == 405


def test_openapi_documents_every_v1_route_with_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/mentions", "/v1/mentions/{mention_id}", "/v1/mentions:batch", "/v1/trends", "/v1/topics",
              "/v1/touchpoints", "/v1/brands", "/v1/export", "/v1/webhooks", "/v1/keys", "/healthz", "/readyz",
              "/v1/alerts", "/v1/alerts/{alert_id}", "/v1/alerts/{alert_id}/ack", "/v1/alerts/{alert_id}/resolve"):
        assert p in paths, p
    assert "ProblemDetail" in spec["components"]["schemas"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    text = str(spec)
    assert "example" in text and "小米" in text


def test_dashboard_and_vendored_echarts_are_served(client):
    r = client.get("/dashboard")
    assert r.status_code == 200 and "echarts.min.js" in r.text and "opm_" not in r.text.replace('"opm_..."', "")
    js = client.get("/static/vendor/echarts/echarts.min.js")
    assert js.status_code == 200 and len(js.content) > 500_000
    assert client.get("/static/vendor/echarts/LICENSE").status_code == 200


def test_keys_cli_create_list_revoke(tmp_path, monkeypatch):
    from api.cli import keys as keys_cli
    from core.settings import get_settings

    monkeypatch.setenv("OPMON_DATA_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()
    runner = CliRunner()
    r = runner.invoke(keys_cli, ["create", "--name", "cem", "--scopes", "read,write", "--rate-limit", "50"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("opm_k")
    key_id = token.split("_")[1]
    listed = runner.invoke(keys_cli, ["list"])
    assert key_id in listed.stdout and "read,write" in listed.stdout and token not in listed.stdout
    assert runner.invoke(keys_cli, ["create", "--name", "x", "--scopes", "god"]).exit_code != 0
    assert runner.invoke(keys_cli, ["revoke", key_id]).exit_code == 0
    assert "revoked" in runner.invoke(keys_cli, ["list"]).stdout
    assert runner.invoke(keys_cli, ["revoke", "kmissing"]).exit_code != 0
    from api.auth import KeyRepo
    from store.sqlite_db import StateDB

    assert KeyRepo(StateDB(get_settings().state_db)).authenticate(token) is None


@pytest.mark.slow
def test_batch_ingest_scores_unscored_mentions(tmp_path, tiny_model):
    s = Settings(data_dir=tmp_path / "d", nlp_enabled=True, model=tiny_model, device="cpu")
    with TestClient(create_app(s, webhook_worker=False)) as c:
        assert c.get("/readyz").json()["checks"]["model"]["ok"]
        _, token = c.app.state.keys.create("w", ["write"])
        pre = {"label": "positive", "probs": {"positive": 1.0, "neutral": 0.0, "negative": 0.0}, "score": 1.0,
               "model": "upstream"}
        items = [
            {"id": "weibo:1", "source": "weibo", "kind": "post", "text": "小米的客服太差了，物流也慢",
             "published_at": "2026-11-10T10:00:00+08:00"},
            {"id": "weibo:2", "source": "weibo", "kind": "post", "text": "华为手机很好用",
             "published_at": "2026-11-10T10:00:00+08:00", "sentiment": pre},
        ]
        body = c.post("/v1/mentions:batch", json={"mentions": items}, headers={"X-API-Key": token}).json()
        assert body["accepted"] == 2 and body["analyzed"] == 1
        m1 = c.app.state.store.get("weibo:1")
        m2 = c.app.state.store.get("weibo:2")
        assert m1.sentiment is not None and m1.sentiment.model != "upstream"
        assert m2.sentiment.model == "upstream"  # a sentiment that came with the mention is kept


def test_alert_routes_are_mounted_with_scopes(client, keys):
    assert client.get("/v1/alerts").status_code == 401
    r = client.get("/v1/alerts", params={"status": "open"}, headers=keys.h())
    assert r.status_code == 200 and r.json()["items"] == []
    assert client.post("/v1/alerts/al_00ff/ack", headers=keys.h("read")).status_code == 403
    assert client.post("/v1/alerts/al_00ff/ack", headers=keys.h("write")).status_code == 404
