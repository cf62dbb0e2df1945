"""Stage 3: drop repeats of an id within a crawl; mark near-duplicates with `dup_of`.

Repeats of an id (overlapping time slices, a page served twice) are dropped: the first copy goes on.
Across crawls the store's upsert by id handles re-crawls. Near-duplicates (same text modulo links,
@names, emoticons and punctuation, or estimated character-bigram Jaccard >= NEARDUP_THRESHOLD, see
neardup.py) are kept but marked `dup_of` = the id of the first copy seen in this crawl, so that
volumes can be counted with or without repost storms and spam. Texts shorter than NEARDUP_MIN_CHARS
after cleaning are never marked ("好评" from two customers is two opinions).
"""

from __future__ import annotations

from crawlers.pipelines.base import Stage
from crawlers.pipelines.neardup import NearDupIndex, fingerprint_text, minhash


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

    def process_item(self, mention):
        if mention.id in self.seen_ids:
            raise self.drop("duplicate_id", mention.id, log_level="DEBUG")
        if len(self.seen_ids) >= self.max_tracked:
            self.seen_ids.clear()
            self.exact.clear()
        self.seen_ids.add(mention.id)
        if mention.dup_of:
            return mention
        norm = fingerprint_text(f"{mention.title or ''}{mention.text}")
        if len(norm) < self.min_chars:
            return mention
        original = self.exact.get(norm)
        if original is None:
            original = self.index.find_or_add(minhash(norm), mention.id)
        if original is not None and original != mention.id:
            mention.dup_of = original
            self.stats.inc_value("pipeline/dedupe/near_duplicates")
            return mention
        self.exact[norm] = mention.id
        return mention
