"""`opmon alerts ...` through the real `opmon` entry point (click), over the per-test data dir."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts_testkit import add_brand, mention_stream
from click.testing import CliRunner

from alerts.monitor import notify_crawl_blocked
from alerts.outbox import Outbox
from core.cli import main
from core.settings import get_settings
from store.factory import open_store
from store.sqlite_db import StateDB


def test_run_once_list_show_ack_resolve():
    settings = get_settings()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=2)
    n = 2 * 288
    store = open_store(settings)
    store.upsert(mention_stream("小米", start, n, lambda i: 30.0 if i >= n - 8 else 1.0, seed=5))
    store.close()
    db = StateDB(settings.state_db)
    add_brand(db)
    runner = CliRunner()
    r = runner.invoke(main, ["alerts", "run", "--once", "--delay", "0", "--no-explain"])
    assert r.exit_code == 0, r.output
    assert "1 brands" in r.output and "opened" in r.output
    listed = runner.invoke(main, ["alerts", "list", "--status", "open"])
    assert listed.exit_code == 0 and "volume_surge" in listed.output and "小米" in listed.output
    aid = listed.output.split()[0]
    shown = runner.invoke(main, ["alerts", "show", aid])
    assert shown.exit_code == 0 and f'"id": "{aid}"' in shown.output
    assert "acknowledged by ops" in runner.invoke(main, ["alerts", "ack", aid, "--by", "ops"]).output
    assert "resolved by ops" in runner.invoke(main, ["alerts", "resolve", aid, "--by", "ops"]).output
    again = runner.invoke(main, ["alerts", "resolve", aid])
    assert again.exit_code != 0 and "already resolved" in again.output
    missing = runner.invoke(main, ["alerts", "show", "al_00"])
    assert missing.exit_code != 0 and "does not exist" in missing.output
    notify_crawl_blocked(db, "weibo", "小米", "captcha", outbox=Outbox(db, settings))
    assert "crawl_blocked" in runner.invoke(main, ["alerts", "list", "--kind", "crawl_blocked"]).output
