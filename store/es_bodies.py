"""Elasticsearch request bodies and response parsing, as pure functions (unit-tested offline).

`store/elastic.py` only moves these bodies over the wire; everything that decides *what* is asked
and *how an answer is read* lives here, so it can be tested without a cluster.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core.errors import InvalidInput
from core.mention import Mention
from store import cursor as cursors
from store.base import (
    EMOTIONS,
    UNSCORED,
    Breakdown,
    Filters,
    KeywordCount,
    SearchQuery,
    TrendBucket,
    TrendQuery,
)
from store.cjk import CJK_CHAR, RUNS, normalize

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "index_mappings"
DEFAULT_PREFIX = "opmon"
LABELS = ("positive", "neutral", "negative")
MAX_TERMS = 1000
STATE_ONLY_FIELDS = ("ingested_at", "engagement")  # stored for queries, not part of a Mention


# Names and templates ---------------------------------------------------------------------------

class Names:
    def __init__(self, prefix: str = DEFAULT_PREFIX):
        self.prefix = prefix
        self.alias = f"{prefix}-mentions"  # read and write alias over the time-based indices
        self.first_index = f"{prefix}-mentions-000001"
        self.state_index = f"{prefix}-crawl-state"
        self.pipeline = f"{prefix}-mentions-ingest"


def load_templates(prefix: str = DEFAULT_PREFIX, directory: Path = MAPPINGS_DIR) -> dict[str, dict]:
    """Index templates from index_mappings/*.json, named `{prefix}-{file stem}`, prefix applied."""
    out = {}
    for path in sorted(directory.glob("*.json")):
        raw = path.read_text(encoding="utf-8")
        if prefix != DEFAULT_PREFIX:
            raw = raw.replace(f'"{DEFAULT_PREFIX}-', f'"{prefix}-')
        out[f"{prefix}-{path.stem.replace('_', '-')}"] = json.loads(raw)
    return out


def ingest_pipeline() -> dict:
    """Stamp `ingested_at` with the cluster's clock on first write only (an update carries the
    original value, which `override: false` keeps). Export orders by it."""
    return {
        "description": "opmon: stamp ingested_at on first ingest",
        "processors": [{"set": {"field": "ingested_at", "value": "{{{_ingest.timestamp}}}", "override": False}}],
    }


# Documents -------------------------------------------------------------------------------------

def to_doc(m: Mention, ingested_at: str | None = None) -> dict:
    doc = m.model_dump(mode="json", exclude_none=True)
    doc["engagement"] = m.metrics.engagement()
    if ingested_at is not None:
        doc["ingested_at"] = ingested_at
    return doc


def from_hit(hit: dict) -> Mention:
    src = {k: v for k, v in hit["_source"].items() if k not in STATE_ONLY_FIELDS}
    return Mention.model_validate(src)


def ids_body(ids: list[str]) -> dict:
    return {"query": {"ids": {"values": ids}}, "size": len(ids), "seq_no_primary_term": False}


def bulk_failures(items: list[tuple[bool, dict]]) -> list[str]:
    """'id: status type: reason' for every failed item of a (streaming_)bulk result."""
    out = []
    for ok, item in items:
        if ok:
            continue
        op = next(iter(item.values())) if item else {}
        err = op.get("error") or {}
        if isinstance(err, dict):
            reason = f"{err.get('type', 'error')}: {err.get('reason', '')}"
            cause = err.get("caused_by")
            if isinstance(cause, dict) and cause.get("reason"):
                reason += f" ({cause['reason']})"
        else:
            reason = str(err)
        out.append(f"{op.get('_id', '?')}: {op.get('status', '?')} {reason}")
    return out


# Queries ---------------------------------------------------------------------------------------

def _iso(dt: datetime) -> str:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise InvalidInput("times must carry a time zone")
    return dt.astimezone(UTC).isoformat()


def text_clause(term: str) -> dict | None:
    """One whitespace-separated query term: a phrase of CJK bigrams (the `cjk` analyzer), or for a
    single CJK character a match on the unigram sub-field, which holds every character."""
    norm = normalize(term)
    core = "".join(cjk or word for cjk, word in RUNS.findall(norm))
    if not core:
        return None
    if len(core) == 1 and CJK_CHAR.match(core):
        return {"multi_match": {"query": core, "fields": ["title.uni", "text.uni"]}}
    return {"multi_match": {"query": norm, "type": "phrase", "fields": ["title", "text"]}}


def filters_query(f: Filters) -> dict:
    must: list[dict] = []
    flt: list[dict] = []
    if f.q is not None and f.q.strip():
        clauses = [text_clause(t) for t in f.q.split()]
        if any(c is None for c in clauses) and not any(clauses):
            return {"bool": {"must_not": [{"match_all": {}}]}}  # only punctuation: nothing
        must.extend(c for c in clauses if c is not None)
    if f.brands:
        flt.append({"terms": {"brands": list(f.brands)}})
    if f.sources:
        flt.append({"terms": {"source": list(f.sources)}})
    if f.kinds:
        flt.append({"terms": {"kind": [k.value for k in f.kinds]}})
    if f.sentiments:
        flt.append({"terms": {"sentiment.label": [s.value for s in f.sentiments]}})
    if f.emotions:
        flt.append({"terms": {"emotion": list(f.emotions)}})
    rng = {}
    if f.since is not None:
        rng["gte"] = _iso(f.since)
    if f.until is not None:
        rng["lt"] = _iso(f.until)
    if rng:
        flt.append({"range": {"published_at": rng}})
    body: dict = {"bool": {"filter": flt}}
    if must:
        body["bool"]["must"] = must
    if not f.include_dups:
        body["bool"]["must_not"] = [{"exists": {"field": "dup_of"}}]
    return body


SORTS = {
    "newest": [{"published_at": "desc"}, {"id": "desc"}],
    "engagement": [{"engagement": "desc"}, {"published_at": "desc"}, {"id": "desc"}],
}


def search_body(q: SearchQuery) -> dict:
    body = {
        "query": filters_query(q),
        "sort": SORTS[q.sort],
        "size": q.limit + 1,  # one extra tells whether another page exists
        "track_total_hits": q.cursor is None,
    }
    if q.cursor:
        after = cursors.decode(q.cursor, q.sort, len(SORTS[q.sort]))
        if not all(isinstance(v, int) for v in after[:-1]) or not isinstance(after[-1], str):
            raise InvalidInput("malformed cursor")
        body["search_after"] = after
    return body


def parse_search(resp: dict, q: SearchQuery) -> tuple[list[Mention], str | None, int | None]:
    hits = resp["hits"]["hits"]
    more = len(hits) > q.limit
    hits = hits[:q.limit]
    items = [from_hit(h) for h in hits]
    next_cursor = cursors.encode(q.sort, list(hits[-1]["sort"])) if more and hits else None
    total = resp["hits"].get("total")
    total = total["value"] if isinstance(total, dict) else total
    return items, next_cursor, (total if q.cursor is None else None)


def count_body(f: Filters) -> dict:
    return {"query": filters_query(f)}


# Trends ----------------------------------------------------------------------------------------

SENTIMENT_AGG = {
    "filters": {
        "filters": {label: {"term": {"sentiment.label": label}} for label in LABELS},
        "other_bucket_key": "unscored",
    }
}


def _histogram(q: TrendQuery, starts: list[datetime]) -> dict:
    hist: dict = {"field": "published_at", "min_doc_count": 0,
                  "extended_bounds": {"min": _ms(starts[0]), "max": _ms(starts[-1])}}
    if q.interval == "5min":
        hist["fixed_interval"] = "5m"  # aligned on the epoch, like the embedded store
    else:
        hist["calendar_interval"] = q.interval  # hour / day / week (weeks start on Monday)
        hist["time_zone"] = q.tz
    return {"date_histogram": hist, "aggs": {"s": SENTIMENT_AGG}}


def trend_body(q: TrendQuery, starts: list[datetime], end: datetime) -> dict:
    """Whole buckets [starts[0], end) in the query's zone; see store/buckets.py."""
    flt: list[dict] = [{"range": {"published_at": {"gte": _iso(starts[0]), "lt": _iso(end)}}}]
    if q.brands:
        flt.append({"terms": {"brands": list(q.brands)}})
    if q.sources:
        flt.append({"terms": {"source": list(q.sources)}})
    if q.emotions:
        flt.append({"terms": {"emotion": list(q.emotions)}})
    hist = _histogram(q, starts)
    if q.split_by is None:
        aggs = {"h": hist}
    elif q.split_by == "emotion":
        # Every emotion asked for (or all six) and, without a filter, "unscored" for mentions
        # that have none, as in the embedded store and breakdown?by=emotion.
        terms: dict = {"field": "emotion", "size": len(q.emotions) if q.emotions else len(EMOTIONS) + 1}
        if not q.emotions:
            terms["missing"] = UNSCORED
        aggs = {"k": {"terms": terms, "aggs": {"h": hist}}}
    else:
        field = "brands" if q.split_by == "brand" else "source"
        keys = q.brands if q.split_by == "brand" else q.sources
        terms = {"field": field, "size": len(keys) if keys else MAX_TERMS}
        if keys:
            terms["include"] = list(keys)
        aggs = {"k": {"terms": terms, "aggs": {"h": hist}}}
    return {"size": 0, "query": {"bool": {"filter": flt}}, "aggs": aggs}


def parse_trend(resp: dict, q: TrendQuery, starts: list[datetime]) -> list[TrendBucket]:
    tz = ZoneInfo(q.tz)
    index = {_ms(s): i for i, s in enumerate(starts)}
    acc: dict[str | None, list[list[int]]] = {}
    if q.split_by is None:
        groups = [(None, resp["aggregations"]["h"]["buckets"])]
    else:
        keys = {"brand": q.brands, "source": q.sources, "emotion": q.emotions or EMOTIONS}[q.split_by]
        for k in keys:
            acc[k] = [[0] * 5 for _ in starts]
        groups = [(b["key"], b["h"]["buckets"]) for b in resp["aggregations"]["k"]["buckets"]]
        if not groups and not acc:
            return []
    for key, buckets in groups:
        rows = acc.setdefault(key, [[0] * 5 for _ in starts])
        for b in buckets:
            i = index.get(int(b["key"]))
            if i is None:
                continue  # outside the requested buckets (cannot happen with the range filter)
            s = b["s"]["buckets"]
            rows[i] = [b["doc_count"], s["positive"]["doc_count"], s["neutral"]["doc_count"],
                       s["negative"]["doc_count"], s["unscored"]["doc_count"]]
    if q.split_by is None and None not in acc:
        acc[None] = [[0] * 5 for _ in starts]
    out = []
    for key in sorted(acc, key=lambda k: k or ""):
        for start, c in zip(starts, acc[key], strict=True):
            out.append(TrendBucket(start=start.astimezone(tz), key=key, total=c[0], positive=c[1],
                                   neutral=c[2], negative=c[3], unscored=c[4]))
    return out


def series_body(brand: str | None, start: datetime, step: timedelta, n: int) -> dict:
    flt: list[dict] = [{"range": {"published_at": {"gte": _iso(start), "lt": _iso(start + step * n)}}}]
    if brand is not None:
        flt.append({"term": {"brands": brand}})
    return {
        "size": 0,
        "query": {"bool": {"filter": flt}},
        "aggs": {"h": {
            "date_histogram": {"field": "published_at", "fixed_interval": f"{int(step.total_seconds())}s",
                               "min_doc_count": 0,
                               "extended_bounds": {"min": _ms(start), "max": _ms(start + step * (n - 1))}},
            "aggs": {"neg": {"filter": {"term": {"sentiment.label": "negative"}}}},
        }},
    }


def parse_series(resp: dict, start: datetime, step: timedelta, n: int) -> tuple[list[int], list[int]]:
    total, negative = [0] * n, [0] * n
    step_ms, start_ms = int(step.total_seconds() * 1000), _ms(start)
    for b in resp["aggregations"]["h"]["buckets"]:
        i = (int(b["key"]) - start_ms) // step_ms
        if 0 <= i < n:
            total[i] += b["doc_count"]
            negative[i] += b["neg"]["doc_count"]
    return total, negative


# Aggregations ----------------------------------------------------------------------------------

ORDER = [{"_count": "desc"}, {"_key": "asc"}]


def keywords_body(f: Filters, limit: int) -> dict:
    return {"size": 0, "query": filters_query(f),
            "aggs": {"k": {"terms": {"field": "keywords", "size": limit, "order": ORDER}}}}


def parse_keywords(resp: dict) -> list[KeywordCount]:
    return [KeywordCount(term=b["key"], count=b["doc_count"]) for b in resp["aggregations"]["k"]["buckets"]]


BREAKDOWN_FIELDS = {"source": "source", "location": "location", "brand": "brands", "kind": "kind"}


def breakdown_body(f: Filters, by: Breakdown, limit: int) -> dict:
    if by == "sentiment":
        agg = SENTIMENT_AGG
    elif by == "touchpoint":
        agg = {"nested": {"path": "aspects"}, "aggs": {"t": {
            "terms": {"field": "aspects.touchpoint", "size": MAX_TERMS},
            "aggs": {"m": {"reverse_nested": {}}},  # mentions, not aspects
        }}}
    elif by == "emotion":
        # Mentions without an emotion count as "unscored", as in the embedded store.
        agg = {"terms": {"field": "emotion", "size": limit, "order": ORDER, "missing": "unscored"}}
    elif by in BREAKDOWN_FIELDS:
        agg = {"terms": {"field": BREAKDOWN_FIELDS[by], "size": limit, "order": ORDER}}
    else:
        raise InvalidInput(f"cannot break down by {by!r}")
    return {"size": 0, "query": filters_query(f), "aggs": {"b": agg}}


def parse_breakdown(resp: dict, by: Breakdown, limit: int) -> dict[str, int]:
    agg = resp["aggregations"]["b"]
    if by == "sentiment":
        pairs = [(k, v["doc_count"]) for k, v in agg["buckets"].items()]
    elif by == "touchpoint":
        pairs = [(b["key"], b["m"]["doc_count"]) for b in agg["t"]["buckets"]]
    else:
        pairs = [(b["key"], b["doc_count"]) for b in agg["buckets"]]
    pairs = sorted(((k, n) for k, n in pairs if n > 0), key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs[:limit])


def touchpoints_body(f: Filters) -> dict:
    return {"size": 0, "query": filters_query(f), "aggs": {"a": {"nested": {"path": "aspects"}, "aggs": {
        "t": {"terms": {"field": "aspects.touchpoint", "size": MAX_TERMS},
              "aggs": {"s": {"terms": {"field": "aspects.sentiment", "size": 3}}}}}}}}


def parse_touchpoints(resp: dict) -> dict[str, dict[str, int]]:
    out = {}
    for b in resp["aggregations"]["a"]["t"]["buckets"]:
        counts = {k: 0 for k in LABELS}
        for s in b["s"]["buckets"]:
            if s["key"] in counts:
                counts[s["key"]] = s["doc_count"]
        out[b["key"]] = counts
    return dict(sorted(out.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])))


# Export ----------------------------------------------------------------------------------------

def export_body(cursor: str | None, limit: int, lag_s: float) -> dict:
    """Ingest order = (ingested_at, id). Only documents stamped at least `lag_s` ago are read: a
    document stamped earlier but not yet refreshed (visible) would otherwise be skipped for good
    once the cursor moved past it. The lag must exceed the refresh interval (1 s) plus the
    longest bulk request; 5 s by default."""
    cutoff = "now" if lag_s <= 0 else f"now-{max(1, round(lag_s))}s"
    body: dict = {
        "query": {"range": {"ingested_at": {"lt": cutoff}}},
        "sort": [{"ingested_at": "asc"}, {"id": "asc"}],
        "size": limit,
        "track_total_hits": False,
    }
    after = decode_export_cursor(cursor)
    if after:
        body["search_after"] = after
    return body


def decode_export_cursor(cursor: str | None) -> list:
    if not cursor:
        return []
    after = cursors.decode(cursor, "export")
    if after and (len(after) != 2 or not isinstance(after[0], int) or not isinstance(after[1], str)):
        raise InvalidInput("malformed cursor")
    return after


def parse_export(resp: dict, cursor: str | None) -> tuple[list[Mention], str]:
    hits = resp["hits"]["hits"]
    if not hits:
        return [], cursors.encode("export", decode_export_cursor(cursor))
    return [from_hit(h) for h in hits], cursors.encode("export", list(hits[-1]["sort"]))


def _ms(dt: datetime) -> int:
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)
