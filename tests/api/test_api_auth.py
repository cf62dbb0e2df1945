"""API keys: hashed storage, scopes, 401/403, revocation, rate limits with Retry-After."""

from __future__ import annotations

import sqlite3

from api.auth import KeyRepo, hash_token
from api.ratelimit import RateLimiter


def test_no_key_is_401_problem(client):
    r = client.get("/v1/mentions")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "missing API key" in r.json()["detail"]


def test_unknown_key_is_401(client, keys):
    r = client.get("/v1/mentions", headers={"X-API-Key": keys.read + "x"})
    assert r.status_code == 401
    assert r.json()["detail"] == "invalid or revoked API key"


def test_bearer_and_header_both_work(client, keys):
    assert client.get("/v1/brands", headers={"Authorization": f"Bearer {keys.read}"}).status_code == 200
    assert client.get("/v1/brands", headers=keys.h("read")).status_code == 200


def test_scopes_are_ordered(client, keys):
    batch = {"mentions": [{"id": "weibo:1", "source": "weibo", "kind": "post", "text": "小米不错",
                           "published_at": "2026-11-10T10:00:00+08:00"}]}
    r = client.post("/v1/mentions:batch", json=batch, headers=keys.h("read"))
    assert r.status_code == 403 and "lacks the 'write' scope" in r.json()["detail"]
    assert client.post("/v1/mentions:batch", json=batch, headers=keys.h("write")).status_code == 200
    assert client.post("/v1/mentions:batch", json=batch, headers=keys.h("admin")).status_code == 200
    brand = {"name": "小米"}
    assert client.post("/v1/brands", json=brand, headers=keys.h("write")).status_code == 403
    assert client.post("/v1/brands", json=brand, headers=keys.h("admin")).status_code == 201
    assert client.get("/v1/webhooks", headers=keys.h("read")).status_code == 403
    assert client.get("/v1/mentions", headers=keys.h("admin")).status_code == 200


def test_tokens_are_stored_only_as_hashes(client, keys, api_settings):
    con = sqlite3.connect(api_settings.state_db)
    rows = con.execute("SELECT token_hash FROM api_keys").fetchall()
    dump = "\n".join(con.iterdump())
    con.close()
    assert hash_token(keys.read) in {r[0] for r in rows}
    for token in (keys.read, keys.write, keys.admin):
        assert token not in dump
        assert token.split("_", 2)[2] not in dump  # not even the secret part


def test_revoked_key_is_refused_at_once_through_the_api(client, keys):
    created = client.post("/v1/keys", json={"name": "temp", "scopes": ["read"]}, headers=keys.h("admin"))
    assert created.status_code == 201
    body = created.json()
    token, key_id = body["token"], body["id"]
    assert token.startswith(f"opm_{key_id}_")
    assert client.get("/v1/brands", headers={"X-API-Key": token}).status_code == 200
    listed = client.get("/v1/keys", headers=keys.h("admin")).json()["items"]
    assert key_id in {k["id"] for k in listed} and all("token" not in k for k in listed)
    r = client.delete(f"/v1/keys/{key_id}", headers=keys.h("admin"))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.get("/v1/brands", headers={"X-API-Key": token}).status_code == 401
    assert client.delete("/v1/keys/knope", headers=keys.h("admin")).status_code == 404


def test_bad_scope_and_self_revoke_are_client_errors(client, keys):
    r = client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=keys.h("admin"))
    assert r.status_code == 422
    me = client.get("/v1/keys", headers=keys.h("admin")).json()["items"]
    admin_id = next(k["id"] for k in me if k["name"] == "admin")
    assert client.delete(f"/v1/keys/{admin_id}", headers=keys.h("admin")).status_code == 400


def test_rate_limit_answers_429_with_retry_after(client):
    repo: KeyRepo = client.app.state.keys
    _, token = repo.create("slow", ["read"], rate_per_minute=3)
    h = {"X-API-Key": token}
    codes = [client.get("/v1/brands", headers=h).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/v1/brands", headers=h)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")
    # another key is not affected by this key's bucket
    _, other = repo.create("other", ["read"], rate_per_minute=3)
    assert client.get("/v1/brands", headers={"X-API-Key": other}).status_code == 200


def test_token_bucket_refills_over_time():
    now = [0.0]
    lim = RateLimiter(clock=lambda: now[0])
    assert all(lim.hit("k", 60).allowed for _ in range(60))
    d = lim.hit("k", 60)
    assert not d.allowed and d.retry_after_s == 1
    now[0] += 1.0  # 60/min = 1 token per second
    assert lim.hit("k", 60).allowed
    assert not lim.hit("k", 60).allowed
    now[0] += 120  # never more than one minute's burst
    assert sum(lim.hit("k", 60).allowed for _ in range(100)) == 60


def test_bootstrap_admin_key_from_settings(tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from core.settings import Settings

    s = Settings(data_dir=tmp_path / "d", nlp_enabled=False, admin_key="bootstrap-secret-0123456789")
    with TestClient(create_app(s, webhook_worker=False)) as c:
        assert c.get("/v1/keys", headers={"X-API-Key": "bootstrap-secret-0123456789"}).status_code == 200
        assert c.get("/v1/keys", headers={"X-API-Key": "bootstrap-secret-012345678"}).status_code == 401
