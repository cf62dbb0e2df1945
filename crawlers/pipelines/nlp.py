"""Stage 4: sentiment, keywords, aspects and language, one model call per batch.

Off (NotConfigured) when OPMON_NLP_ENABLED=false. When the model cannot be loaded the crawl still
stores its mentions, unscored (`opmon score` can score them later), with an ERROR line and the stat
`pipeline/nlp/unavailable`; a batch that fails is passed on unscored and counted.
"""

from __future__ import annotations

import logging

from scrapy.exceptions import NotConfigured

from core.settings import get_settings
from crawlers.pipelines.base import BatchingPipeline

logger = logging.getLogger(__name__)


class NlpPipeline(BatchingPipeline):
    stage = "nlp"
    batch_setting = "NLP_BATCH_SIZE"

    def __init__(self, crawler):
        super().__init__(crawler)
        self.analyzer = None

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("NLP_ENABLED", True) or not get_settings().nlp_enabled:
            raise NotConfigured("NLP disabled (OPMON_NLP_ENABLED=false)")
        return cls(crawler)

    def open_spider(self):
        try:
            from nlp.analyzer import Analyzer

            self.analyzer = Analyzer.from_settings(get_settings())
        except Exception as exc:  # ImportError, ModelError, a broken checkpoint...
            logger.error("NLP unavailable, storing mentions unscored: %s: %s", type(exc).__name__, exc)
            self.stats.set_value("pipeline/nlp/unavailable", 1)
            return
        try:  # brand and product names stay whole in extracted keywords
            from crawlers.pipelines.brands import load_monitored_brands

            terms = {t for b in load_monitored_brands() for t in [b.name, *b.keywords, *b.aliases]}
            if terms and hasattr(self.analyzer, "add_terms"):
                self.analyzer.add_terms(sorted(terms))
        except Exception as exc:
            logger.warning("could not teach brand names to the keyword extractor: %s", exc)

    def process_batch(self, items: list) -> list:
        if self.analyzer is None:
            return items
        scored = self.analyzer.analyze(items)
        return scored, {"scored": len(scored)}

    def batch_failed(self, items: list, exc: Exception) -> list:
        logger.error("NLP failed on a batch of %d; passing it on unscored: %s", len(items), exc, exc_info=exc)
        self.stats.inc_value("pipeline/nlp/failed_batches")
        self.stats.inc_value("pipeline/nlp/unscored", len(items))
        return items
