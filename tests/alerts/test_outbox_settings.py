"""Every Outbox gets its key one way: from the settings object its caller runs with, passed explicitly.
The monitor and the CLI never build one from the process environment behind their caller's back (a
second settings object with another key would seal webhook secrets that the caller cannot open)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from alerts_testkit import STEP, T0, add_brand, mention_stream
from click.testing import CliRunner

from alerts.monitor import Monitor, notify_crawl_blocked
from alerts.outbox import Outbox
from core.cli import main
from core.errors import ConfigError
from core.secret_box import new_key
from core.settings import Settings, get_settings
from store.factory import open_store
from store.sqlite_db import StateDB

N = 3 * 288
SURGE = N - 48
SECRET = "whsec_" + "m" * 40


def _legacy_row(path, hook_id: str = "wh_old") -> None:
    """A webhook row as versions before sealing wrote it: the next Outbox built over the DB seals it."""
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO webhooks(id, url, secret, events, description, created_at) "
                  "VALUES (?, 'http://127.0.0.1:9/h', ?, '[\"*\"]', NULL, '2026-01-01T00:00:00Z')", (hook_id, SECRET))


def test_a_monitor_run_seals_and_opens_with_the_key_of_the_settings_it_is_given(store, state_db, store_settings,
                                                                                 tmp_path, monkeypatch):
    monkeypatch.setenv("OPMON_SECRET_KEY", new_key())  # the process environment's key: not the caller's
    get_settings.cache_clear()
    given = Settings(data_dir=store_settings.data_dir, nlp_enabled=False, brands_file=tmp_path / "none.yaml",
                     secret_key=new_key())
    assert given.secret_key.get_secret_value() != get_settings().secret_key.get_secret_value()
    Outbox(state_db, given)  # the tables
    _legacy_row(given.state_db)
    rate = lambda i: 25.0 if SURGE <= i < SURGE + 6 else 1.0  # noqa: E731
    store.upsert(mention_stream("小米", T0, N, rate, lambda i: 0.15))
    add_brand(state_db)

    mon = Monitor(store, state_db, settings=given, history=timedelta(days=3), delay=timedelta(0),
                  backfill=timedelta(hours=6), kinds=("volume_surge",))
    assert mon.outbox.settings is given
    r = mon.run_once(now=T0 + (SURGE + 2) * STEP)  # opens each webhook's secret to route the event
    assert len(r.opened) == 1 and r.events == 1

    with sqlite3.connect(given.state_db) as c:  # sealed by the monitor's outbox, with the given key
        assert c.execute("SELECT secret FROM webhooks WHERE id = 'wh_old'").fetchone()[0].startswith("enc1:")
    assert Outbox(state_db, given).webhook("wh_old").secret == SECRET
    [delivery] = Outbox(state_db, given).claim_due(now=T0.timestamp() + 10 ** 9)
    assert delivery.secret == SECRET and delivery.event_type == "alert.opened"
    with pytest.raises(ConfigError, match="not the one it was sealed with"):  # the environment's key
        Outbox(state_db, get_settings()).webhook("wh_old")


def test_nothing_builds_an_outbox_without_the_callers_settings(store, state_db, tmp_path):
    with pytest.raises(TypeError, match="settings"):
        Monitor(store, state_db)
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(TypeError, match="one of them"):  # two sources for one key: ambiguous
        Monitor(store, state_db, outbox=Outbox(state_db, settings), settings=settings)
    with pytest.raises(TypeError, match="Settings"):
        Outbox(state_db, None)
    with pytest.raises(TypeError):
        notify_crawl_blocked(state_db, "weibo", "小米", "captcha")  # no outbox: nowhere to publish


def test_the_cli_publishes_with_the_key_of_its_settings(tmp_path, monkeypatch):
    """`opmon alerts run/ack/resolve` queue their events in an outbox built with the CLI's settings
    (OPMON_SECRET_KEY here), so the webhook secrets sealed under that key open for delivery."""
    monkeypatch.setenv("OPMON_SECRET_KEY", new_key())
    get_settings.cache_clear()
    settings = get_settings()
    store = open_store(settings)
    n = 2 * 288  # the last two days up to now: `alerts run` evaluates the real clock
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    store.upsert(mention_stream("小米", start, n, lambda i: 30.0 if i >= n - 8 else 1.0, seed=5))
    store.close()
    db = StateDB(settings.state_db)
    add_brand(db)
    Outbox(db, settings)
    _legacy_row(settings.state_db)  # sealed by the CLI's outbox, with the CLI's key
    runner = CliRunner()
    assert runner.invoke(main, ["alerts", "run", "--once", "--delay", "0", "--no-explain"]).exit_code == 0
    opened = [a for a in runner.invoke(main, ["alerts", "list", "--status", "open"]).output.split() if a.startswith("al_")]
    assert opened
    assert runner.invoke(main, ["alerts", "ack", opened[0]]).exit_code == 0
    assert runner.invoke(main, ["alerts", "resolve", opened[0]]).exit_code == 0
    outbox = Outbox(db, settings)
    assert outbox.webhook("wh_old").secret == SECRET
    types = {d.event_type for d in outbox.claim_due(now=10 ** 12, limit=1000)}
    assert {"alert.opened", "alert.acknowledged", "alert.resolved"} <= types
    monkeypatch.setenv("OPMON_SECRET_KEY", "not base64!!")  # a malformed key: a clean CLI error, not a traceback
    get_settings.cache_clear()
    bad = runner.invoke(main, ["alerts", "ack", opened[0]])
    assert bad.exit_code == 1 and "OPMON_SECRET_KEY" in bad.output and isinstance(bad.exception, SystemExit)
