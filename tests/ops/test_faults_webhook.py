"""The webhook receiver is down for ten minutes (simulated clock), then back: every alert is delivered,
none twice beyond the idempotency key; a worker dying mid-delivery causes one duplicate POST, which the
receiver drops by `Idempotency-Key`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from alerts.monitor import Monitor
from alerts.outbox import LEASE_S, Outbox
from alerts.webhook_worker import _attempt, deliver_due
from core.settings import Settings
from ops.receiver import WebhookReceiver
from ops.replay.content import build_world
from ops.replay.history import seed_history, world_mentions
from store.factory import open_store
from store.sqlite_db import StateDB


def _surge_store(tmp_path, now: datetime):
    from core.brands import Brand, BrandRepo
    from ops.replay.content import DEMO_BRANDS

    settings = Settings(data_dir=tmp_path / "data")
    state = StateDB(settings.state_db)
    for b in DEMO_BRANDS:
        BrandRepo(state).upsert(Brand.model_validate(b))
    store = open_store(settings)
    seed_history(store, now)
    store.upsert(world_mentions(build_world(now)))
    return settings, state, store


def test_receiver_down_ten_minutes_then_back(tmp_path):
    t0 = time.time()
    settings, state, store = _surge_store(tmp_path, datetime.fromtimestamp(t0, UTC))
    outbox = Outbox(state, settings)
    rx = WebhookReceiver(tmp_path / "received.jsonl").start()
    try:
        hook = outbox.add_webhook(rx.url, events=["alert.*"])
        rx.secret = hook.secret
        rx.down = True
        monitor = Monitor(store, state, outbox=outbox)
        opened = monitor.run_once(datetime.fromtimestamp(t0, UTC)).opened
        assert opened, "the replay surge must open at least one alert"
        now, first_ok = t0, None
        with httpx.Client(timeout=5) as client:
            while now < t0 + 600:  # down: every attempt fails, nothing is lost
                deliver_due(outbox, now, client=client)
                if now - t0 >= 300 and now - t0 < 310:
                    monitor.run_once(datetime.fromtimestamp(now, UTC))  # a later pass while it is down
                now += 10
            failed_attempts = rx.attempts
            assert failed_attempts >= len(opened) * 5 and not rx.events
            assert not [r for r in outbox.deliveries() if r.status == "dead"]
            rx.down = False
            while now < t0 + 3 * 3600 and outbox.pending():
                report = deliver_due(outbox, now, client=client)
                if report.delivered and first_ok is None:
                    first_ok = now
                now += 10
        rows = outbox.deliveries()
        assert rows and all(r.status == "delivered" for r in rows), [(r.status, r.attempts) for r in rows]
        assert first_ok is not None and first_ok >= t0 + 600
        keys = {r.idempotency_key for r in rows}
        assert sorted(e["idempotency_key"] for e in rx.events) == sorted(keys)  # each once
        assert rx.duplicates == 0 and rx.rejected == 0
        assert {e["event"]["data"]["id"] for e in rx.events if e["event_type"] == "alert.opened"} == set(opened)
    finally:
        rx.stop()
        store.close()


def test_worker_dies_mid_delivery_receiver_dedupes(tmp_path):
    t0 = time.time()
    settings, state, store = _surge_store(tmp_path, datetime.fromtimestamp(t0, UTC))
    outbox = Outbox(state, settings)
    rx = WebhookReceiver(tmp_path / "received.jsonl").start()
    try:
        hook = outbox.add_webhook(rx.url, events=["alert.*"])
        rx.secret = hook.secret
        Monitor(store, state, outbox=outbox).run_once(datetime.fromtimestamp(t0, UTC))
        t0 = time.time()  # rows were queued at the wall-clock time of the pass
        with httpx.Client(timeout=5) as client:
            claimed = outbox.claim_due(t0)
            assert claimed
            # the POST succeeds, then the worker dies before recording it: the row stays leased
            for d in claimed:
                ok, *_ = _attempt(client, d, t0)
                assert ok
            assert deliver_due(outbox, t0 + 10, client=client).claimed == 0  # leased, not re-sent early
            deliver_due(outbox, t0 + LEASE_S + 1, client=client)  # lease expired: at-least-once resend
        assert all(r.status == "delivered" for r in outbox.deliveries())
        assert rx.duplicates == len(claimed)  # the receiver saw each twice ...
        assert len(rx.events) == len(claimed)  # ... and processed each once
    finally:
        rx.stop()
        store.close()
