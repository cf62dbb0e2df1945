"""Stage 5: write to the configured store in batches (`Store.upsert`), flushed on close.

An item counts as scraped only after its batch is committed. A failed write is retried once; if it
fails again the batch's items are dropped with reason `store_error` (ERROR log,
`pipeline/store/failed_batches`), and the crawl's incremental state is not advanced.
When feed exports are configured (`-O out.jsonl`), the item passed on is the mention as a JSON-ready
dict (Scrapy's JSON encoder would drop the time zones of a model's datetimes); otherwise the Mention.
`-s STORE_ENABLED=0` skips writing (a dry run into a feed file).
"""

from __future__ import annotations

import logging
import time

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

    def open_spider(self):
        if self.enabled:
            self.store = crawl_store(self.crawler)  # fail early: a crawl that cannot store is useless

    def process_batch(self, items: list) -> tuple[list, dict]:
        counters = {}
        if self.store is not None:
            try:
                result = self.store.upsert(items)
            except OpmonError as exc:
                logger.warning("store write failed (%s); retrying once", exc)
                time.sleep(1.0)
                result = self.store.upsert(items)
            counters = {"inserted": result.inserted, "updated": result.updated}
        out = [m.model_dump(mode="json") for m in items] if self.as_dicts else list(items)
        return out, counters

    def batch_failed(self, items: list, exc: Exception) -> list:
        logger.error("store: lost a batch of %d mentions: %s", len(items), exc, exc_info=exc)
        self.stats.inc_value("pipeline/store/failed_batches")
        return [self.drop("store_error", f"{m.id}: {exc}", "ERROR") for m in items]
