"""Incidents end to end over a real SQLite store and a real state DB file: open, update, resolve,
restart survival, idempotent passes, manual ack/resolve, crawl-blocked notices, explanations."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from alerts_testkit import CITIES, SOURCES, STEP, T0, add_brand, mention_stream

from alerts.incidents import AlertRepo, Kind, Status
from alerts.monitor import (
    Monitor,
    ack_alert,
    bucket_of,
    clear_crawl_blocked,
    notify_crawl_blocked,
    resolve_alert,
)
from core.errors import Conflict, NotFound
from store.sqlite_db import StateDB

DAYS = 3
N = DAYS * 288
SURGE = N - 48  # 4 hours before the end of the data


class RecordingOutbox:
    """Collects what the monitor publishes (the real outbox is tested in test_alert_delivery.py)."""

    def __init__(self):
        self.keys: dict[str, tuple[str, dict]] = {}

    def enqueue(self, event_type: str, payload: dict, idempotency_key: str) -> int:
        new = idempotency_key not in self.keys
        self.keys.setdefault(idempotency_key, (event_type, payload))
        return int(new)


@pytest.fixture
def surge_store(store):
    rate = lambda i: 25.0 if SURGE <= i < SURGE + 6 else 1.0  # noqa: E731
    share = lambda i: 0.8 if SURGE <= i < SURGE + 6 else 0.15  # noqa: E731
    store.upsert(mention_stream("小米", T0, N, rate, share, seed=3))
    return store


def monitor(store, db, outbox, **kw) -> Monitor:
    return Monitor(store, db, outbox=outbox, history=timedelta(days=DAYS), delay=timedelta(0),
                   backfill=timedelta(hours=6), **kw)


def at(i: int):
    return T0 + i * STEP


def test_open_update_resolve_survives_restart(surge_store, store_settings):
    db = StateDB(store_settings.state_db)
    add_brand(db)
    out = RecordingOutbox()
    r1 = monitor(surge_store, db, out).run_once(now=at(SURGE + 2))  # mid-surge
    opened = {AlertRepo(db).get(a).kind: AlertRepo(db).get(a) for a in r1.opened}
    assert Kind.volume_surge in opened and Kind.negative_volume_surge in opened
    vol = opened[Kind.volume_surge]
    assert vol.status is Status.open and vol.version == 1
    assert vol.opened_at == at(SURGE)  # the first surprising bucket
    assert vol.peak is not None and vol.peak.observed > 5 * vol.peak.expected
    assert f"{vol.id}:alert.opened:1" in out.keys
    db.close()

    # A restart: new objects over the same files continue the same incident.
    db2 = StateDB(store_settings.state_db)
    mon2 = monitor(surge_store, db2, out)
    r2 = mon2.run_once(now=at(SURGE + 8))
    assert r2.opened == [] or Kind.volume_surge not in {AlertRepo(db2).get(a).kind for a in r2.opened}
    again = AlertRepo(db2).get(vol.id)
    assert again.status is Status.open
    assert again.active_buckets > vol.active_buckets
    assert again.observed_total > vol.observed_total
    assert again.severity in ("high", "critical")

    # Quiet for long enough: resolved by itself, once.
    r3 = mon2.run_once(now=at(N))
    assert vol.id in r3.resolved
    done = AlertRepo(db2).get(vol.id)
    assert done.status is Status.resolved and done.resolved_by == "auto"
    assert at(SURGE + 6) < done.resolved_at <= at(SURGE + 6 + 12 + 6 + 1)
    assert any(k.startswith(f"{vol.id}:alert.resolved:") for k in out.keys)
    # The same pass again evaluates nothing new and publishes nothing.
    n_events = len(out.keys)
    r4 = mon2.run_once(now=at(N))
    assert r4.buckets == 0 and len(out.keys) == n_events
    volume_alerts = AlertRepo(db2).list(kind="volume_surge").items
    assert [a.id for a in volume_alerts] == [vol.id]  # one alert per sustained surge
    db2.close()


def test_crash_before_commit_replays_the_same_events(surge_store, state_db):
    add_brand(state_db)
    out = RecordingOutbox()

    class Crash(Exception):
        pass

    mon = monitor(surge_store, state_db, out)
    real_save_state = mon.repo.save_state

    def boom(*a, **k):
        raise Crash

    mon.repo.save_state = boom
    with pytest.raises(Crash):
        mon.run_once(now=at(SURGE + 3))
    keys_before = dict(out.keys)
    assert keys_before  # events were queued before the commit failed
    assert AlertRepo(state_db).list().items == []  # and nothing was committed
    mon.repo.save_state = real_save_state
    r = mon.run_once(now=at(SURGE + 3))
    # The crash hit the first (brand, kind); its replayed events carry the same ids and keys and
    # queue nothing new; only the kinds the crashed pass never reached publish now.
    replayed = {k.split(":")[0] for k in keys_before}
    assert replayed <= set(r.opened)
    assert set(keys_before) <= set(out.keys)
    assert r.events == len(out.keys) - len(keys_before)
    assert len(AlertRepo(state_db).list().items) == len(r.opened)


def test_quiet_brand_opens_nothing(store, state_db):
    store.upsert(mention_stream("华为", T0, N, lambda i: 2.0, seed=4, prefix="h"))
    add_brand(state_db, "华为")
    r = monitor(store, state_db, RecordingOutbox()).run_once(now=at(N))
    assert r.brands == 1 and r.buckets > 0
    assert r.opened == []


def test_ack_and_manual_resolve(surge_store, state_db):
    add_brand(state_db)
    out = RecordingOutbox()
    mon = monitor(surge_store, state_db, out)
    r = mon.run_once(now=at(SURGE + 2))
    aid = r.opened[0]
    a = ack_alert(state_db, aid, "key:k1", out)
    assert a.acked_by == "key:k1" and a.acked_at is not None
    assert ack_alert(state_db, aid, "key:k2", out).acked_by == "key:k1"  # idempotent
    assert sum(k.startswith(f"{aid}:alert.acknowledged") for k in out.keys) == 1
    res = resolve_alert(state_db, aid, "key:k1", out)
    assert res.status is Status.resolved and res.resolved_by == "key:k1"
    with pytest.raises(Conflict):
        resolve_alert(state_db, aid, "key:k1", out)
    with pytest.raises(NotFound):
        AlertRepo(state_db).get("al_0000")
    # The surge is still going: the detector does not re-open the hand-resolved incident.
    r2 = mon.run_once(now=at(SURGE + 6))
    kind = AlertRepo(state_db).get(aid).kind
    assert all(AlertRepo(state_db).get(x).kind != kind for x in r2.opened)
    assert AlertRepo(state_db).get(aid).status is Status.resolved


def test_list_filters_and_cursor(surge_store, state_db):
    add_brand(state_db)
    monitor(surge_store, state_db, RecordingOutbox()).run_once(now=at(N))
    repo = AlertRepo(state_db)
    everything = repo.list(limit=100).items
    assert len(everything) >= 2
    seen, cursor = [], None
    while True:
        page = repo.list(limit=1, cursor=cursor)
        seen += [a.id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [a.id for a in everything]
    assert {a.kind for a in repo.list(kind="volume_surge").items} == {Kind.volume_surge}
    assert repo.list(brand="nobody").items == []


def test_explanation_payload(surge_store, state_db):
    add_brand(state_db)
    r = monitor(surge_store, state_db, RecordingOutbox()).run_once(now=at(SURGE + 3))
    vol = next(a for a in map(AlertRepo(state_db).get, r.opened) if a.kind is Kind.volume_surge)
    e = vol.explanation
    assert e is not None and e["unavailable"] == []
    assert e["observed"] > 3 * e["expected"] and e["p_value"] < 1e-6
    assert e["window"]["minutes"] in (5, 60, 180)
    likes = [m["engagement"] for m in e["top_mentions"]]
    assert likes and likes == sorted(likes, reverse=True)
    assert set(e["sources"]) <= set(SOURCES) and set(e["locations"]) <= set(CITIES)
    assert e["sentiment"]["negative_share"] > e["sentiment"]["baseline_negative_share"] + 0.3
    assert e["touchpoints"][0]["touchpoint"] == "客服"
    terms = [t["term"] for t in e["emerging_terms"]]
    assert {"客服", "退款", "太差"} & set(terms)
    assert "小米" in vol.summary_zh and "倍" in vol.summary_zh
    assert "x the expected" in vol.summary_en and "negative share" in vol.summary_en


def test_crawl_blocked_notice(state_db):
    out = RecordingOutbox()
    a = notify_crawl_blocked(state_db, "weibo", "小米", "captcha", "HTTP 418 at /search", outbox=out)
    assert a.kind is Kind.crawl_blocked and a.status is Status.open
    assert "weibo" in a.summary_zh and "blocked" in a.summary_en
    b = notify_crawl_blocked(state_db, "weibo", "小米", "captcha", outbox=out)
    assert b.id == a.id and b.active_buckets == 2 and len(out.keys) == 1  # repeats do not re-page
    c = notify_crawl_blocked(state_db, "weibo", "小米", "login_wall", outbox=out)
    assert c.id == a.id and len(out.keys) == 2  # a new signal is published as an update
    other = notify_crawl_blocked(state_db, "jd", "100012", "rate_limit", outbox=out)
    assert other.id != a.id
    cleared = clear_crawl_blocked(state_db, "weibo", "小米", outbox=out)
    assert [x.id for x in cleared] == [a.id]
    assert AlertRepo(state_db).get(a.id).status is Status.resolved
    assert AlertRepo(state_db).get(other.id).status is Status.open


def test_bucket_numbers_are_absolute():
    assert bucket_of(at(0) + timedelta(minutes=4, seconds=59)) == bucket_of(at(0))
    assert bucket_of(at(1)) == bucket_of(at(0)) + 1


def test_cached_series_equal_fresh_reads_and_pick_up_late_mentions(store, state_db):
    """A long-running monitor caches history between passes; what it sees must equal a fresh read,
    including mentions indexed late (within the refresh window) for buckets already seen."""
    store.upsert(mention_stream("小米", T0, N - 30, lambda i: 2.0, seed=6))
    mon = monitor(store, state_db, RecordingOutbox())
    first, end = bucket_of(at(N - 30)) - 3 * 288, bucket_of(at(N - 30))
    mon._series("小米", first, end)
    late = mention_stream("小米", at(N - 34), 4, lambda i: 9.0, seed=7, prefix="late")
    store.upsert(late)  # arrived after the pass that first read those buckets
    cached = mon._series("小米", first + 6, end + 6)
    fresh = monitor(store, state_db, RecordingOutbox())._series("小米", first + 6, end + 6)
    np.testing.assert_array_equal(cached[0], fresh[0])
    np.testing.assert_array_equal(cached[1], fresh[1])
    assert cached[0][-10:-6].sum() >= len(late)


def test_escalation_is_published_as_an_update(store, state_db):
    ramp = {SURGE: 7.0, SURGE + 1: 7.0, SURGE + 2: 60.0, SURGE + 3: 80.0, SURGE + 4: 80.0}
    store.upsert(mention_stream("小米", T0, N, lambda i: ramp.get(i, 1.0), seed=8, prefix="r"))
    add_brand(state_db)
    out = RecordingOutbox()
    mon = monitor(store, state_db, out, kinds=("volume_surge",))
    r1 = mon.run_once(now=at(SURGE + 2))
    (aid,) = r1.opened
    first = AlertRepo(state_db).get(aid)
    r2 = mon.run_once(now=at(SURGE + 5))
    later = AlertRepo(state_db).get(aid)
    assert r2.updated == [aid] and r2.opened == []
    assert later.severity != first.severity and later.version == 2
    assert later.peak.observed > first.peak.observed
    assert out.keys[f"{aid}:alert.updated:2"][1]["severity"] == later.severity.value
