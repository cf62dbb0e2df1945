"""An opened alert reaches a real local HTTP receiver through the outbox: once, signed, and even
when the receiver was down when the alert opened."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from alerts_testkit import STEP, T0, add_brand, mention_stream

from alerts.monitor import Monitor
from alerts.outbox import Outbox
from alerts.signing import SIGNATURE_HEADER, verify
from alerts.webhook_worker import deliver_due

N = 3 * 288
SURGE = N - 48
SECRET = "s" * 32


class Receiver:
    """A CEM endpoint on 127.0.0.1 that records every POST."""

    def __init__(self, port: int = 0):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def world(store, state_db, store_settings):
    rate = lambda i: 25.0 if SURGE <= i < SURGE + 6 else 1.0  # noqa: E731
    store.upsert(mention_stream("小米", T0, N, rate, lambda i: 0.8 if SURGE <= i < SURGE + 6 else 0.15))
    add_brand(state_db)
    return store, state_db, store_settings


def test_opened_alert_is_delivered_once(world):
    store, db, settings = world
    rx = Receiver()
    try:
        outbox = Outbox(db, settings)
        outbox.add_webhook(f"http://127.0.0.1:{rx.port}/hook", ["alert.*"], SECRET)
        mon = Monitor(store, db, outbox=outbox, history=timedelta(days=3), delay=timedelta(0),
                      backfill=timedelta(hours=6), kinds=("volume_surge",))
        r = mon.run_once(now=T0 + (SURGE + 2) * STEP)
        assert len(r.opened) == 1 and r.events == 1
        assert deliver_due(outbox).delivered == 1
        mon.run_once(now=T0 + (SURGE + 2) * STEP)  # a repeated pass publishes nothing new
        assert deliver_due(outbox).claimed == 0
        assert len(rx.received) == 1
        headers, body = rx.received[0]
        verify(SECRET, body, headers[SIGNATURE_HEADER])
        event = json.loads(body)
        assert event["type"] == "alert.opened"
        assert event["data"]["id"] == r.opened[0] and event["data"]["kind"] == "volume_surge"
        assert event["idempotency_key"] == f"{r.opened[0]}:alert.opened:1"
        assert event["data"]["summary_en"]
    finally:
        rx.close()


def test_receiver_down_gets_the_alert_when_it_returns(world):
    store, db, settings = world
    probe = Receiver()
    port = probe.port
    probe.close()  # nothing listens on `port` now
    outbox = Outbox(db, settings)
    outbox.add_webhook(f"http://127.0.0.1:{port}/hook", ["alert.*"], SECRET)
    mon = Monitor(store, db, outbox=outbox, history=timedelta(days=3), delay=timedelta(0),
                  backfill=timedelta(hours=6), kinds=("volume_surge",))
    r = mon.run_once(now=T0 + (SURGE + 2) * STEP)
    t = 1_900_000_000.0
    first = deliver_due(outbox, now=t)
    assert first.claimed == 1 and first.failed == 1
    rx = Receiver(port)
    try:
        got = 0
        for minute in range(1, 15):  # ten minutes later and on, as the backoff schedules it
            got += deliver_due(outbox, now=t + 60 * minute).delivered
        assert got == 1
        assert [json.loads(b)["data"]["id"] for _, b in rx.received] == r.opened
    finally:
        rx.close()
