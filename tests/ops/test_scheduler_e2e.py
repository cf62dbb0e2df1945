"""The scheduler for real: `scrapy crawl` subprocesses against the replay site, one of whose
sources is blocking. The blocked crawl is surfaced (metric, ERROR log, notice) and backed off."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from ops.jobs import JobStore
from ops.replay.content import PHONE_KEYWORD, TIEBA_FORUM
from ops.replay.server import REPLAY_CRAWL_SETTINGS, ReplaySite
from store.base import Filters
from store.sqlite_db import StateDB

pytestmark = pytest.mark.slow


def test_scheduler_round_crawls_stores_and_surfaces_blocks(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPMON_NLP_ENABLED", "false")
    from core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    brands = tmp_path / "brands.yaml"
    brands.write_text(
        "brands:\n"
        f"  - name: 澜鲸\n    keywords: [{PHONE_KEYWORD}]\n    sources: [weibo, tieba]\n"
        f"    targets: {{tieba: ['{TIEBA_FORUM}']}}\n"
        "schedule:\n  intervals: {weibo: 10m, tieba: 1h}\n  max_total: 2\n", encoding="utf-8")
    from ops.cli import build_scheduler

    with ReplaySite() as site:
        site.app.blocked.add("tieba")
        sched = build_scheduler(settings, brands_file=brands, base_urls=site.base_urls(), alerts=False,
                                webhooks=False, extra_settings=REPLAY_CRAWL_SETTINGS)
        from alerts.outbox import Outbox

        state = StateDB(settings.state_db)
        Outbox(state, settings).add_webhook("http://127.0.0.1:9/hook", events=["*"])
        before = sum(s.value for m in REGISTRY.collect() if m.name == "opmon_crawls_blocked"
                     for s in m.samples if s.name.endswith("_total") and s.labels.get("spider") == "tieba")
        with caplog.at_level(logging.ERROR):
            results = {job.key: r for job, r in sched.run_round(deadline_s=240)}
        blocked_fetches = sum(site.fetches("/tieba.baidu.com").values())

    weibo = results[f"weibo:keyword={PHONE_KEYWORD}"]
    blocked = results[f"tieba:forum={TIEBA_FORUM}"]
    posts = site.app.world.weibo[PHONE_KEYWORD]
    assert weibo.outcome == "finished", weibo
    assert weibo.items == len(posts)
    assert blocked.outcome == "blocked" and blocked.finish_reason == "blocked" and blocked.signal, blocked
    assert blocked_fetches <= 6  # a few retries, not a hammering

    # the mentions are in the embedded store, tagged with the brand
    from store.factory import open_store

    store = open_store(settings)
    try:
        assert store.count(Filters(sources=["weibo"])) == len(posts)
        assert store.count(Filters(brands=["澜鲸"])) == len(posts)
    finally:
        store.close()

    # surfaced: metric, ERROR log naming the signal, a crawl_blocked notice in the alert channel
    after = REGISTRY.get_sample_value("opmon_crawls_blocked_total", {"spider": "tieba", "signal": blocked.signal})
    assert after is not None and after - before >= 1
    assert any("BLOCKED" in r.getMessage() and blocked.signal in r.getMessage() for r in caplog.records)
    from alerts.incidents import AlertRepo

    notices = AlertRepo(state).list(kind="crawl_blocked").items
    assert len(notices) == 1 and notices[0].explanation["signal"] == blocked.signal
    assert notices[0].explanation["query"] == f"forum={TIEBA_FORUM}"
    # on its way to the webhook
    assert [r.event_type for r in Outbox(state, settings).deliveries()] == ["alert.opened"]

    # job state: weibo due again after ~10 min, tieba backed off for 2 h
    jobs = {j.key: j for j in JobStore(state).all()}
    w, j = jobs[f"weibo:keyword={PHONE_KEYWORD}"], jobs[f"tieba:forum={TIEBA_FORUM}"]
    assert w.last_outcome == "finished" and w.last_items == len(posts)
    assert 0.85 * 600 < w.next_due - w.last_finished < 1.15 * 600
    assert j.last_outcome == "blocked" and j.consecutive_blocked == 1
    assert j.backoff_until - j.last_finished >= 2 * 3600
