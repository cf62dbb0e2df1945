"""Stage 2: tag each mention with every monitored brand it mentions (never drops)."""

from __future__ import annotations

import logging

from core.brands import Brand, BrandRepo, load_brands_yaml
from core.errors import OpmonError
from core.settings import get_settings
from crawlers.pipelines.base import Stage
from store.sqlite_db import StateDB

logger = logging.getLogger(__name__)


def load_monitored_brands(settings=None) -> list[Brand]:
    """Enabled brands from the state DB, plus brands.yaml entries not in the DB (the DB wins:
    brands.yaml only seeds it)."""
    settings = settings or get_settings()
    by_name: dict[str, Brand] = {}
    path = settings.brands_file
    if path and path.exists():
        for b in load_brands_yaml(path):
            by_name[b.name] = b
    db = StateDB(settings.state_db)
    try:
        for b in BrandRepo(db).list():
            by_name[b.name] = b
    finally:
        db.close()
    return [b for b in by_name.values() if b.enabled]


class BrandPipeline(Stage):
    """A mention can match several brands; one that matches none is kept with brands=[] (the keyword
    search already targeted it). Exclusions veto a brand ("小米粥" is not 小米)."""

    stage = "brands"

    def __init__(self, crawler):
        super().__init__(crawler)
        self.brands: list[Brand] = []
        self.matchers: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []

    def open_spider(self):
        try:
            self.brands = load_monitored_brands()
        except OpmonError as exc:
            logger.error("brand matching off: %s", exc)
            self.stats.set_value("pipeline/brands/unavailable", 1)
        # Brand.matches() semantics, with the lower-cased terms computed once instead of per mention.
        self.matchers = [(b.name, tuple(b.match_terms()), tuple(x.lower() for x in b.exclusions if x))
                         for b in self.brands]
        logger.info("brand matching: %d monitored brands", len(self.brands))

    def process_item(self, mention):
        if not self.matchers:
            return mention
        low = f"{mention.title or ''}\n{mention.text}".lower()
        matched = [name for name, terms, exclusions in self.matchers
                   if any(t in low for t in terms) and not any(x in low for x in exclusions)]
        if matched:
            mention.brands = sorted(set(mention.brands) | set(matched))
            self.stats.inc_value("pipeline/brands/matched")
        else:
            self.stats.inc_value("pipeline/brands/unmatched")
        return mention
