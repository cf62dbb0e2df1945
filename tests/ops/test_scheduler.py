"""Scheduling, caps, jitter and block backoff, on a simulated clock (the real crawl run is in
test_scheduler_e2e.py)."""

from __future__ import annotations

import logging
import random

import pytest
from ops_testkit import ScriptedRunner
from prometheus_client import REGISTRY

from core.brands import Brand, BrandRepo
from core.errors import ConfigError
from ops.brandseed import seed_brands
from ops.config import ScheduleConfig, load_schedule_yaml, parse_duration
from ops.crawl import CrawlResult
from ops.jobs import JobStore, plan_jobs
from ops.notify import BlockedNotifier
from ops.scheduler import PeriodicTask, Scheduler, backoff_delay, dynamic_args
from store.sqlite_db import StateDB

BRANDS = [
    Brand(name="澜鲸", keywords=["澜鲸手机", "澜鲸"], sources=["weibo", "jd", "tieba"],
          targets={"jd": ["1001", "1002"], "tieba": ["澜鲸"]}),
    Brand(name="沸腾里", keywords=["沸腾里火锅", "澜鲸"], sources=["weibo", "dianping", "discuz"],
          targets={"dianping": ["H2noKWCDigM0H9c1"], "discuz": ["http://bbs.example.com/bbs/|12"]}),
    Brand(name="停用", keywords=["x"], enabled=False),
]


def make(state_path, clock, runner=None, config=None, brands=BRANDS, seed=1):
    state = StateDB(state_path)
    runner = runner or ScriptedRunner(clock)
    sched = Scheduler(jobs=JobStore(state), runner=runner, config=config or ScheduleConfig(),
                      brands=lambda: list(brands), clock=clock, rng=random.Random(seed))
    sched.sync()
    return sched, runner, state


def run_for(sched, clock, seconds, step=10.0):
    end = clock.now() + seconds
    while clock.now() < end:
        sched.tick()
        clock.advance(step)


def metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_plan_merges_brands_and_maps_targets():
    specs = {s.key: s for s in plan_jobs(BRANDS)}
    # 澜鲸 is a keyword of both brands: one job, both brands on it
    assert specs["weibo:keyword=澜鲸"].brands == ("澜鲸", "沸腾里")
    assert {"jd:product_id=1001", "jd:product_id=1002", "tieba:forum=澜鲸",
            "dianping:shop_id=H2noKWCDigM0H9c1"} <= set(specs)
    discuz = specs["discuz:base_url=http://bbs.example.com/bbs/&fid=12&site=bbs.example.com"]
    assert discuz.site == "discuz:bbs.example.com"
    assert not any(dict(s.args).get("keyword") == "x" for s in specs.values())  # disabled brand


def test_caps_per_site_and_total(tmp_path, clock):
    cfg = ScheduleConfig(max_per_site={"default": 1, "weibo": 2}, max_total=4)
    sched, runner, _ = make(tmp_path / "s.db", clock, config=cfg)
    clock.advance(10)
    sched.tick()
    started = [k for _, k, _ in runner.starts]
    assert len(started) == 4
    assert sum(k.startswith("weibo:") for k in started) <= 2
    assert sum(k.startswith("jd:") for k in started) <= 1
    # nothing else starts while those run
    sched.tick()
    assert len(runner.starts) == 4
    # over time every job runs, never more than the caps at once
    for _ in range(200):
        clock.advance(5)
        sched.tick()
        sites = [r.job.spec.site for r in sched.running.values()]
        assert len(sites) <= 4 and sites.count("weibo") <= 2 and sites.count("jd") <= 1
    assert {k for _, k, _ in runner.starts} == {s.key for s in plan_jobs(BRANDS)}


def test_intervals_have_jitter_and_state_is_recorded(tmp_path, clock):
    cfg = ScheduleConfig(intervals={"weibo": 900}, jitter=0.2, max_total=10, max_per_site={"default": 10})
    brands = [Brand(name="b", keywords=["k"], sources=["weibo"])]
    sched, runner, state = make(tmp_path / "s.db", clock, config=cfg, brands=brands)
    run_for(sched, clock, 6 * 3600, step=5)
    times = [t for t, _, _ in runner.starts]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 15
    # each gap = crawl duration (60 s) + interval * (1 +- 0.2), and not all the same
    assert all(60 + 900 * 0.8 - 5 <= g <= 60 + 900 * 1.2 + 5 for g in gaps), gaps
    assert max(gaps) - min(gaps) > 60
    job = JobStore(state).get("weibo:keyword=k")
    assert job.last_outcome == "finished" and job.last_items == 3 and job.runs == len(times) - (
        1 if sched.running else 0)
    assert job.next_due > job.last_finished and job.consecutive_blocked == 0


def test_blocked_crawl_is_surfaced_and_backed_off(tmp_path, clock, caplog):
    cfg = ScheduleConfig(intervals={"weibo": 900}, jitter=0.1, backoff_max=6 * 3600)
    brands = [Brand(name="b", keywords=["blocked-kw"], sources=["weibo"])]
    blocked = CrawlResult(outcome="blocked", finish_reason="blocked", signal="weibo_captcha", items=2,
                          detail="captcha JSON")
    runner = ScriptedRunner(clock, outcome=lambda spec, n: blocked)
    sched, runner, state = make(tmp_path / "s.db", clock, runner=runner, config=cfg, brands=brands)
    notices = []
    sched.on_blocked.append(lambda job, r: notices.append((job.consecutive_blocked, r.signal)))
    before = metric("opmon_crawls_blocked_total", spider="weibo", signal="weibo_captcha")
    with caplog.at_level(logging.ERROR, logger="ops.scheduler"):
        run_for(sched, clock, 24 * 3600, step=30)
    starts = [t for t, _, _ in runner.starts]
    # an unblocked job would run ~90 times a day; a blocked one backs off 2x, 4x, 8x ... capped at 6 h
    assert 5 <= len(starts) <= 9, len(starts)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[1] > 1.8 * gaps[0] and gaps[2] > 1.8 * gaps[1]
    assert max(gaps) <= 6 * 3600 * 1.1 + 60 + 30
    assert metric("opmon_crawls_blocked_total", spider="weibo", signal="weibo_captcha") - before == len(notices)
    assert [n for n, _ in notices] == list(range(1, len(notices) + 1))
    assert any("BLOCKED" in r.getMessage() and "weibo_captcha" in r.getMessage() for r in caplog.records)
    job = JobStore(state).get("weibo:keyword=blocked-kw")
    assert job.last_outcome == "blocked" and job.consecutive_blocked == len(notices)
    assert job.backoff_until and job.next_due == job.backoff_until


def test_success_after_block_resets_backoff(tmp_path, clock):
    script = ["blocked", "blocked", "finished", "finished"]
    runner = ScriptedRunner(clock, outcome=lambda spec, n: CrawlResult(
        outcome=script[min(n, 3)], signal="x" if script[min(n, 3)] == "blocked" else None))
    cfg = ScheduleConfig(intervals={"weibo": 600}, jitter=0.0)
    sched, runner, state = make(tmp_path / "s.db", clock, runner=runner, config=cfg,
                                brands=[Brand(name="b", keywords=["k"], sources=["weibo"])])
    run_for(sched, clock, 4 * 3600, step=10)
    starts = [t for t, _, _ in runner.starts]
    gaps = [round(b - a) for a, b in zip(starts, starts[1:], strict=False)]
    # blocked -> 2x, blocked -> 4x, then back to the plain interval
    assert gaps[0] == pytest.approx(60 + 1200, abs=20) and gaps[1] == pytest.approx(60 + 2400, abs=20)
    assert gaps[2] == pytest.approx(660, abs=20) and gaps[3] == pytest.approx(660, abs=20)
    job = JobStore(state).get("weibo:keyword=k")
    assert job.consecutive_blocked == 0 and job.backoff_until is None


def test_failures_back_off_and_start_errors_do_not_kill_the_loop(tmp_path, clock):
    class Broken(ScriptedRunner):
        def start(self, spec, extra_args=None):
            self.starts.append((self.clock.now(), spec.key, {}))
            raise OSError("spawn failed")

    runner = Broken(clock)
    cfg = ScheduleConfig(intervals={"weibo": 600}, jitter=0.0, backoff_max=3600)
    sched, runner, state = make(tmp_path / "s.db", clock, runner=runner, config=cfg,
                                brands=[Brand(name="b", keywords=["k"], sources=["weibo"])])
    run_for(sched, clock, 6 * 3600, step=10)
    job = JobStore(state).get("weibo:keyword=k")
    assert job.last_outcome == "failed" and "spawn failed" in job.last_detail
    assert job.consecutive_failures == len(runner.starts)
    assert len(runner.starts) <= 10  # 600, 1200, 2400, 3600, 3600 ...


def test_state_survives_a_restart(tmp_path, clock):
    cfg = ScheduleConfig(intervals={"weibo": 900}, jitter=0.0)
    brands = [Brand(name="b", keywords=["k"], sources=["weibo"])]
    blocked = ScriptedRunner(clock, outcome=lambda s, n: CrawlResult(outcome="blocked", signal="s"))
    sched, _, state = make(tmp_path / "s.db", clock, runner=blocked, config=cfg, brands=brands)
    run_for(sched, clock, 300, step=10)
    backoff = JobStore(state).get("weibo:keyword=k").backoff_until
    assert backoff and backoff > clock.now()
    # a new scheduler process (same state DB) honours the backoff instead of crawling at once
    runner2 = ScriptedRunner(clock)
    sched2, runner2, _ = make(tmp_path / "s.db", clock, runner=runner2, config=cfg, brands=brands)
    sched2.recover()
    run_for(sched2, clock, backoff - clock.now() - 30, step=10)
    assert runner2.starts == []
    run_for(sched2, clock, 120, step=10)
    assert len(runner2.starts) == 1


def test_crawl_left_running_by_a_dead_scheduler_is_rescheduled(tmp_path, clock):
    brands = [Brand(name="b", keywords=["k"], sources=["weibo"])]
    sched, runner, state = make(tmp_path / "s.db", clock, brands=brands)
    clock.advance(10)
    sched.tick()
    assert JobStore(state).get("weibo:keyword=k").running_since is not None
    # the process dies here; the next one finds the job marked running
    sched2, runner2, _ = make(tmp_path / "s.db", clock, brands=brands)
    sched2.recover()
    sched2.tick()
    assert len(runner2.starts) == 1


def test_removed_brand_deactivates_its_jobs(tmp_path, clock):
    brands = list(BRANDS[:2])
    sched, runner, state = make(tmp_path / "s.db", clock, brands=brands)
    brands.pop()
    sched.brands = lambda: list(brands)
    sched.sync()
    keys = {j.key for j in JobStore(state).all()}
    assert "dianping:shop_id=H2noKWCDigM0H9c1" not in keys and "weibo:keyword=澜鲸" in keys
    assert JobStore(state).get("dianping:shop_id=H2noKWCDigM0H9c1").active is False


def test_periodic_tasks_run_on_cadence_and_survive_errors(tmp_path, clock):
    sched, _, _ = make(tmp_path / "s.db", clock, brands=[])
    calls = []

    def flaky(now):
        calls.append(now)
        if len(calls) == 2:
            raise RuntimeError("boom")

    sched.tasks.append(PeriodicTask("t", 60, flaky))
    run_for(sched, clock, 600, step=10)
    assert len(calls) == 10


def test_weibo_search_gets_an_hour_range(clock):
    from ops.jobs import JobSpec, JobState

    job = JobState(spec=JobSpec("weibo_search", (("keyword", "k"),), "weibo_search"), interval_s=3600)
    args = dynamic_args(job, clock.now())
    assert set(args) == {"start", "end"}
    assert args["start"].count("-") == 3 and args["start"] < args["end"]


def test_backoff_delay_caps():
    assert backoff_delay(900, 1, 10**6) == 1800
    assert backoff_delay(900, 3, 10**6) == 7200
    assert backoff_delay(900, 30, 3600) == 3600


def test_schedule_config_parsing(tmp_path):
    assert parse_duration("15m") == 900 and parse_duration("1.5h") == 5400 and parse_duration(30) == 30
    p = tmp_path / "b.yaml"
    p.write_text("brands: []\nschedule:\n  intervals: {weibo: 5m}\n  max_total: 2\n", encoding="utf-8")
    cfg = load_schedule_yaml(p)
    assert cfg.interval_for("weibo") == 300 and cfg.interval_for("jd") == 6 * 3600 and cfg.max_total == 2
    p.write_text("schedule:\n  intervals: {weibo: soon}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="intervals"):
        load_schedule_yaml(p)


def test_shipped_brands_yaml_is_valid():
    from pathlib import Path

    from core.brands import load_brands_yaml

    root = Path(__file__).resolve().parents[2]
    brands = load_brands_yaml(root / "brands.yaml")
    assert len(brands) >= 2 and plan_jobs(brands)
    load_schedule_yaml(root / "brands.yaml")


def test_brand_seeding_keeps_api_edits(tmp_path):
    state = StateDB(tmp_path / "s.db")
    p = tmp_path / "brands.yaml"
    p.write_text("brands:\n  - {name: A, keywords: [a]}\n  - {name: B, keywords: [b]}\n", encoding="utf-8")
    assert seed_brands(state, p) == {"A": "created", "B": "created"}
    repo = BrandRepo(state)
    repo.upsert(Brand(name="A", keywords=["a", "a2"]))  # edited through the API
    assert seed_brands(state, p) == {"A": "kept-api-edit", "B": "unchanged"}
    assert repo.get("A").keywords == ["a", "a2"]
    p.write_text("brands:\n  - {name: A, keywords: [a3]}\n  - {name: B, keywords: [b]}\n", encoding="utf-8")
    assert seed_brands(state, p)["A"] == "updated"
    assert repo.get("A").keywords == ["a3"]


def test_blocked_notice_reaches_the_alert_channel_and_clears(tmp_path, clock):
    """A blocked crawl opens one crawl_blocked alert (published to webhooks once, however many blocked
    runs follow); the next successful crawl of the job resolves it."""
    from alerts.incidents import AlertRepo
    from alerts.outbox import Outbox
    from core.settings import get_settings

    settings = get_settings()
    state = StateDB(tmp_path / "s.db")
    outbox = Outbox(state, settings)
    outbox.add_webhook("http://127.0.0.1:9/hook", events=["alert.*"])
    script = ["blocked", "blocked", "finished"]
    runner = ScriptedRunner(clock, outcome=lambda s, n: CrawlResult(
        outcome=script[min(n, 2)], signal="weibo_http_432" if n < 2 else None, detail="HTTP 432"))
    cfg = ScheduleConfig(intervals={"weibo": 600}, jitter=0.0)
    sched, _, _ = make(tmp_path / "s.db", clock, runner=runner, config=cfg,
                       brands=[Brand(name="b", keywords=["k"], sources=["weibo"])])
    notifier = BlockedNotifier(state, settings)
    sched.on_blocked.append(notifier)
    sched.on_recovered.append(notifier.recovered)
    run_for(sched, clock, 30 * 60, step=10)
    assert len(notifier.sent) == 2 and notifier.sent[0]["signal"] == "weibo_http_432"
    alerts = AlertRepo(state).list(kind="crawl_blocked").items
    assert len(alerts) == 1 and alerts[0].status == "open" and alerts[0].brand == "crawler:weibo"
    assert alerts[0].explanation["query"] == "keyword=k"
    assert [r.event_type for r in outbox.deliveries()] == ["alert.opened"]  # published once
    run_for(sched, clock, 3 * 3600, step=10)  # third run succeeds
    assert AlertRepo(state).get(alerts[0].id).status == "resolved"
    assert sorted(r.event_type for r in outbox.deliveries()) == ["alert.opened", "alert.resolved"]


SCRAPY_LOG = """2026-11-22 11:44:57 [scrapy.core.engine] INFO: Closing spider (blocked)
2026-11-22 11:44:57 [crawlers.extensions] ERROR: CRAWL RESULT spider=weibo outcome=blocked signal=weibo_captcha items=10 pages=3
2026-11-22 11:44:57 [scrapy.statscollectors] INFO: Dumping Scrapy stats:
{'blocked/weibo_captcha': 4,
 'downloader/response_status_count/200': 3,
 'downloader/response_status_count/432': 1,
 'finish_reason': 'blocked',
 'finish_time': datetime.datetime(2026, 11, 22, 11, 44, 57, 651006, tzinfo=datetime.timezone.utc),
 'item_scraped_count': 10,
 'start_time': datetime.datetime(2026, 11, 22, 11, 44, 57, 530893, tzinfo=datetime.timezone.utc)}
2026-11-22 11:44:57 [scrapy.core.engine] INFO: Spider closed (blocked)
"""


def test_outcome_is_read_from_scrapys_own_log_when_there_is_no_summary():
    from ops.crawl import blocked_signal, classify, parse_crawl_log

    reason, stats = parse_crawl_log(SCRAPY_LOG)
    assert reason == "blocked" and stats["item_scraped_count"] == 10
    assert stats["downloader/response_status_count/432"] == 1
    assert blocked_signal(stats) == "weibo_captcha"
    assert classify(reason, 0, stats) == "blocked"
    assert classify("finished", 0, {}) == "finished" and classify("shutdown", 0, {}) == "interrupted"
    assert classify(None, 1, {}) == "failed"  # never closed: crashed at start-up
    assert parse_crawl_log("Traceback ...\nKeyError: 'Spider not found: x'\n") == (None, {})


def test_crawl_command_moves_every_request_onto_the_mirror(tmp_path):
    from ops.crawl import crawl_command, rebase
    from ops.jobs import JobSpec

    spec = JobSpec("discuz", (("base_url", "https://bbs.example.com/bbs/"), ("fid", "7")), "discuz:bbs.example.com")
    cmd = crawl_command(spec, base_url="http://127.0.0.1:9/bbs.example.com", log_file=tmp_path / "l.log",
                        jobdir=tmp_path / "job", settings={"DOWNLOAD_DELAY": "0"})
    assert "base_url=http://127.0.0.1:9/bbs.example.com/bbs/" in cmd and "fid=7" in cmd
    assert f"JOBDIR={tmp_path / 'job'}" in cmd and "DOWNLOAD_DELAY=0" in cmd
    assert rebase("http://127.0.0.1:9/bbs.example.com/bbs/", "http://127.0.0.1:9/bbs.example.com") == \
        "http://127.0.0.1:9/bbs.example.com/bbs/"  # already on the mirror: unchanged
    spec = JobSpec("weibo", (("keyword", "k"),), "weibo")
    assert "base_url=http://m/x" in crawl_command(spec, base_url="http://m/x", log_file=tmp_path / "l", jobdir=None)
