"""Stage 5: write to the configured store in batches (`Store.upsert`), flushed on close.

An item counts as scraped only after its batch is committed. A failed write is retried once after
`STORE_RETRY_WAIT` seconds (default 1; the wait never blocks the reactor); if it fails again the batch's items are dropped with reason `store_error` (ERROR log,
`pipeline/store/failed_batches`), and the crawl's incremental state is not advanced.
When feed exports are configured (`-O out.jsonl`), the item passed on is the mention as a JSON-ready
dict (Scrapy's JSON encoder would drop the time zones of a model's datetimes); otherwise the Mention.
`-s STORE_ENABLED=0` skips writing (a dry run into a feed file).

Where a batch is written (`STORE_WRITE_THREAD`, default `auto`): a store that writes over the network
(Elasticsearch) on a thread of this stage, so the reactor keeps fetching while the cluster answers; a
local one (SQLite) on the reactor itself. SQLite's write is CPU work for this process either way, and
on a thread it releases and retakes the GIL around every statement step, so the reactor and the writer
hand the GIL back and forth: measured on the crawl benchmark (2 cores, NLP off), 1.2-1.4 s more for
20,000 mentions, +0.75 CPU s of futex time (docs/benchmarks.md, `## Crawl`). The cost: the reactor
pauses while a batch commits (~20 ms per 500 mentions) and, when another process holds SQLite's write
lock (a concurrent `opmon ingest`), for as long as that lasts (up to the 30 s busy timeout); set
`STORE_WRITE_THREAD=1` when crawls share a busy SQLite file, `0` to force the reactor.
"""

from __future__ import annotations

import asyncio
import logging

from core.errors import OpmonError
from crawlers.pipelines.base import BatchingPipeline
from crawlers.storage import crawl_store

logger = logging.getLogger(__name__)


class StorePipeline(BatchingPipeline):
    stage = "store"
    batch_setting = "STORE_BATCH_SIZE"
    default_batch_size = 500

    def __init__(self, crawler):
        super().__init__(crawler)
        self.enabled = crawler.settings.getbool("STORE_ENABLED", True)
        self.as_dicts = bool(crawler.settings.getdict("FEEDS"))
        self.store = None
        self.in_thread = True
        self.retry_wait_s = max(0.0, crawler.settings.getfloat("STORE_RETRY_WAIT", 1.0))

    def open_spider(self):
        if self.enabled:
            self.store = crawl_store(self.crawler)  # fail early: a crawl that cannot store is useless
        self.in_thread = self._write_in_thread()

    def _write_in_thread(self) -> bool:
        choice = str(self.crawler.settings.get("STORE_WRITE_THREAD", "auto")).strip().lower()
        if choice in ("", "auto"):
            return self.store is not None and getattr(self.store, "writes_over_network", True)
        return choice in ("1", "true", "yes", "on")

    async def run_batch(self, items: list):
        """Write the batch, once more after `retry_wait_s` if the store failed (an OpmonError)."""
        try:
            return await self._write_where_configured(items)
        except OpmonError as exc:
            logger.warning("store write failed (%s); retrying once", exc)
            await asyncio.sleep(self.retry_wait_s)
            return await self._write_where_configured(items)

    async def _write_where_configured(self, items: list):
        if self.in_thread:  # on the stage's thread: process_batch
            return await super().run_batch(items)
        return self._write(items)  # on the reactor (see the module docstring)

    def process_batch(self, items: list) -> tuple[list, dict]:
        return self._write(items)

    def _write(self, items: list) -> tuple[list, dict]:
        counters = {}
        if self.store is not None:
            result = self.store.upsert(items)
            counters = {"inserted": result.inserted, "updated": result.updated}
        out = [m.model_dump(mode="json") for m in items] if self.as_dicts else list(items)
        return out, counters

    def batch_failed(self, items: list, exc: Exception) -> list:
        logger.error("store: lost a batch of %d mentions: %s", len(items), exc, exc_info=exc)
        self.stats.inc_value("pipeline/store/failed_batches")
        return [self.drop("store_error", f"{m.id}: {exc}", "ERROR") for m in items]
