"""The one mention model every source, pipeline, store and API response shares.

Field names are a contract: spider output (`scrapy crawl ... -O out.jsonl`), the stores and the API
all use exactly these names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SHANGHAI = ZoneInfo("Asia/Shanghai")
KNOWN_SOURCES = ("weibo", "tieba", "discuz", "jd", "dianping")
# Configured (config-driven) sites may add their own source names; keep them id-safe.
SOURCE_PATTERN = re.compile(r"^[a-z][a-z0-9_\-]{1,31}$")
FUTURE_TOLERANCE = timedelta(days=1)


class Kind(StrEnum):
    post = "post"
    comment = "comment"
    review = "review"


# The SMP2020-EWECT emotions the bundled model's emotion head gives (nlp/emotion.py); any other value
# is rejected like an unknown sentiment label.
Emotion = Literal["happy", "angry", "sad", "fear", "surprise", "neutral"]


class Label(StrEnum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


class _Strict(BaseModel):
    # JSON parsing caches field names only: mention texts are almost all unique, so caching values costs
    # time (~3 µs a mention) and saves nothing.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, cache_strings="keys")


class Author(_Strict):
    id: str | None = None
    name: str | None = None
    followers: int | None = Field(default=None, ge=0)
    verified: bool | None = None


class Metrics(_Strict):
    likes: int | None = Field(default=None, ge=0)
    reposts: int | None = Field(default=None, ge=0)
    comments: int | None = Field(default=None, ge=0)
    rating: float | None = Field(default=None, ge=1, le=5)

    def engagement(self) -> int:
        return (self.likes or 0) + (self.reposts or 0) + (self.comments or 0)


class Sentiment(_Strict):
    label: Label
    probs: dict[Label, float] = Field(description="class probabilities, summing to 1")
    score: float = Field(ge=-1, le=1, description="P(positive) - P(negative)")
    model: str


class Aspect(_Strict):
    touchpoint: str = Field(description="customer-journey touchpoint, e.g. 物流 or 客服")
    sentiment: Label
    text: str | None = Field(default=None, description="the sentence that mentions it")


class Mention(_Strict):
    id: str = Field(description='"{source}:{native id}"; Discuz: "discuz:{site}:{pid}"')
    source: str
    kind: Kind
    url: str | None = None
    parent_id: str | None = None
    title: str | None = None
    text: str = ""
    author: Author = Field(default_factory=Author)
    published_at: datetime
    crawled_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    metrics: Metrics = Field(default_factory=Metrics)
    location: str | None = None
    keyword: str | None = None
    # Enrichment, filled by pipelines after the spider.
    brands: list[str] = Field(default_factory=list)
    sentiment: Sentiment | None = None
    emotion: Emotion | None = None  # None: not measured (a model without an emotion head, or unscored)
    keywords: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    aspects: list[Aspect] = Field(default_factory=list)
    dup_of: str | None = None
    lang: str | None = None

    @field_validator("source")
    @classmethod
    def _source_is_a_name(cls, v: str) -> str:
        if not SOURCE_PATTERN.match(v):
            raise ValueError(f"source {v!r} is not a source name (lowercase letters, digits, _ or -)")
        return v

    @field_validator("published_at", "crawled_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.tzinfo.utcoffset(v) is None:
            raise ValueError("datetime must carry a time zone (naive datetimes are ambiguous)")
        return v

    @field_validator("text")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @model_validator(mode="after")
    def _consistent(self) -> Mention:
        if not self.id.startswith(f"{self.source}:") or len(self.id) <= len(self.source) + 1:
            raise ValueError(f"id {self.id!r} must look like '{self.source}:<native id>'")
        if not self.text and not (self.kind is Kind.review and self.metrics.rating is not None):
            raise ValueError("text is empty (only a review that carries a rating may have no text)")
        if self.published_at > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError(f"published_at {self.published_at.isoformat()} is more than a day in the future")
        return self


def mention_errors(exc: Exception) -> str:
    """One readable line from a pydantic ValidationError (or any exception)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "mention"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
