"""Request and response models of the HTTP API (the mention itself is `core.mention.Mention`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.brands import Brand
from core.mention import Mention
from store.base import Breakdown, KeywordCount

MENTION_EXAMPLE: dict[str, Any] = {
    "id": "weibo:5012345678901234",
    "source": "weibo",
    "kind": "post",
    "url": "https://m.weibo.cn/detail/5012345678901234",
    "text": "小米的售后客服太慢了，等了三天都没人回复",
    "author": {"id": "1234567890", "name": "用户A", "followers": 321, "verified": False},
    "published_at": "2026-11-21T20:15:00+08:00",
    "metrics": {"likes": 12, "reposts": 3, "comments": 5},
    "location": "北京",
    "brands": ["小米"],
    "sentiment": {"label": "negative", "probs": {"positive": 0.04, "neutral": 0.08, "negative": 0.88},
                  "score": -0.84, "model": "opmon-bundled-1"},
    "emotion": "angry",
    "aspects": [{"touchpoint": "客服", "sentiment": "negative", "text": "售后客服太慢了"}],
}


class MentionPage(BaseModel):
    items: list[Mention]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    total: int | None = Field(default=None, description="matches across all pages, when cheap to know")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [MENTION_EXAMPLE], "next_cursor": "eyJ0IjoxNzYzNzI3MzAwLCJpZCI6IndlaWJvOjUwMTIifQ", "total": 1}
    ]})


class TrendPoint(BaseModel):
    start: datetime = Field(description="bucket start in the requested time zone")
    total: int
    positive: int
    neutral: int
    negative: int
    unscored: int
    net_sentiment: float | None = Field(description="(positive - negative) / total; null for an empty bucket")


class TrendSeries(BaseModel):
    brand: str | None = Field(description="the brand, or null for all mentions")
    source: str | None = Field(default=None, description="the source when split_by=source")
    emotion: str | None = Field(default=None, description='the emotion when split_by=emotion; "unscored" for '
                                                          "mentions without one")
    total: int
    net_sentiment: float | None
    buckets: list[TrendPoint]


class ShareOfVoiceEntry(BaseModel):
    brand: str
    total: int
    share: float = Field(ge=0, le=1)


class ShareOfVoiceBucket(BaseModel):
    start: datetime
    shares: dict[str, float]


class ShareOfVoice(BaseModel):
    brands: list[ShareOfVoiceEntry]
    buckets: list[ShareOfVoiceBucket]


class TrendResponse(BaseModel):
    interval: Literal["hour", "day", "week"]
    tz: str
    since: datetime
    until: datetime
    split_by: Literal["source", "emotion"] | None
    series: list[TrendSeries]
    share_of_voice: ShareOfVoice | None = Field(description="present when several brands were asked for")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "interval": "day", "tz": "Asia/Shanghai", "since": "2026-11-20T00:00:00+08:00",
        "until": "2026-11-22T00:00:00+08:00", "split_by": None,
        "series": [{"brand": "小米", "source": None, "emotion": None, "total": 30, "net_sentiment": -0.2, "buckets": [
            {"start": "2026-11-20T00:00:00+08:00", "total": 10, "positive": 3, "neutral": 4, "negative": 3,
             "unscored": 0, "net_sentiment": 0.0},
            {"start": "2026-11-21T00:00:00+08:00", "total": 20, "positive": 3, "neutral": 8, "negative": 9,
             "unscored": 0, "net_sentiment": -0.3}]}],
        "share_of_voice": None,
    }, {  # ?brand=小米&emotion=angry&emotion=sad&split_by=emotion
        "interval": "day", "tz": "Asia/Shanghai", "since": "2026-11-20T00:00:00+08:00",
        "until": "2026-11-21T00:00:00+08:00", "split_by": "emotion",
        "series": [{"brand": "小米", "source": None, "emotion": "angry", "total": 9, "net_sentiment": -0.7778,
                    "buckets": [{"start": "2026-11-20T00:00:00+08:00", "total": 9, "positive": 0,
                                 "neutral": 2, "negative": 7, "unscored": 0, "net_sentiment": -0.7778}]},
                   {"brand": "小米", "source": None, "emotion": "sad", "total": 4, "net_sentiment": -0.5,
                    "buckets": [{"start": "2026-11-20T00:00:00+08:00", "total": 4, "positive": 0,
                                 "neutral": 2, "negative": 2, "unscored": 0, "net_sentiment": -0.5}]}],
        "share_of_voice": None,
    }]})


class TopicOut(BaseModel):
    id: str | None = Field(default=None, description="stable while the topic's top terms stay the same")
    label: str = Field(description="a readable name: the topic's top terms")
    terms: list[str]
    size: int = Field(description="mentions in the topic")
    share: float | None = None
    negative_share: float | None = None
    mention_ids: list[str] = Field(default_factory=list, description="representative mentions")


class EmergingTermOut(BaseModel):
    term: str
    count: int | None = None
    baseline_count: int | None = None
    score: float | None = Field(default=None, description="rise in the share of mentions containing the term")


class TopicsResponse(BaseModel):
    brand: str | None
    since: datetime
    until: datetime
    mentions: int = Field(description="mentions in the window")
    sample_size: int = Field(description="mentions the topic model saw (newest first)")
    keywords: list[KeywordCount]
    topics: list[TopicOut]
    emerging: list[EmergingTermOut] = Field(description="terms rising against the preceding baseline window")
    notes: list[str] = Field(default_factory=list, description="why a part is empty, if it is")


class BreakdownRow(BaseModel):
    key: str = Field(description='the value (an emotion, a source, ...); "unscored" for mentions without a '
                                 "sentiment or emotion")
    count: int = Field(description="matching mentions with this value")


class BreakdownResponse(BaseModel):
    by: Breakdown
    since: datetime
    until: datetime
    total: int = Field(description="matching mentions in the window (a brand breakdown may add up to more: "
                                   "a mention naming two brands counts for each)")
    rows: list[BreakdownRow] = Field(description="most frequent first, ties by key; at most `limit`")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "by": "emotion", "since": "2026-11-15T00:00:00+08:00", "until": "2026-11-22T00:00:00+08:00", "total": 120,
        "rows": [{"key": "neutral", "count": 51}, {"key": "angry", "count": 33}, {"key": "happy", "count": 20},
                 {"key": "sad", "count": 9}, {"key": "unscored", "count": 7}],
    }]})


class TouchpointRow(BaseModel):
    touchpoint: str
    positive: int
    neutral: int
    negative: int
    total: int
    net_sentiment: float | None


class TouchpointsResponse(BaseModel):
    brand: str | None
    since: datetime | None
    until: datetime | None
    touchpoints: list[TouchpointRow]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "brand": "小米", "since": "2026-11-15T00:00:00+08:00", "until": "2026-11-22T00:00:00+08:00",
        "touchpoints": [{"touchpoint": "物流", "positive": 4, "neutral": 1, "negative": 11, "total": 16,
                         "net_sentiment": -0.44}],
    }]})


class BatchIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"mentions": [MENTION_EXAMPLE]}]})

    mentions: list[dict[str, Any]] = Field(
        min_length=1, max_length=1000,
        description="1-1000 mentions (the Mention model); each is validated on its own",
    )


class BatchItem(BaseModel):
    index: int
    id: str | None
    status: Literal["accepted", "rejected"]
    error: str | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    inserted: int
    updated: int
    analyzed: int = Field(description="accepted mentions scored by the NLP model on the way in")
    items: list[BatchItem]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://cem.example.com/hooks/opmon", "events": ["alert.*"], "description": "CEM prod"}
    ]})

    url: str = Field(max_length=2000, description="absolute http(s) URL that receives POSTed events")
    events: list[str] = Field(default_factory=lambda: ["alert.*"], max_length=20,
                              description="event types or globs: alert.opened, alert.updated, alert.resolved, "
                                          "alert.acknowledged, webhook.test, alert.*")
    secret: str | None = Field(default=None, min_length=16, max_length=256,
                               description="signing secret; omit to get a generated one (shown once)")
    description: str | None = Field(default=None, max_length=200)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret; shown only in this response")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryAttempt(BaseModel):
    attempt: int
    at: str
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float | None


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    event_id: str
    event_type: str
    idempotency_key: str
    status: Literal["pending", "delivering", "delivered", "dead", "cancelled"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[DeliveryAttempt] = Field(default_factory=list)


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_before: int | None = Field(description="pass as `before` for older deliveries; null when none")


class TestEventOut(BaseModel):
    queued: int
    idempotency_key: str


class BrandList(BaseModel):
    items: list[Brand]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "cem-pull", "scopes": ["read"], "rate_per_minute": 1200}]})

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1)
    rate_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)


class KeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    rate_per_minute: int | None
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    token: str = Field(description="the API key; shown only in this response, stored hashed")


class KeyList(BaseModel):
    items: list[KeyOut]


class Health(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    detail: str


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check]
