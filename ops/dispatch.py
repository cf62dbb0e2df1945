"""Crawl jobs over Redis: one scheduler queues crawls, any number of crawler workers run them.

    scheduler --dispatch redis  ->  RPUSH opmon:crawl:jobs  {run id, spider, args, settings}
    scheduler --worker (xN)     ->  BLPOP, `scrapy crawl ...`, RPUSH opmon:crawl:results:<run id>

The scheduler keeps all job state (its state DB); workers are stateless and can be scaled freely
(`docker compose up --scale crawler=4`). Each run gets its own scrapy-redis queue and dupefilter keys
(`opmon:run:<id>:...`), so a repeat crawl of the same job is not filtered against the previous run,
and a run queued with `fanout=N` is split by N workers sharing those keys. The keys are deleted when
the run's results are in.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from ops.crawl import CrawlResult, SubprocessRunner
from ops.jobs import JobSpec

log = logging.getLogger(__name__)

JOBS_KEY = "opmon:crawl:jobs"
RESULTS_KEY = "opmon:crawl:results:{run}"
RUN_KEYS = "opmon:run:{run}:*"
RESULT_TTL_S = 24 * 3600
_WORST = ["failed", "timeout", "blocked", "interrupted", "finished"]  # a merged run is as bad as its worst part


def _client(url: str):
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


def run_settings(run: str) -> dict[str, str]:
    return {
        "SCHEDULER_QUEUE_KEY": f"opmon:run:{run}:%(spider)s:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"opmon:run:{run}:%(spider)s:dupefilter",
        "SCHEDULER_PERSIST": "True",  # workers of one run must not flush each other's queue
    }


def merge(results: list[CrawlResult]) -> CrawlResult:
    if not results:
        return CrawlResult(outcome="failed", detail="no worker reported")
    worst = min(results, key=lambda r: _WORST.index(r.outcome) if r.outcome in _WORST else 0)
    return CrawlResult(outcome=worst.outcome, finish_reason=worst.finish_reason, returncode=worst.returncode,
                       items=sum(r.items for r in results), pages=sum(r.pages for r in results),
                       signal=next((r.signal for r in results if r.signal), None), stats=worst.stats,
                       detail=worst.detail)


class RedisCrawlHandle:
    def __init__(self, spec: JobSpec, client, run: str, fanout: int, timeout_s: float):
        self.spec, self.client, self.run, self.fanout = spec, client, run, fanout
        self.started = time.monotonic()
        self.timeout_s = timeout_s

    def poll(self, now: float | None = None) -> CrawlResult | None:
        key = RESULTS_KEY.format(run=self.run)
        if self.client.llen(key) < self.fanout:
            if time.monotonic() - self.started > self.timeout_s:
                got = [CrawlResult(**json.loads(x)) for x in self.client.lrange(key, 0, -1)]
                self._cleanup()
                r = merge(got) if got else CrawlResult(outcome="timeout")
                r.outcome = "timeout"
                r.detail = f"no result from {self.fanout - len(got)} worker(s) in {self.timeout_s:.0f}s (worker died?)"
                return r
            return None
        results = [CrawlResult(**json.loads(x)) for x in self.client.lrange(key, 0, -1)]
        self._cleanup()
        return merge(results)

    def stop(self) -> None:
        """Nothing to stop here: a worker finishes the crawl it took and reports it; a restarted
        scheduler finds the job still marked running and schedules it again."""

    def _cleanup(self) -> None:
        keys = list(self.client.scan_iter(RUN_KEYS.format(run=self.run))) + [RESULTS_KEY.format(run=self.run)]
        self.client.delete(*keys)


class RedisDispatchRunner:
    def __init__(self, redis_url: str, *, base_urls: dict[str, str] | None = None, timeout_s: float = 1800,
                 fanout: dict[str, int] | None = None):
        self.client = _client(redis_url)
        self.base_urls = base_urls or {}
        self.timeout_s = timeout_s
        self.fanout = fanout or {}

    @classmethod
    def from_settings(cls, settings, **kw) -> RedisDispatchRunner:
        from core.errors import ConfigError

        if not settings.redis_url:
            raise ConfigError("--dispatch redis needs OPMON_REDIS_URL (e.g. redis://localhost:6379/0)")
        return cls(settings.redis_url, **kw)

    def start(self, spec: JobSpec, extra_args: dict[str, str] | None = None) -> RedisCrawlHandle:
        run = uuid.uuid4().hex[:16]
        n = max(1, self.fanout.get(spec.spider, 1))
        base = self.base_urls.get(spec.spider) or self.base_urls.get(spec.site) or self.base_urls.get("*")
        msg = json.dumps({"run": run, "spider": spec.spider, "args": list(spec.args), "site": spec.site,
                          "base_url": base,
                          "brands": list(spec.brands), "extra_args": extra_args or {},
                          "settings": run_settings(run)}, ensure_ascii=False)
        self.client.rpush(JOBS_KEY, *([msg] * n))
        log.info("crawl queued: %s (run %s, %d worker(s))", spec.key, run, n)
        return RedisCrawlHandle(spec, self.client, run, n, self.timeout_s + 60)


def run_worker(settings, stop: threading.Event, *, base_urls: dict[str, str] | None = None,
               extra_settings: dict[str, str] | None = None, max_jobs: int | None = None) -> int:
    """Take crawl jobs from Redis until `stop` (or `max_jobs` done); returns how many ran."""
    from core.errors import ConfigError

    if not settings.redis_url:
        raise ConfigError("--worker needs OPMON_REDIS_URL (e.g. redis://localhost:6379/0)")
    client = _client(settings.redis_url)
    # the crawls' scrapy-redis scheduler is what lets several workers share one run
    env = {"OPMON_DISTRIBUTED": "true", "OPMON_REDIS_URL": settings.redis_url,
           "OPMON_DATA_DIR": str(settings.data_dir)}
    runner = SubprocessRunner(Path(settings.data_dir) / "crawls", extra_settings=extra_settings, use_jobdir=False,
                              env=env)
    done = 0
    log.info("crawler worker ready (queue %s)", JOBS_KEY)
    while not stop.is_set() and (max_jobs is None or done < max_jobs):
        item = client.blpop([JOBS_KEY], timeout=1)
        if item is None:
            continue
        job = json.loads(item[1])
        spec = JobSpec(job["spider"], tuple(tuple(a) for a in job["args"]), job["site"], tuple(job["brands"]))
        runner.extra_settings = {**(extra_settings or {}), **job["settings"]}
        runner.base_urls = {"*": job["base_url"]} if job.get("base_url") else (base_urls or {})
        handle = runner.start(spec, job.get("extra_args"))
        result = None
        while result is None:
            if stop.wait(0.5):
                handle.stop()
            result = handle.poll()
        client.rpush(RESULTS_KEY.format(run=job["run"]), json.dumps(asdict(result), ensure_ascii=False))
        client.expire(RESULTS_KEY.format(run=job["run"]), RESULT_TTL_S)
        log.info("crawl %s (run %s): %s, %d items", spec.key, job["run"], result.outcome, result.items)
        done += 1
    return done
