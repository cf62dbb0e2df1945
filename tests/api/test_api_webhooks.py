"""Webhooks: registration API, signed at-least-once delivery from the persistent outbox to a real local
HTTP receiver, backoff with a simulated clock, dead letters, the delivery log."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts import signing
from alerts.outbox import Outbox
from alerts.webhook_worker import deliver_due
from core.settings import Settings
from store.sqlite_db import StateDB


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it gets and answers `status`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"headers": dict(self.headers), "body": body, "answered": outer.status})
                self.send_response(outer.status)
                if outer.status == 429:
                    self.send_header("Retry-After", "90")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        return [r for r in self.requests if r["answered"] == 200]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    s = Settings(data_dir=tmp_path / "ob", webhook_max_attempts=12, webhook_backoff_base_s=2,
                 webhook_backoff_max_s=300, webhook_timeout_s=2)
    import random

    return Outbox(StateDB(s.state_db), s, rng=random.Random(1))


def test_signed_delivery_verifies_and_carries_ids(outbox, receiver):
    hook = outbox.add_webhook(receiver.url, ["alert.*"])
    assert outbox.enqueue("alert.opened", {"alert_id": "al_1", "brand": "小米"}, "alert:al_1:opened", now=1000.0) == 1
    assert outbox.enqueue("alert.opened", {"alert_id": "al_1", "brand": "小米"}, "alert:al_1:opened", now=1001.0) == 0
    assert outbox.enqueue("webhook.test", {}, "not-subscribed", now=1000.0) == 0
    report = deliver_due(outbox, now=1000.0)
    assert (report.claimed, report.delivered) == (1, 1)
    (req,) = receiver.requests
    h = {k.lower(): v for k, v in req["headers"].items()}
    signing.verify(hook.secret, req["body"], h["x-opmon-signature"], now=1000.0)
    with pytest.raises(Exception, match="does not match"):
        signing.verify(hook.secret, req["body"] + b" ", h["x-opmon-signature"], now=1000.0)
    with pytest.raises(Exception, match="does not match"):
        signing.verify("another-secret-xxxxxxxx", req["body"], h["x-opmon-signature"], now=1000.0)
    body = json.loads(req["body"])
    assert body["type"] == "alert.opened" and body["data"]["brand"] == "小米"
    assert h["idempotency-key"] == "alert:al_1:opened" == body["idempotency_key"]
    assert h["x-opmon-event-id"] == body["id"]
    assert deliver_due(outbox, now=2000.0).claimed == 0  # delivered rows are not sent again


def test_receiver_down_for_ten_minutes_still_gets_the_event_once(outbox, receiver):
    outbox.add_webhook(receiver.url)
    receiver.status = 503
    t = 0.0
    outbox.enqueue("alert.opened", {"n": 1}, "k1", now=t)
    outbox.enqueue("alert.updated", {"n": 2}, "k2", now=t)
    attempt_times: list[float] = []
    while t <= 600:
        n_before = len(receiver.requests)
        deliver_due(outbox, now=t)
        if len(receiver.requests) > n_before:
            attempt_times.append(t)
        t += 5
    assert len(attempt_times) >= 4  # it kept trying while the receiver was down ...
    gaps = [b - a for a, b in zip(attempt_times, attempt_times[1:], strict=False)]
    assert gaps[-1] > 4 * gaps[0] and max(gaps) <= 300 + 5  # ... backing off, never beyond the cap
    assert not receiver.delivered()
    receiver.status = 200
    while t <= 600 + 310:
        deliver_due(outbox, now=t)
        t += 5
    got = receiver.delivered()
    assert sorted(json.loads(r["body"])["data"]["n"] for r in got) == [1, 2]  # each exactly once
    rows = outbox.deliveries()
    assert {r.status for r in rows} == {"delivered"}
    log = outbox.attempts(rows[0].id)
    assert log[-1]["ok"] and all(not a["ok"] and a["status_code"] == 503 for a in log[:-1])


def test_connection_refused_then_dead_after_max_attempts_then_redeliver(tmp_path, receiver):
    s = Settings(data_dir=tmp_path / "d", webhook_max_attempts=3, webhook_backoff_base_s=1,
                 webhook_backoff_max_s=4, webhook_timeout_s=2)
    ob = Outbox(StateDB(s.state_db), s)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here: connection refused
    hook = ob.add_webhook(f"http://127.0.0.1:{port}/x")
    ob.enqueue("alert.opened", {}, "k", now=0)
    for t in range(0, 60):
        deliver_due(ob, now=float(t))
    (row,) = ob.deliveries(hook.id)
    assert row.status == "dead" and row.attempts == 3
    assert "ConnectError" in row.last_error
    ob.redeliver(row.id, now=100.0)
    assert ob.deliveries(hook.id)[0].status == "pending"


def test_retry_after_from_receiver_is_honoured(outbox, receiver):
    outbox.add_webhook(receiver.url)
    receiver.status = 429
    outbox.enqueue("alert.opened", {}, "k", now=0)
    deliver_due(outbox, now=0)
    (row,) = outbox.deliveries()
    assert row.next_attempt_at == pytest.approx(90, abs=0.01)


def test_backoff_grows_exponentially_with_jitter_and_cap(outbox):
    for attempt in range(1, 12):
        d = outbox.backoff(attempt)
        full = min(300, 2 * 2 ** (attempt - 1))
        assert full / 2 <= d <= full


def test_webhook_api_lifecycle_and_delivery_log(client, keys, receiver):
    h = keys.h("admin")
    r = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.opened"], "description": "CEM"},
                    headers=h)
    assert r.status_code == 201
    created = r.json()
    assert created["secret"].startswith("whsec_")
    listed = client.get("/v1/webhooks", headers=h).json()["items"]
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    assert "secret" not in client.get(f"/v1/webhooks/{created['id']}", headers=h).json()
    r = client.post(f"/v1/webhooks/{created['id']}/test", headers=h)
    assert r.status_code == 202 and r.json()["queued"] == 1
    ob = client.app.state.outbox
    ob.enqueue("alert.opened", {"alert_id": "al_9"}, "alert:al_9:opened")
    deliver_due(ob)
    log = client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=h).json()["items"]
    assert {d["event_type"] for d in log} == {"alert.opened", "webhook.test"}
    assert all(d["status"] == "delivered" and d["attempt_log"][0]["ok"] for d in log)
    assert len(receiver.delivered()) == 2
    for req in receiver.delivered():
        hdr = {k.lower(): v for k, v in req["headers"].items()}
        assert signing.is_valid(created["secret"], req["body"], hdr["x-opmon-signature"])
    assert client.get(f"/v1/webhooks/{created['id']}/deliveries", params={"status": "dead"},
                      headers=h).json()["items"] == []
    assert client.delete(f"/v1/webhooks/{created['id']}", headers=h).status_code == 204
    assert client.get(f"/v1/webhooks/{created['id']}", headers=h).status_code == 404
    assert client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=h).status_code == 404


@pytest.mark.parametrize("body, status", [
    ({"url": "ftp://example.com/x"}, 400),
    ({"url": "http://user:pw@example.com/x"}, 400),
    ({"url": "http://example.com/x", "events": ["ALERT!"]}, 400),
    ({"url": "http://example.com/x", "secret": "short"}, 422),
    ({"url": "http://example.com/x", "unknown": 1}, 422),
])
def test_bad_webhook_input(client, keys, body, status):
    r = client.post("/v1/webhooks", json=body, headers=keys.h("admin"))
    assert r.status_code == status, r.text
    assert "short" not in r.text or status == 422 and "secret" in r.text  # the secret is not echoed back
    assert '"input"' not in r.text


def test_signature_scheme_rejects_stale_and_malformed():
    body = b'{"x":1}'
    header = signing.sign("s" * 20, body, timestamp=1000)
    signing.verify("s" * 20, body, header, now=1200)
    with pytest.raises(Exception, match="tolerance"):
        signing.verify("s" * 20, body, header, now=1000 + 301)
    for bad in ("", "t=abc,v1=00", "v1=00", "t=1000"):
        assert not signing.is_valid("s" * 20, body, bad, now=1000)
    rotated = header + ",v1=" + signing.compute("old-secret-zzzzzzzz", 1000, body)
    assert signing.is_valid("old-secret-zzzzzzzz", body, rotated, now=1000)


def test_lifespan_worker_delivers_in_the_background(tmp_path, receiver):
    import time

    from fastapi.testclient import TestClient

    from api.main import create_app

    s = Settings(data_dir=tmp_path / "bg", nlp_enabled=False, webhook_timeout_s=2)
    with TestClient(create_app(s, webhook_worker=True)) as c:
        ob = c.app.state.outbox
        ob.add_webhook(receiver.url)
        ob.enqueue("alert.opened", {"alert_id": "al_1"}, "alert:al_1:opened:1")
        deadline = time.monotonic() + 20
        while not receiver.delivered() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(receiver.delivered()) == 1
    assert ob.deliveries()[0].status == "delivered"


def test_a_worker_that_dies_mid_delivery_loses_its_lease(outbox, receiver):
    from alerts.outbox import LEASE_S

    outbox.add_webhook(receiver.url)
    outbox.enqueue("alert.opened", {"n": 1}, "k", now=0)
    claimed = outbox.claim_due(now=0)  # a worker claims the row, then crashes before POSTing
    assert len(claimed) == 1
    assert outbox.claim_due(now=1) == []  # a second worker does not take a leased row
    assert deliver_due(outbox, now=LEASE_S - 1).claimed == 0
    assert deliver_due(outbox, now=LEASE_S + 1).delivered == 1  # the lease expired: delivered after all
    assert len(receiver.delivered()) == 1
    assert outbox.deliveries()[0].status == "delivered"
