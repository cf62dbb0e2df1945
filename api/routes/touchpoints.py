"""/v1/touchpoints: touchpoint x sentiment counts, the CEM customer-journey view."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import get_settings_dep, get_store, require_scope
from api.errors import problem_responses
from api.params import names, window, zone
from api.routes.mentions import EmotionQ
from api.routes.topics import MAX_WINDOW, BrandQ, SinceQ, UntilQ
from api.schemas import TouchpointRow, TouchpointsResponse
from core.settings import Settings
from store.base import Filters, Store

router = APIRouter(prefix="/v1", tags=["touchpoints"])


@router.get("/touchpoints", response_model=TouchpointsResponse, summary="Touchpoint x sentiment (CEM journey view)",
            description="Aspect counts per customer-journey touchpoint (物流, 客服, 价格, ...) and sentiment, "
                        "for a brand and window, most discussed first. `emotion=angry` keeps the angry "
                        "mentions only: what angry customers complain about.",
            responses=problem_responses(400, 401, 403, 422, 429))
def touchpoints(
    brand: BrandQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    source: Annotated[list[str], Query(description="only these sources")] = [],  # noqa: B006
    emotion: EmotionQ = [],  # noqa: B006
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> TouchpointsResponse:
    s, u = window(since, until, zone(settings.timezone), default=timedelta(days=7), max_span=MAX_WINDOW)
    filters = Filters(brands=names([brand], "brand") if brand else [], sources=names(source, "source"),
                      emotions=list(dict.fromkeys(emotion)), since=s, until=u)
    rows = []
    for tp, counts in store.touchpoints(filters).items():
        pos, neu, neg = (int(counts.get(k, 0)) for k in ("positive", "neutral", "negative"))
        total = pos + neu + neg
        rows.append(TouchpointRow(touchpoint=tp, positive=pos, neutral=neu, negative=neg, total=total,
                                  net_sentiment=round((pos - neg) / total, 4) if total else None))
    rows.sort(key=lambda r: (-r.total, r.touchpoint))
    return TouchpointsResponse(brand=brand, since=s, until=u, touchpoints=rows)
