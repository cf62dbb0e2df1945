"""Stage 3: drop repeats of an id within a crawl; mark near-duplicates with `dup_of`.

Repeats of an id (overlapping time slices, a page served twice) are dropped: the first copy goes on.
Across crawls the store's upsert by id handles re-crawls. Near-duplicates (same text modulo links,
@names, emoticons and punctuation, or estimated character-bigram Jaccard >= NEARDUP_THRESHOLD, see
neardup.py) are kept but marked `dup_of` = the id of the first copy seen in this crawl, so that
volumes can be counted with or without repost storms and spam. Texts shorter than NEARDUP_MIN_CHARS
after cleaning are never marked ("好评" from two customers is two opinions).

Repost storms outlive one crawl (a scheduled keyword crawl runs every few minutes), so at the start the
index is seeded from the store: the mentions published in the last DEDUPE_SEED_HOURS hours (default
48; 0 = off), newest first, at most DEDUPE_SEED_MAX (default 20,000), each standing for its own
original (`dup_of` if it has one, else its id). A new copy of a stored post is then marked with the
stored post's id. A store that cannot be read only costs the seeding (WARNING, `pipeline/dedupe/seed_failed`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from core.errors import OpmonError
from crawlers.pipelines.base import Stage
from crawlers.pipelines.neardup import NearDupIndex, fingerprint_text, minhash
from crawlers.storage import crawl_store
from store.base import SearchQuery

logger = logging.getLogger(__name__)


def _norm(mention) -> str:
    """What near-duplicates are judged on: title and text, without what varies between copies."""
    return fingerprint_text(f"{mention.title or ''}{mention.text}")


class DedupePipeline(Stage):
    stage = "dedupe"

    def __init__(self, crawler):
        super().__init__(crawler)
        s = crawler.settings
        self.min_chars = s.getint("NEARDUP_MIN_CHARS", 12)
        self.max_tracked = s.getint("DEDUPE_MAX_TRACKED", 200_000)
        self.index = NearDupIndex(s.getfloat("NEARDUP_THRESHOLD", 0.7), self.max_tracked)
        self.seen_ids: set[str] = set()
        self.exact: dict[str, str] = {}
        self.seed_hours = s.getfloat("DEDUPE_SEED_HOURS", 48.0)
        self.seed_max = s.getint("DEDUPE_SEED_MAX", 20_000)
        self.seed_enabled = s.getbool("STORE_ENABLED", True) and self.seed_hours > 0 and self.seed_max > 0

    def open_spider(self):
        if not self.seed_enabled:
            return
        try:
            stored = self._recent_mentions()
        except (OpmonError, OSError) as exc:
            logger.warning("dedupe: could not read recent mentions from the store (%s); near-duplicates are "
                           "only found within this crawl", exc)
            self.stats.inc_value("pipeline/dedupe/seed_failed")
            return
        for m in reversed(stored):  # oldest first: the earliest copy stands for the others
            norm = _norm(m)
            if len(norm) >= self.min_chars:
                self._original_of(norm, m.dup_of or m.id)
        self.stats.set_value("pipeline/dedupe/seeded", len(stored))

    def _recent_mentions(self) -> list:
        store = crawl_store(self.crawler)
        query = SearchQuery(since=datetime.now(UTC) - timedelta(hours=self.seed_hours), limit=1000)
        out = []
        while len(out) < self.seed_max:
            page = store.search(query.model_copy(update={"limit": min(1000, self.seed_max - len(out))}))
            out.extend(page.items)
            if not page.next_cursor or not page.items:
                break
            query = query.model_copy(update={"cursor": page.next_cursor})
        return out

    def _original_of(self, norm: str, ident: str) -> str | None:
        """The id of an earlier near-copy of this text, or None (then this text is indexed as `ident`)."""
        original = self.exact.get(norm)
        if original is None:
            original = self.index.find_or_add(minhash(norm), ident)
        if original is None or original == ident:
            self.exact[norm] = ident
            return None
        return original

    def process_item(self, mention):
        if mention.id in self.seen_ids:
            raise self.drop("duplicate_id", mention.id, log_level="DEBUG")
        if len(self.seen_ids) >= self.max_tracked:
            self.seen_ids.clear()
            self.exact.clear()
        self.seen_ids.add(mention.id)
        if mention.dup_of:
            return mention
        norm = _norm(mention)
        if len(norm) < self.min_chars:
            return mention
        original = self._original_of(norm, mention.id)
        if original is not None:
            mention.dup_of = original
            self.stats.inc_value("pipeline/dedupe/near_duplicates")
        return mention
