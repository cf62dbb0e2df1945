"""One mention store per crawl, shared by the store pipeline, the spider (incremental state) and the
outcome extension. Opened lazily; closed by `CrawlOutcome` when the spider closes."""

from __future__ import annotations

import logging

from core.settings import get_settings
from store.base import Store

logger = logging.getLogger(__name__)
_ATTR = "_opmon_store"


def crawl_store(crawler) -> Store:
    store = getattr(crawler, _ATTR, None)
    if store is None:
        from store.factory import open_store

        store = open_store(get_settings())
        setattr(crawler, _ATTR, store)
    return store


def close_crawl_store(crawler) -> None:
    store = getattr(crawler, _ATTR, None)
    if store is not None:
        setattr(crawler, _ATTR, None)
        try:
            store.close()
        except Exception:  # closing must not hide the crawl's own outcome
            logger.exception("closing the store failed")
