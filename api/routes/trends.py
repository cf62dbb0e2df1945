"""/v1/trends: volume per interval split by sentiment, net sentiment, share of voice; by emotion too."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response

from api.deps import get_settings_dep, get_store, require_scope
from api.errors import problem_responses
from api.params import names, window, zone
from api.schemas import TrendResponse
from core.errors import InvalidInput
from core.mention import Emotion
from core.settings import Settings
from store.base import Store, TrendBucket, TrendQuery

router = APIRouter(prefix="/v1", tags=["trends"])

_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_DEFAULT_SPAN = {"hour": timedelta(days=2), "day": timedelta(days=30), "week": timedelta(weeks=26)}
MAX_BUCKETS = 5000
MAX_BRANDS = 10
SplitParam = Literal["source", "emotion"]


@router.get("/trends", response_model=TrendResponse, summary="Mention volume, sentiment and emotion over time",
            description="One series per brand (or one for all mentions when no brand is given), each bucket "
                        "split by sentiment with net sentiment = (positive - negative) / total. Several brands "
                        "add share of voice. `split_by=source` gives one series per brand and source; "
                        "`split_by=emotion` one per brand and emotion (the emotions asked for, else all six, "
                        "plus `unscored` for mentions without an emotion when there are any). `emotion` keeps "
                        "only mentions with those emotions (\"angry mentions per day\"). Buckets are aligned in "
                        "`tz` (weeks start on Monday); empty buckets are zeros. Emotion filters and splits are "
                        "counted from the mentions, not the hourly rollups: slower on long ranges.",
            responses=problem_responses(400, 401, 403, 422, 429))
def trends(
    brand: Annotated[list[str], Query(description="brand(s); several give share of voice")] = [],  # noqa: B006
    source: Annotated[list[str], Query(description="only these sources")] = [],  # noqa: B006
    since: Annotated[str | None, Query(description="window start (default: until minus 2 days / 30 days / "
                                                   "26 weeks for hour / day / week)",
                                       examples=["2026-10-23T00:00:00+08:00"])] = None,
    until: Annotated[str | None, Query(description="window end, exclusive (default: now)",
                                       examples=["2026-11-22T00:00:00+08:00"])] = None,
    interval: Annotated[Literal["hour", "day", "week"], Query(description="bucket size")] = "day",
    tz: Annotated[str, Query(max_length=64, description="IANA time zone for bucket alignment",
                             examples=["Asia/Shanghai"])] = "Asia/Shanghai",
    emotion: Annotated[list[Emotion], Query(
        description="only mentions with these emotion(s): happy, angry, sad, fear, surprise or neutral; "
                    "repeat for several (any of them)", examples=[["angry"]])] = [],  # noqa: B006
    split_by: Annotated[SplitParam | None, Query(description="also split each brand by source or by emotion")] = None,
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> Response:
    zi = zone(tz)
    s, u = window(since, until, zi, default=_DEFAULT_SPAN[interval],
                  max_span=_STEP[interval] * MAX_BUCKETS)
    brands = names(brand, "brand")
    if len(brands) > MAX_BRANDS:
        raise InvalidInput(f"brand: at most {MAX_BRANDS} brands per trend query")
    sources = names(source, "source")
    emotions = list(dict.fromkeys(emotion))
    series: list[dict] = []
    for b in brands or [None]:
        q = TrendQuery(brands=[b] if b else [], sources=sources, emotions=emotions, since=s, until=u,
                       interval=interval, tz=tz, split_by=split_by)
        counts = getattr(store, "trend_counts", None)
        if counts is not None:  # the embedded store: plain lists, no 720 models per series
            starts, per_key = counts(q)
            series.extend(_series_counts(b, _split(split_by, key), starts, rows)
                          for key, rows in sorted(per_key, key=lambda kv: str(kv[0])))
            continue
        buckets = store.trend(q)
        if split_by is not None:
            by_key: dict[str | None, list[TrendBucket]] = defaultdict(list)
            for bk in buckets:
                by_key[bk.key].append(bk)
            series.extend(_series(b, _split(split_by, key), rows)
                          for key, rows in sorted(by_key.items(), key=lambda kv: str(kv[0])))
        else:
            series.append(_series(b, {}, buckets))
    body = {"interval": interval, "tz": tz, "since": s, "until": u, "split_by": split_by,
            "series": series, "share_of_voice": _share_of_voice(brands, series) if len(brands) > 1 else None}
    # Hundreds of buckets: serialise plain dicts once instead of validating models twice (the
    # response_model above still documents the shape, and tests check it against TrendResponse).
    return Response(orjson.dumps(body), media_type="application/json")


def _net(pos: int, neg: int, total: int) -> float | None:
    return round((pos - neg) / total, 4) if total else None


def _split(split_by: str | None, key: str | None) -> dict:
    """The series' split field: {"source": key}, {"emotion": key} or nothing."""
    return {split_by: key} if split_by else {}


def _series(brand: str | None, split: dict, buckets: list[TrendBucket]) -> dict:
    points = [{"start": b.start, "total": b.total, "positive": b.positive, "neutral": b.neutral,
               "negative": b.negative, "unscored": b.unscored,
               "net_sentiment": _net(b.positive, b.negative, b.total)} for b in buckets]
    total = sum(p["total"] for p in points)
    pos = sum(p["positive"] for p in points)
    neg = sum(p["negative"] for p in points)
    return {"brand": brand, "source": None, "emotion": None, **split, "total": total,
            "net_sentiment": _net(pos, neg, total), "buckets": points}


def _series_counts(brand: str | None, split: dict, starts: list[datetime], flat: list[int]) -> dict:
    """`_series` from the store's flat counts (total, positive, neutral, negative, unscored per
    bucket, bucket after bucket); same output."""
    points = [{"start": s, "total": t, "positive": p, "neutral": n, "negative": g, "unscored": x,
               "net_sentiment": round((p - g) / t, 4) if t else None}
              for s, t, p, n, g, x in zip(starts, *[iter(flat)] * 5, strict=True)]
    total, pos, neg = sum(flat[0::5]), sum(flat[1::5]), sum(flat[3::5])
    return {"brand": brand, "source": None, "emotion": None, **split, "total": total,
            "net_sentiment": _net(pos, neg, total), "buckets": points}


def _share_of_voice(brands: list[str], series: list[dict]) -> dict:
    totals: dict[str, int] = dict.fromkeys(brands, 0)
    per_bucket: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(brands, 0))
    for s in series:
        totals[s["brand"]] += s["total"]
        for p in s["buckets"]:
            per_bucket[p["start"]][s["brand"]] += p["total"]
    grand = sum(totals.values())
    entries = [{"brand": b, "total": totals[b], "share": round(totals[b] / grand, 4) if grand else 0.0}
               for b in brands]
    buckets = []
    for start, counts in per_bucket.items():  # insertion order = bucket order
        n = sum(counts.values())
        buckets.append({"start": start, "shares": {b: round(c / n, 4) if n else 0.0 for b, c in counts.items()}})
    return {"brands": entries, "buckets": buckets}
