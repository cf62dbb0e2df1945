"""Shared pipeline plumbing: drop counting and batching.

Every stage counts what it drops in `crawler.stats` as `pipeline/<stage>/dropped/<reason>` and
mirrors it to the `opmon_items_dropped_total{stage,reason}` Prometheus counter.

`BatchingPipeline` turns Scrapy's one-item-at-a-time `process_item` into batches: each item waits
(as an awaitable) until its batch is full, or no new item came for BATCH_IDLE_FLUSH seconds (a page's
items have all arrived), or BATCH_MAX_WAIT seconds have passed since the first one; then the batch is
processed in one call on a dedicated worker thread (so the model or the database never blocks the
reactor, and batches run one after another in order). An item is only passed on — and only counted
as scraped — after its batch succeeded; on close the last partial batch is flushed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scrapy.exceptions import DropItem

from core.metrics import ITEMS_DROPPED, STAGE_LATENCY

logger = logging.getLogger(__name__)


class Stage:
    stage = "stage"

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def drop(self, reason: str, message: str, log_level: str = "WARNING") -> DropItem:
        self.stats.inc_value(f"pipeline/{self.stage}/dropped/{reason}")
        ITEMS_DROPPED.labels(self.stage, reason).inc()
        return DropItem(f"[{self.stage}/{reason}] {message}", log_level=log_level)


class BatchingPipeline(Stage):
    """Subclasses implement `process_batch(items) -> list` (same length; an Exception instance in
    the result drops that one item), or `-> (list, {stat: n})` to count things: it runs on a worker
    thread, so it must not touch crawler.stats itself. Override `batch_failed(items, exc) -> list`
    to decide what a failed batch becomes (default: every item dropped with reason batch_failed)."""

    batch_setting = "BATCH_SIZE"
    default_batch_size = 256

    def __init__(self, crawler):
        super().__init__(crawler)
        s = crawler.settings
        self.batch_size = max(1, s.getint(self.batch_setting, self.default_batch_size))
        self.max_wait = s.getfloat("BATCH_MAX_WAIT", 1.0)
        self.idle_flush = s.getfloat("BATCH_IDLE_FLUSH", 0.05)
        self.first_at = self.last_at = 0.0
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.running: set[asyncio.Task] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.executor: ThreadPoolExecutor | None = None

    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def process_item(self, item):
        loop = self._loop()
        fut = loop.create_future()
        self.pending.append((item, fut))
        if len(self.pending) >= self.batch_size:
            self._flush()
        else:
            now = self.last_at = loop.time()
            if len(self.pending) == 1:
                self.first_at = now
            if self.timer is None:  # one timer per batch, not one per item: it re-arms itself
                self.timer = loop.call_later(min(self.idle_flush, self.max_wait), self._timer_fired)
        return await fut

    def _timer_fired(self) -> None:
        self.timer = None
        if not self.pending:
            return
        loop = self._loop()
        due = min(self.last_at + self.idle_flush, self.first_at + self.max_wait)
        if loop.time() >= due - 1e-3:
            self._flush()
        else:
            self.timer = loop.call_later(due - loop.time(), self._timer_fired)

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        task = asyncio.ensure_future(self._run(batch))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _run(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        items = [item for item, _ in batch]
        started = time.perf_counter()
        try:
            results = await self.run_batch(items)
            if isinstance(results, tuple):  # (results, {stat: increment}) counted here, on the reactor
                results, counters = results
                for key, n in counters.items():
                    self.stats.inc_value(f"pipeline/{self.stage}/{key}", n)
            if len(results) != len(items):
                raise RuntimeError(f"{self.stage}: batch of {len(items)} gave {len(results)} results")
        except Exception as exc:
            results = self.batch_failed(items, exc)
        STAGE_LATENCY.labels(self.stage).observe(time.perf_counter() - started)
        self.stats.inc_value(f"pipeline/{self.stage}/batches")
        for (_, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def run_batch(self, items: list):
        """`process_batch(items)` on the stage's one worker thread (batches run in order). A stage
        that does its work elsewhere (NlpPipeline: a worker process; StorePipeline with a local
        store: the reactor) overrides this."""
        if self.executor is None:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"opmon-{self.stage}")
        return await self._loop().run_in_executor(self.executor, self.process_batch, items)

    def process_batch(self, items: list) -> list:
        raise NotImplementedError

    def batch_failed(self, items: list, exc: Exception) -> list:
        logger.error("%s: a batch of %d failed: %s", self.stage, len(items), exc, exc_info=exc)
        self.stats.inc_value(f"pipeline/{self.stage}/failed_batches")
        return [self.drop("batch_failed", f"{type(exc).__name__}: {exc}", "ERROR") for _ in items]

    async def close_spider(self):
        self._flush()
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        self.on_close()

    def on_close(self) -> None:
        pass
