"""The scheduler: one process that keeps every monitored brand's sources crawled, on time, politely.

Each tick it (1) collects finished crawls and records their outcome in the job table, (2) starts
the jobs that are due, at most `max_per_site` per site and `max_total` overall, and (3) runs the
periodic passes (alert monitor, webhook delivery). Intervals carry jitter. A crawl that ends
`blocked` is surfaced (metric, ERROR log, `crawl_blocked` notice) and the job backs off
exponentially; failures back off too. Everything it knows lives in the state DB.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from core.mention import SHANGHAI
from core.metrics import CRAWLS, CRAWLS_BLOCKED, ITEMS, ITEMS_DROPPED, NLP_TEXTS, PAGES, STORE_WRITES
from ops.clock import Clock, SystemClock
from ops.config import ScheduleConfig
from ops.crawl import CrawlResult
from ops.jobs import JobSpec, JobState, JobStore, plan_jobs

log = logging.getLogger(__name__)

JOBS_RUNNING = Gauge("opmon_scheduler_crawls_running", "Crawl subprocesses running now", ["site"])
JOBS_BACKED_OFF = Gauge("opmon_scheduler_jobs_backed_off", "Jobs waiting out a block/failure backoff")
JOBS_ACTIVE = Gauge("opmon_scheduler_jobs", "Active crawl jobs")
TASK_RUNS = Counter("opmon_scheduler_task_runs_total", "Periodic scheduler passes", ["task", "outcome"])
CRAWL_SECONDS = Histogram("opmon_scheduler_crawl_seconds", "Crawl duration", ["spider"],
                          buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600))


def stats_to_metrics(spider: str, stats: dict, backend: str = "crawl") -> None:
    """A finished crawl process's Scrapy stats, as this process's Prometheus metrics."""
    for k, v in stats.items():
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        if k.startswith("downloader/response_status_count/"):
            PAGES.labels(spider, k.rsplit("/", 1)[1]).inc(v)
        elif k.startswith("pipeline/") and "/dropped/" in k:
            stage, reason = k[len("pipeline/"):].split("/dropped/", 1)
            ITEMS_DROPPED.labels(stage, reason).inc(v)
        elif k in ("pipeline/store/inserted", "pipeline/store/updated"):
            STORE_WRITES.labels(backend, k.rsplit("/", 1)[1]).inc(v)
        elif k == "pipeline/nlp/scored":
            NLP_TEXTS.labels("crawl").inc(v)
    if isinstance(stats.get("elapsed_time_seconds"), int | float):
        CRAWL_SECONDS.labels(spider).observe(stats["elapsed_time_seconds"])


class CrawlHandle(Protocol):
    spec: JobSpec

    def poll(self, now: float | None = None) -> CrawlResult | None: ...

    def stop(self) -> None: ...


class Runner(Protocol):
    def start(self, spec: JobSpec, extra_args: dict[str, str] | None = None) -> CrawlHandle: ...


BlockedHook = Callable[[JobState, CrawlResult], None]


@dataclass
class PeriodicTask:
    name: str
    every_s: float
    fn: Callable[[float], object]
    next_at: float = 0.0


@dataclass
class _Running:
    job: JobState
    handle: CrawlHandle
    started: float


def jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    return seconds * (1.0 + rng.uniform(-jitter, jitter))


def backoff_delay(interval_s: float, streak: int, cap_s: float) -> float:
    """Wait after the `streak`-th consecutive bad run: 2x, 4x, 8x ... the interval, capped."""
    return min(interval_s * (2 ** max(1, streak)), cap_s)


def dynamic_args(job: JobState, now: float) -> dict[str, str]:
    """Arguments that depend on time: weibo_search needs an explicit hour range."""
    if job.spec.spider != "weibo_search":
        return {}
    end = datetime.fromtimestamp(now, tz=UTC).astimezone(SHANGHAI)
    start = (datetime.fromtimestamp(job.last_success, tz=UTC).astimezone(SHANGHAI) - timedelta(hours=1)
             if job.last_success else end - timedelta(days=1))

    def fmt(d: datetime) -> str:
        return f"{d:%Y-%m-%d}-{d.hour}"

    return {"start": fmt(start), "end": fmt(end + timedelta(hours=1))}


@dataclass
class Scheduler:
    jobs: JobStore
    runner: Runner
    config: ScheduleConfig
    brands: Callable[[], list]
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)
    on_blocked: list[BlockedHook] = field(default_factory=list)
    on_recovered: list[BlockedHook] = field(default_factory=list)
    tasks: list[PeriodicTask] = field(default_factory=list)
    running: dict[str, _Running] = field(default_factory=dict)
    _seen_sites: set[str] = field(default_factory=set)

    # Plan ------------------------------------------------------------------------------------
    def sync(self) -> list[JobSpec]:
        specs = plan_jobs(self.brands())
        self.jobs.sync(specs, self.config.interval_for, self.clock.now(), self.rng)
        JOBS_ACTIVE.set(len(specs))
        return specs

    def recover(self) -> None:
        n = self.jobs.clear_running()
        if n:
            log.warning("%d crawl(s) were running when the last scheduler stopped: rescheduled", n)

    # One step --------------------------------------------------------------------------------
    def tick(self) -> None:
        self.collect()
        self.launch(self.jobs.due(self.clock.now()))
        self.run_tasks()

    def collect(self) -> list[tuple[JobState, CrawlResult]]:
        done = []
        for key, r in list(self.running.items()):
            result = r.handle.poll()
            if result is None:
                continue
            del self.running[key]
            self.record(r.job, result)
            done.append((r.job, result))
        self._gauges()
        return done

    def launch(self, due: list[JobState]) -> list[JobState]:
        started = []
        for job in due:
            if len(self.running) >= self.config.max_total:
                break
            if job.key in self.running:
                continue
            if self._site_load(job.spec.site) >= self.config.cap_for(job.spec.site):
                continue
            now = self.clock.now()
            try:
                handle = self.runner.start(job.spec, dynamic_args(job, now))
            except Exception as exc:  # a job that cannot even start is a failed run, not a dead scheduler
                log.exception("could not start crawl %s", job.key)
                self.record(job, CrawlResult(outcome="failed", detail=f"start failed: {exc}"[:500]))
                continue
            self.jobs.mark_started(job.key, now)
            job.running_since = now
            self.running[job.key] = _Running(job, handle, now)
            started.append(job)
        self._gauges()
        return started

    def run_tasks(self) -> None:
        now = self.clock.now()
        for task in self.tasks:
            if now < task.next_at:
                continue
            task.next_at = now + task.every_s
            try:
                task.fn(now)
                TASK_RUNS.labels(task.name, "ok").inc()
            except Exception:  # one failed pass must not stop crawling or the next pass
                TASK_RUNS.labels(task.name, "error").inc()
                log.exception("periodic task %s failed", task.name)

    # Outcomes --------------------------------------------------------------------------------
    def record(self, job: JobState, result: CrawlResult) -> None:
        now = self.clock.now()
        cfg = self.config
        job.running_since = None
        job.last_finished = now
        job.runs += 1
        job.last_outcome = result.outcome
        job.last_reason = result.finish_reason
        job.last_items = result.items
        job.last_detail = result.detail or None
        spider = job.spec.spider
        CRAWLS.labels(spider, result.outcome).inc()
        if result.items:
            ITEMS.labels(spider).inc(result.items)
        stats_to_metrics(spider, result.stats)

        if result.outcome == "finished":
            was_blocked = job.consecutive_blocked > 0
            job.consecutive_blocked = job.consecutive_failures = 0
            job.backoff_until = None
            job.last_success = now
            job.next_due = now + jittered(job.interval_s, cfg.jitter, self.rng)
            log.info("crawl finished: %s, %d items, %d pages", job.key, result.items, result.pages)
            if was_blocked:
                self._hooks(self.on_recovered, job, result)
        elif result.outcome == "blocked":
            job.consecutive_blocked += 1
            delay = backoff_delay(job.interval_s, job.consecutive_blocked, cfg.backoff_max)
            job.backoff_until = now + delay * (1.0 + self.rng.uniform(0, cfg.jitter))
            job.next_due = job.backoff_until
            self._surface_blocked(job, result)
        elif result.outcome == "interrupted":
            # Stopped by us (shutdown): resume from JOBDIR on the next start, without penalty.
            job.next_due = now
        else:
            job.consecutive_failures += 1
            delay = backoff_delay(job.interval_s, job.consecutive_failures - 1, cfg.backoff_max) \
                if job.consecutive_failures > 1 else job.interval_s
            job.backoff_until = now + delay if job.consecutive_failures > 1 else None
            job.next_due = now + jittered(delay, cfg.jitter, self.rng)
            log.error("crawl %s: %s (%s); next try in %.0fs", result.outcome, job.key,
                      result.detail or result.finish_reason, job.next_due - now,
                      extra={"job": job.key, "spider": spider, "outcome": result.outcome})
        self.jobs.save(job)

    def _surface_blocked(self, job: JobState, result: CrawlResult) -> None:
        signal = result.signal or "unknown"
        CRAWLS_BLOCKED.labels(job.spec.spider, signal).inc()
        log.error(
            "crawl BLOCKED: %s signal=%s (%d in a row); backing off until %s",
            job.key, signal, job.consecutive_blocked,
            datetime.fromtimestamp(job.backoff_until or 0, tz=UTC).isoformat(timespec="seconds"),
            extra={"job": job.key, "spider": job.spec.spider, "signal": signal,
                   "consecutive_blocked": job.consecutive_blocked, "backoff_until": job.backoff_until},
        )
        self._hooks(self.on_blocked, job, result)

    @staticmethod
    def _hooks(hooks: list[BlockedHook], job: JobState, result: CrawlResult) -> None:
        for hook in hooks:
            try:
                hook(job, result)
            except Exception:  # notices are best effort; the metric and log already happened
                log.exception("hook %r for %s failed", hook, job.key)

    # Loops -----------------------------------------------------------------------------------
    def run(self, stop: threading.Event, tick_s: float = 1.0, resync_s: float = 60.0) -> None:
        """Run until `stop` is set; then stop running crawls (they resume from JOBDIR)."""
        self.recover()
        self.sync()
        next_sync = self.clock.now() + resync_s
        try:
            while not stop.is_set():
                if self.clock.now() >= next_sync:
                    self._safe_sync()
                    next_sync = self.clock.now() + resync_s
                self.tick()
                stop.wait(tick_s)
        finally:
            self.shutdown()

    def run_round(self, *, deadline_s: float = 600.0, tick_s: float = 0.5, stop: threading.Event | None = None,
                  on_done: Callable[[JobState, CrawlResult], None] | None = None,
                  on_start: Callable[[JobState], None] | None = None) -> list[tuple[JobState, CrawlResult]]:
        """Crawl every active job once now (caps respected), wait for all of them, then return."""
        self.recover()
        self.sync()
        pending = {j.key: j for j in self.jobs.all()}
        finished: list[tuple[JobState, CrawlResult]] = []
        start = self.clock.now()
        stop = stop or threading.Event()
        while (pending or self.running) and not stop.is_set():
            done = self.collect()
            finished += done
            for job, result in done:
                if on_done:
                    on_done(job, result)
            order = sorted(pending.values(), key=lambda j: j.key)
            for job in self.launch(order):
                pending.pop(job.key, None)
                if on_start:
                    on_start(job)
            if self.clock.now() - start > deadline_s:
                log.error("round did not finish within %.0fs: stopping %d crawl(s)", deadline_s, len(self.running))
                break
            if pending or self.running:
                self.clock.sleep(tick_s)
        for r in list(self.running.values()):
            r.handle.stop()
        for job, result in self.collect():
            finished.append((job, result))
            if on_done:
                on_done(job, result)
        return finished

    def shutdown(self) -> None:
        for r in list(self.running.values()):
            r.handle.stop()
        # collect() records them (interrupted: they resume from JOBDIR next time)
        self.collect()

    def _safe_sync(self) -> None:
        try:
            self.sync()
        except Exception:
            log.exception("could not refresh the job plan from the brands; keeping the old one")

    def _site_load(self, site: str) -> int:
        return sum(1 for r in self.running.values() if r.job.spec.site == site)

    def _gauges(self) -> None:
        sites: dict[str, int] = dict.fromkeys(self._seen_sites, 0)
        for r in self.running.values():
            sites[r.job.spec.site] = sites.get(r.job.spec.site, 0) + 1
        self._seen_sites.update(sites)
        for site, n in sites.items():
            JOBS_RUNNING.labels(site).set(n)
        now = self.clock.now()
        try:
            JOBS_BACKED_OFF.set(sum(1 for j in self.jobs.all() if j.backoff_until and j.backoff_until > now))
        except Exception:  # metrics must never break scheduling
            log.debug("backoff gauge not updated", exc_info=True)
