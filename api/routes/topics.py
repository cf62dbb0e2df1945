"""/v1/topics: what a brand's mentions are about (keywords, topic clusters, emerging terms)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import get_settings_dep, get_store, require_scope
from api.errors import problem_responses
from api.params import names, window, zone
from api.schemas import EmergingTermOut, TopicOut, TopicsResponse
from core.mention import Mention
from core.settings import Settings
from store.base import Emotion, Filters, SearchQuery, Store

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["topics"])

MAX_WINDOW = timedelta(days=366)
SAMPLE = 1000  # newest mentions the topic model sees: enough for stable clusters, bounded latency
BASELINE_WINDOWS = 4  # emerging terms compare the window with the 4 windows before it

BrandQ = Annotated[str | None, Query(max_length=64, description="brand name (default: all mentions)",
                                     examples=["小米"])]
SinceQ = Annotated[str | None, Query(description="window start (default: until minus 7 days)",
                                     examples=["2026-11-15T00:00:00+08:00"])]
UntilQ = Annotated[str | None, Query(description="window end, exclusive (default: now)",
                                     examples=["2026-11-22T00:00:00+08:00"])]


@router.get("/topics", response_model=TopicsResponse, summary="Keywords, topic clusters and emerging terms",
            responses=problem_responses(400, 401, 403, 422, 429))
def topics(
    brand: BrandQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    keywords: Annotated[int, Query(ge=0, le=100, description="top keywords to return")] = 20,
    max_topics: Annotated[int, Query(ge=0, le=30, description="topic clusters to find")] = 8,
    emerging: Annotated[int, Query(ge=0, le=100, description="emerging terms to return")] = 20,
    emotion: Annotated[list[Emotion], Query(
        description="only mentions with these emotion(s): happy, angry, sad, fear, surprise or neutral; "
                    "repeat for several", examples=[["angry"]])] = [],  # noqa: B006
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> TopicsResponse:
    s, u = window(since, until, zone(settings.timezone), default=timedelta(days=7), max_span=MAX_WINDOW)
    brands = names([brand], "brand") if brand else []
    emotions = list(dict.fromkeys(emotion))
    filters = Filters(brands=brands, emotions=emotions, since=s, until=u)
    notes: list[str] = []
    total = store.count(filters)
    kw = store.top_keywords(filters, limit=keywords) if keywords else []
    sample: list[Mention] = []
    if max_topics or emerging:
        sample = store.search(SearchQuery(brands=brands, emotions=emotions, since=s, until=u, limit=SAMPLE,
                                          include_dups=False)).items
    clusters = _topics(sample, max_topics, notes) if max_topics else []
    rising: list[EmergingTermOut] = []
    if emerging and sample:
        span = u - s
        base = store.search(SearchQuery(brands=brands, emotions=emotions,
                                        since=max(s - span * BASELINE_WINDOWS, s - MAX_WINDOW),
                                        until=s, limit=SAMPLE, include_dups=False)).items
        rising = _emerging([m.text for m in sample], [m.text for m in base], emerging, notes)
    elif emerging:
        notes.append("no mentions in the window, so no emerging terms")
    return TopicsResponse(brand=brand, since=s, until=u, mentions=total, sample_size=len(sample), keywords=kw,
                          topics=clusters, emerging=rising, notes=notes)


def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, tuple | list) and len(obj) >= 2:
        return {"term": obj[0], "score": obj[1]}
    return {"term": str(obj)}


def _topics(sample: list[Mention], max_topics: int, notes: list[str]) -> list[TopicOut]:
    if not sample:
        notes.append("no mentions in the window, so no topics")
        return []
    try:
        from nlp.topics import discover_topics
    except ImportError:
        notes.append("topic discovery is not installed (nlp.topics)")
        return []
    out = []
    for t in discover_topics(sample, max_topics):
        d = _as_dict(t)
        terms = [str(x) for x in (d.get("terms") or d.get("keywords") or [])]
        ids = [str(x) for x in (d.get("mention_ids") or d.get("examples") or [])][:10]
        size = int(d.get("size") or d.get("count") or len(d.get("mention_ids") or []))
        label = str(d.get("label") or d.get("name") or " / ".join(terms[:3]) or "topic")
        sentiment = d.get("sentiment") or {}
        neg = d.get("negative_share", sentiment.get("negative") if isinstance(sentiment, dict) else None)
        out.append(TopicOut(id=str(d["id"]) if d.get("id") else None, label=label, terms=terms, size=size,
                            share=_num(d.get("share")), negative_share=_num(neg), mention_ids=ids))
    return out


def _emerging(window_texts: list[str], baseline_texts: list[str], top: int, notes: list[str]) -> list[EmergingTermOut]:
    try:
        from nlp.keywords import emerging_terms
    except ImportError:
        notes.append("emerging-term detection is not installed (nlp.keywords)")
        return []
    out = []
    for t in emerging_terms(window_texts, baseline_texts, top):
        d = _as_dict(t)
        out.append(EmergingTermOut(term=str(d.get("term") or d.get("word") or ""),
                                   count=_int(d.get("count") or d.get("window_count")),
                                   baseline_count=_int(d.get("baseline_count") or d.get("baseline")),
                                   score=_num(d.get("score") or d.get("ratio"))))
    return [e for e in out if e.term]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) else None
