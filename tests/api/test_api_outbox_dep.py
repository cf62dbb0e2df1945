"""One outbox dependency (`api.deps.get_outbox`) serves both /v1/alerts and /v1/webhooks: an override
reaches both routers, and without the lifespan's outbox both build it with the app's secret key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from alerts.monitor import notify_crawl_blocked
from alerts.outbox import Outbox
from api.deps import get_outbox
from api.main import create_app
from core.secret_box import new_key
from core.settings import Settings
from store.sqlite_db import StateDB

SECRET = "whsec_" + "k" * 40


def _open_alert(app) -> str:
    # The app's own outbox has no webhooks, so opening the alert queues nothing anywhere.
    return notify_crawl_blocked(app.state.state_db, "weibo", "小米", "captcha", outbox=app.state.outbox).id


def test_an_override_of_the_outbox_reaches_alerts_and_webhooks(client, keys, tmp_path):
    s = Settings(data_dir=tmp_path / "other")
    other = Outbox(StateDB(s.state_db), s)
    hook = other.add_webhook("http://127.0.0.1:9/hook", events=["alert.*"])
    client.app.dependency_overrides[get_outbox] = lambda: other
    alert_id = _open_alert(client.app)

    listed = client.get("/v1/webhooks", headers=keys.h("admin"))
    assert listed.status_code == 200
    assert [h["id"] for h in listed.json()["items"]] == [hook.id]
    assert client.post(f"/v1/alerts/{alert_id}/ack", headers=keys.h("write")).status_code == 200
    assert client.post(f"/v1/alerts/{alert_id}/resolve", headers=keys.h("write")).status_code == 200

    assert sorted(r.event_type for r in other.deliveries(hook.id)) == ["alert.acknowledged", "alert.resolved"]
    assert client.app.state.outbox.webhooks() == [] and client.app.state.outbox.deliveries() == []


@pytest.fixture
def keyed_client(tmp_path):
    """An app whose webhook secrets are sealed with OPMON_SECRET_KEY, while the process-global settings
    (tests/conftest.py) would use a key file: the two keys differ."""
    settings = Settings(data_dir=tmp_path / "data", nlp_enabled=False, rate_limit_per_minute=100_000,
                        brands_file=tmp_path / "none.yaml", secret_key=new_key())
    with TestClient(create_app(settings, webhook_worker=False)) as c:
        yield c


def test_without_the_lifespan_outbox_alerts_seal_with_the_apps_key(keyed_client):
    app = keyed_client.app
    repo = app.state.keys
    write, admin = repo.create("writer", ["write"])[1], repo.create("admin", ["admin"])[1]
    alert_id = _open_alert(app)
    with app.state.state_db.write() as c:  # a row as versions before sealing wrote it
        c.execute("INSERT INTO webhooks(id, url, secret, events, description, created_at) "
                  "VALUES ('wh_old', 'http://127.0.0.1:9/h', ?, '[\"*\"]', NULL, '2026-01-01T00:00:00Z')", (SECRET,))
    app.state.outbox = None  # each request builds its own

    # The first outbox built (here by the alerts route) seals the legacy secret; it must use the app's key,
    # or the webhooks route (and the delivery worker) can no longer open it.
    assert keyed_client.post(f"/v1/alerts/{alert_id}/ack", headers={"X-API-Key": write}).status_code == 200
    r = keyed_client.get("/v1/webhooks/wh_old", headers={"X-API-Key": admin})
    assert r.status_code == 200, r.text
    assert "secret" not in r.json()

    outbox = Outbox(app.state.state_db, app.state.settings)
    assert outbox.webhook("wh_old").secret == SECRET
    assert [d.event_type for d in outbox.deliveries("wh_old")] == ["alert.acknowledged"]
