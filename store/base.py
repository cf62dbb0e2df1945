"""The `Store` interface: what every mention backend (embedded SQLite, Elasticsearch) answers.

Both backends must behave identically; `tests/store/test_behaviour.py` runs one suite over both.
Times going in may be in any zone; times coming out are timezone-aware.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, Field

from core.mention import Emotion, Kind, Label, Mention

Interval = Literal["5min", "hour", "day", "week"]
SplitBy = Literal["source", "brand", "emotion"]
Breakdown = Literal["source", "location", "sentiment", "emotion", "brand", "kind", "touchpoint"]
SENTIMENT_KEYS = ("positive", "neutral", "negative", "unscored")
UNSCORED = "unscored"  # the key of mentions without an emotion: breakdowns and trend splits
# Filters accept only the labels `Mention.emotion` may hold; a breakdown by emotion counts mentions
# without one under "unscored", like the sentiment breakdown.
EMOTIONS: tuple[str, ...] = get_args(Emotion)


class Filters(BaseModel):
    """Filters shared by search, count, trend, keywords and breakdowns. All optional, AND-ed."""

    q: str | None = Field(default=None, description="Chinese full-text query; 2-character terms work")
    brands: list[str] = Field(default_factory=list, description="any of these brands")
    sources: list[str] = Field(default_factory=list)
    kinds: list[Kind] = Field(default_factory=list)
    sentiments: list[Label] = Field(default_factory=list)
    emotions: list[Emotion] = Field(default_factory=list, description="any of these emotions")
    since: datetime | None = Field(default=None, description="published_at >= since")
    until: datetime | None = Field(default=None, description="published_at < until")
    include_dups: bool = Field(default=True, description="False drops near-duplicates (dup_of set)")


class SearchQuery(Filters):
    limit: int = Field(default=20, ge=1, le=1000)
    cursor: str | None = Field(default=None, description="opaque cursor from the previous page")
    sort: Literal["newest", "engagement"] = "newest"


class SearchPage(BaseModel):
    items: list[Mention]
    next_cursor: str | None = Field(description="None on the last page")
    total: int | None = Field(default=None, description="matches in all pages, when cheap to know")


class TrendQuery(BaseModel):
    brands: list[str] = Field(default_factory=list, description="empty = all mentions")
    sources: list[str] = Field(default_factory=list)
    emotions: list[Emotion] = Field(
        default_factory=list, description="any of these emotions (empty = all). An emotion filter or "
        "split is counted from the mentions, not the rollups (which have no emotion): slower on long ranges")
    since: datetime
    until: datetime
    interval: Interval = "day"
    tz: str = "Asia/Shanghai"
    split_by: SplitBy | None = Field(
        default=None, description='also split by source, brand or emotion. By emotion, the keys are the '
        'requested emotions (or all six) plus "unscored" for mentions without an emotion, when there are any '
        '(as in a breakdown by emotion)')


class TrendBucket(BaseModel):
    start: datetime = Field(description="bucket start, aware, in the query's time zone")
    key: str | None = Field(default=None, description="the split value (source, brand or emotion) or None")
    total: int
    positive: int
    neutral: int
    negative: int
    unscored: int


class KeywordCount(BaseModel):
    term: str
    count: int


class ExportBatch(BaseModel):
    items: list[Mention]
    next_cursor: str = Field(description="pass back to continue; stable when nothing new arrived")


class UpsertResult(BaseModel):
    inserted: int = 0
    updated: int = 0


class SeriesQuery(BaseModel):
    """Fixed-step count series for spike detection (complete buckets only is the caller's job)."""

    brand: str | None = None
    since: datetime
    until: datetime
    step: timedelta = timedelta(minutes=5)


class Series(BaseModel):
    start: datetime
    step: timedelta
    total: list[int]
    negative: list[int]


class Store(abc.ABC):
    """A mention store. Implementations: `store.sqlite.SqliteStore`, `store.elastic.ElasticStore`."""

    name: str
    # False for a store whose writes are local CPU work (SQLite): a crawl then writes on the reactor,
    # because a writer thread would only trade the GIL back and forth with it (crawlers/pipelines/store.py).
    writes_over_network: bool = True

    # Lifecycle ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Create schema / apply mappings idempotently. Safe to call on every start-up."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def ping(self) -> bool:
        """True when the backend answers (used by /readyz)."""

    # Writes ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def upsert(self, mentions: Sequence[Mention], *, replace: Collection[str] = ()) -> UpsertResult:
        """Insert or update by `id`, atomically per call: a re-crawl updates metrics and
        enrichment, never creates a duplicate. Rollups stay consistent with the rows.

        An update keeps the stored enrichment (brands, sentiment, emotion, keywords, ...) that the
        incoming copy leaves empty, so a crawler re-fetching metrics does not wipe what was
        scored earlier. The enrichment fields named in `replace` take the incoming value even
        when it is empty (`replace={"brands"}` lets `opmon brands rematch` clear a wrong brand).
        A name in `replace` that is not an enrichment field is an InvalidInput."""

    # Reads -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def get(self, mention_id: str) -> Mention | None: ...

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> SearchPage:
        """Newest first (published_at desc, id desc) or by engagement; opaque cursor pagination."""

    @abc.abstractmethod
    def count(self, filters: Filters) -> int: ...

    @abc.abstractmethod
    def trend(self, query: TrendQuery) -> list[TrendBucket]:
        """Counts per bucket split by sentiment (and optionally by source, brand or emotion), empty
        buckets filled with zeros, bucket starts aligned in `query.tz` (weeks start on Monday).
        Answered from the rollups where they can answer exactly; emotion filters and splits (and, in
        SQLite, several brands in one series) count the matching mentions through the indexes."""

    @abc.abstractmethod
    def top_keywords(self, filters: Filters, limit: int = 20) -> list[KeywordCount]: ...

    @abc.abstractmethod
    def breakdown(self, filters: Filters, by: Breakdown, limit: int = 20) -> dict[str, int]:
        """Mention counts per value of one field (touchpoint counts each aspect once per mention)."""

    @abc.abstractmethod
    def touchpoints(self, filters: Filters) -> dict[str, dict[str, int]]:
        """touchpoint -> {positive, neutral, negative} counts of aspects."""

    @abc.abstractmethod
    def series(self, query: SeriesQuery) -> Series:
        """Total and negative counts per fixed step (5 min by default) for spike detection."""

    @abc.abstractmethod
    def export(self, cursor: str | None, limit: int = 1000) -> ExportBatch:
        """Mentions in ingest order after `cursor` (None = from the start). Across calls: no gaps,
        no duplicates. Each mention appears once, at the position of its first ingest."""

    def iter_export(self, cursor: str | None = None, batch: int = 1000) -> Iterator[ExportBatch]:
        """Export batches until caught up; each batch's `next_cursor` resumes after it."""
        while True:
            page = self.export(cursor, batch)
            if not page.items:
                return
            yield page
            cursor = page.next_cursor

    # Crawl state (incremental crawling) --------------------------------------------------------
    @abc.abstractmethod
    def get_crawl_state(self, spider: str, query: str) -> dict | None: ...

    @abc.abstractmethod
    def set_crawl_state(self, spider: str, query: str, state: dict) -> None: ...

    # Context manager sugar
    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
