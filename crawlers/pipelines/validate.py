"""Stage 1: validate against the Mention model and normalise; enforce `since`."""

from __future__ import annotations

import logging
import unicodedata

from pydantic import ValidationError

from core.mention import Kind, Mention, mention_errors
from crawlers.parsing.text import clean_location
from crawlers.pipelines.base import Stage

logger = logging.getLogger(__name__)


class ValidatePipeline(Stage):
    """dict or Mention in, Mention out. Invalid items are logged with the reason and counted
    (`pipeline/validate/dropped/invalid`, plus `.../invalid_field/<field>`), never fatal."""

    stage = "validate"

    def process_item(self, item):
        spider = self.crawler.spider
        if isinstance(item, Mention):
            data = item.model_dump()
        elif isinstance(item, dict):
            data = dict(item)
        else:
            raise self.drop("not_a_mention", f"{type(item).__name__} is not a mention dict")
        if isinstance(data.get("text"), str):
            data["text"] = unicodedata.normalize("NFC", data["text"])
        if data.get("location") is not None:
            data["location"] = clean_location(data["location"])
        if not data.get("keyword") and getattr(spider, "keyword", None):
            data["keyword"] = spider.keyword
        try:
            mention = Mention.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                field = str(err.get("loc", ("mention",))[0]) if err.get("loc") else "mention"
                self.stats.inc_value(f"pipeline/validate/invalid_field/{field}")
            raise self.drop("invalid", f"{data.get('id', '?')}: {mention_errors(exc)}") from None
        since = getattr(spider, "since", None)
        if since is not None and mention.published_at < since:
            raise self.drop("before_since", f"{mention.id} published {mention.published_at:%Y-%m-%d %H:%M}",
                            log_level="DEBUG")
        if mention.parent_id is None and mention.kind is not Kind.comment and hasattr(spider, "note_published"):
            spider.note_published(mention.published_at)
        self.stats.inc_value("pipeline/validate/ok")
        return mention
