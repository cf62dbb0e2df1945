"""Stage 2: tag each mention with every monitored brand it mentions (never drops)."""

from __future__ import annotations

import logging

from core.brands import Brand, BrandMatcher, load_monitored_brands
from core.errors import OpmonError
from crawlers.pipelines.base import Stage

logger = logging.getLogger(__name__)

__all__ = ["BrandPipeline", "load_monitored_brands"]  # load_monitored_brands: re-exported from core.brands


class BrandPipeline(Stage):
    """A mention can match several brands; one that matches none is kept with brands=[] (the keyword
    search already targeted it). Exclusions veto a brand ("小米粥" is not 小米). The rule itself is
    core.brands.BrandMatcher, shared with `opmon brands rematch`."""

    stage = "brands"

    def __init__(self, crawler):
        super().__init__(crawler)
        self.brands: list[Brand] = []
        self.matcher = BrandMatcher([])

    def open_spider(self):
        try:
            self.brands = load_monitored_brands()
        except OpmonError as exc:
            logger.error("brand matching off: %s", exc)
            self.stats.set_value("pipeline/brands/unavailable", 1)
        self.matcher = BrandMatcher(self.brands)
        logger.info("brand matching: %d monitored brands", len(self.brands))

    def process_item(self, mention):
        if not self.matcher:
            return mention
        matched = self.matcher.match(mention.title, mention.text)
        if matched:
            mention.brands = sorted(set(mention.brands) | set(matched))
            self.stats.inc_value("pipeline/brands/matched")
        else:
            self.stats.inc_value("pipeline/brands/unmatched")
        return mention
