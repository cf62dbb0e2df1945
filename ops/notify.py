"""The `crawl_blocked` notice: a blocked crawl reaches people through the alert channel.

`alerts.monitor.notify_crawl_blocked` opens one `crawl_blocked` alert per (spider, query) and publishes
it through the webhook outbox (once; repeated blocks bump its count); a later successful crawl of the
same job resolves it (`clear_crawl_blocked`).
"""

from __future__ import annotations

import logging

from core.settings import Settings
from ops.crawl import CrawlResult
from ops.jobs import JobState
from store.sqlite_db import StateDB

log = logging.getLogger(__name__)


def job_query(job: JobState) -> str:
    """What the job crawls, readable: `keyword=澜鲸手机`, `product_id=100088880001`."""
    return "&".join(f"{k}={v}" for k, v in job.spec.args)


class BlockedNotifier:
    """Scheduler hook: hand each blocked crawl to the alert channel; clear it when the job recovers."""

    def __init__(self, state: StateDB, settings: Settings):
        self.state = state
        self.settings = settings
        self.sent: list[dict] = []

    def _outbox(self):
        from alerts.outbox import Outbox

        return Outbox(self.state, self.settings)

    def __call__(self, job: JobState, result: CrawlResult) -> None:
        from alerts.monitor import notify_crawl_blocked

        signal = result.signal or "unknown"
        detail = (f"{result.detail} · {job.consecutive_blocked} blocked run(s) in a row; "
                  f"brands: {', '.join(job.spec.brands) or '-'}")
        alert = notify_crawl_blocked(self.state, job.spec.spider, job_query(job), signal, detail,
                                     outbox=self._outbox())
        self.sent.append({"alert": alert.id, "spider": job.spec.spider, "query": job_query(job), "signal": signal})

    def recovered(self, job: JobState, result: CrawlResult) -> None:
        from alerts.monitor import clear_crawl_blocked

        cleared = clear_crawl_blocked(self.state, job.spec.spider, job_query(job), outbox=self._outbox())
        if cleared:
            log.info("crawl %s works again: resolved %d crawl_blocked notice(s)", job.key, len(cleared))
