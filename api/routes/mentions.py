"""/v1/mentions: search, fetch one, and batch ingest from other channels."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import ValidationError

from api.deps import get_analyzer, get_brand_repo, get_settings_dep, get_store, require_scope
from api.errors import problem_responses
from api.params import names, text_query, window, zone
from api.schemas import (
    MENTION_EXAMPLE,
    BatchIn,
    BatchItem,
    BatchResult,
    BreakdownResponse,
    BreakdownRow,
    MentionPage,
)
from core.brands import BrandMatcher, BrandRepo
from core.errors import ModelError, NotFound
from core.mention import Kind, Label, Mention, mention_errors
from core.settings import Settings
from store.base import Breakdown, Emotion, Filters, SearchQuery, Store

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["mentions"])

SinceQ = Annotated[str | None, Query(description="published at or after (ISO 8601; naive = service time zone)",
                                      examples=["2026-11-20T00:00:00+08:00"])]
UntilQ = Annotated[str | None, Query(description="published before (ISO 8601; naive = service time zone)",
                                      examples=["2026-11-22"])]
EmotionQ = Annotated[list[Emotion], Query(
    description="emotion(s): happy, angry, sad, fear, surprise or neutral; repeat for several (any of them)",
    examples=[["angry"]])]
BRAND_D = "brand name(s); repeat or comma-separate"
SOURCE_D = "source(s): weibo, tieba, discuz, jd, dianping, ..."
BREAKDOWN_WINDOW = timedelta(days=30)
MAX_BREAKDOWN_WINDOW = timedelta(days=366)


@router.get("/mentions", response_model=MentionPage, summary="Search mentions (newest first)",
            responses=problem_responses(400, 401, 403, 422, 429))
def search_mentions(
    q: Annotated[str | None, Query(max_length=200, description="Chinese full-text query; 2-character terms work",
                                   examples=["客服"])] = None,
    brand: Annotated[list[str], Query(description=BRAND_D)] = [],  # noqa: B006
    source: Annotated[list[str], Query(description=SOURCE_D)] = [],  # noqa: B006
    kind: Annotated[list[Kind], Query(description="post, comment or review")] = [],  # noqa: B006
    sentiment: Annotated[list[Label], Query(description="positive, neutral or negative")] = [],  # noqa: B006
    emotion: EmotionQ = [],  # noqa: B006
    since: SinceQ = None,
    until: UntilQ = None,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 20,
    cursor: Annotated[str | None, Query(max_length=2000, description="opaque cursor from next_cursor")] = None,
    sort: Annotated[Literal["newest", "engagement"], Query(description="newest first or by engagement")] = "newest",
    include_dups: Annotated[bool, Query(description="false hides near-duplicates")] = True,
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> Response:
    s, u = window(since, until, zone(settings.timezone), default=None)
    query = SearchQuery(
        q=text_query(q), brands=names(brand, "brand"), sources=names(source, "source"), kinds=list(dict.fromkeys(kind)),
        sentiments=list(dict.fromkeys(sentiment)), emotions=list(dict.fromkeys(emotion)), since=s, until=u,
        limit=limit, cursor=cursor or None,
        sort=sort, include_dups=include_dups,
    )
    page = store.search(query)
    # The items are already validated Mentions: serialise once, skip response-model re-validation.
    body = MentionPage(items=page.items, next_cursor=page.next_cursor, total=page.total).model_dump_json()
    return Response(body, media_type="application/json")


# Declared before /mentions/{mention_id}: routes match in order (and a mention id always has a colon).
@router.get("/mentions/breakdown", response_model=BreakdownResponse, summary="Mention counts per emotion, source, ...",
            description="How the mentions that match the filters split by one field: `by=emotion` (happy, angry, "
                        "sad, fear, surprise, neutral; `unscored` = no emotion yet), `sentiment` (with "
                        "`unscored`), `source`, `kind`, `location`, `brand` or `touchpoint` (a mention counts "
                        "once per touchpoint it mentions). Takes the same filters as the search. The window "
                        "defaults to the last 30 days and spans at most 366.",
            responses=problem_responses(400, 401, 403, 422, 429))
def mention_breakdown(
    by: Annotated[Breakdown, Query(description="the field to count by")],
    q: Annotated[str | None, Query(max_length=200, description="Chinese full-text query")] = None,
    brand: Annotated[list[str], Query(description=BRAND_D)] = [],  # noqa: B006
    source: Annotated[list[str], Query(description=SOURCE_D)] = [],  # noqa: B006
    kind: Annotated[list[Kind], Query(description="post, comment or review")] = [],  # noqa: B006
    sentiment: Annotated[list[Label], Query(description="positive, neutral or negative")] = [],  # noqa: B006
    emotion: EmotionQ = [],  # noqa: B006
    since: Annotated[str | None, Query(description="window start (default: until minus 30 days)",
                                       examples=["2026-11-15T00:00:00+08:00"])] = None,
    until: Annotated[str | None, Query(description="window end, exclusive (default: now)",
                                       examples=["2026-11-22T00:00:00+08:00"])] = None,
    include_dups: Annotated[bool, Query(description="false leaves near-duplicates out")] = True,
    limit: Annotated[int, Query(ge=1, le=100, description="most rows to return")] = 20,
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> BreakdownResponse:
    s, u = window(since, until, zone(settings.timezone), default=BREAKDOWN_WINDOW, max_span=MAX_BREAKDOWN_WINDOW)
    filters = Filters(q=text_query(q), brands=names(brand, "brand"), sources=names(source, "source"),
                      kinds=list(dict.fromkeys(kind)), sentiments=list(dict.fromkeys(sentiment)),
                      emotions=list(dict.fromkeys(emotion)), since=s, until=u, include_dups=include_dups)
    counts = store.breakdown(filters, by, limit=limit)
    return BreakdownResponse(by=by, since=s, until=u, total=store.count(filters),
                             rows=[BreakdownRow(key=k, count=n) for k, n in counts.items()])


@router.get("/mentions/{mention_id}", response_model=Mention, summary="One mention by id",
            responses={200: {"content": {"application/json": {"example": MENTION_EXAMPLE}}},
                       **problem_responses(401, 403, 404, 429)})
def get_mention(
    mention_id: Annotated[str, Path(max_length=300, description='"{source}:{native id}"',
                                    examples=["weibo:5012345678901234"])],
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
) -> Mention:
    m = store.get(mention_id)
    if m is None:
        raise NotFound(f"mention {mention_id!r} does not exist")
    return m


@router.post("/mentions:batch", response_model=BatchResult, summary="Ingest mentions from other channels",
             description="Validates each mention on its own: valid ones are stored (upsert by id, so a retry "
                         "never duplicates), invalid ones come back with their error. Mentions without a "
                         "sentiment are scored when NLP is enabled; mentions without brands are tagged with "
                         "the monitored brands whose terms they contain.",
             responses=problem_responses(401, 403, 422, 429, 503))
def ingest_batch(
    body: Annotated[BatchIn, Body()],
    _principal=Depends(require_scope("write")),
    store: Store = Depends(get_store),
    analyzer: Any = Depends(get_analyzer),
    brands: BrandRepo = Depends(get_brand_repo),
    settings: Settings = Depends(get_settings_dep),
) -> BatchResult:
    items: list[BatchItem] = []
    valid: dict[str, tuple[int, Mention]] = {}  # id -> (index, mention); the last copy of an id wins
    for i, raw in enumerate(body.mentions):
        raw_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        try:
            m = Mention.model_validate(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            items.append(BatchItem(index=i, id=raw_id, status="rejected", error=mention_errors(exc)))
            continue
        valid[m.id] = (i, m)
        items.append(BatchItem(index=i, id=m.id, status="accepted"))
    mentions = [m for _, m in valid.values()]
    _tag_brands(mentions, brands)
    analyzed = _analyze(mentions, analyzer, settings)
    result = store.upsert(mentions) if mentions else None
    accepted = sum(1 for it in items if it.status == "accepted")
    return BatchResult(accepted=accepted, rejected=len(items) - accepted,
                       inserted=result.inserted if result else 0, updated=result.updated if result else 0,
                       analyzed=analyzed, items=items)


def _tag_brands(mentions: list[Mention], repo: BrandRepo) -> None:
    untagged = [m for m in mentions if not m.brands]
    if not untagged:
        return
    matcher = BrandMatcher(repo.list(enabled_only=True))  # the crawl's rule (title and text apart)
    for m in untagged:
        m.brands = matcher.match(m.title, m.text)


def _analyze(mentions: list[Mention], analyzer: Any, settings: Settings) -> int:
    """Score mentions that arrive without a sentiment; returns how many were scored."""
    todo = [i for i, m in enumerate(mentions) if m.sentiment is None and m.text]
    if not todo or analyzer is None or not settings.nlp_enabled:
        return 0
    try:
        scored = analyzer.analyze([mentions[i] for i in todo])
    except ModelError:
        raise
    except Exception as exc:  # a model failure must not lose the batch silently: say so, store nothing
        raise ModelError(f"the NLP model failed on this batch: {type(exc).__name__}") from exc
    for i, m in zip(todo, scored, strict=True):
        mentions[i] = m
    return sum(1 for m in scored if m.sentiment is not None)
