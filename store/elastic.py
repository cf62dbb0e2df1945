"""The Elasticsearch 8 mention store.

- Index templates come from index_mappings/*.json and are applied at every `open()` (PUT is
  idempotent); so is the ingest pipeline that stamps `ingested_at`.
- Mentions live in time-based indices `{prefix}-mentions-000001, -000002, ...` behind the alias
  `{prefix}-mentions` (is_write_index). `POST {prefix}-mentions/_rollover` (by hand or from an ILM
  policy) starts a new index without any change here.
- Upserts are idempotent by `_id` = mention id. After a rollover an existing mention lives in an
  older index, while a plain write to the alias would create a second copy in the new one. So
  `upsert` first looks the ids up through the alias and writes each existing mention back into
  the index that holds it (keeping its `ingested_at`, merging enrichment like the embedded store);
  only new ids go to the write alias.
- Bulk writes go through `helpers.streaming_bulk` with retries and exponential backoff on
  429/502/503/504; the items that still fail are reported one by one in the StoreError.
- Search pages with `search_after` on (published_at, id) — `id` is the tiebreaker, so pages are
  stable without a point-in-time; export with `search_after` on (ingested_at, id), reading only
  documents stamped `export_lag_s` ago or earlier (see es_bodies.export_body).
- Aggregations are computed by Elasticsearch itself (no rollups needed).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from core.errors import InvalidInput, StoreError, StoreUnavailable
from core.mention import Mention
from core.metrics import STORE_WRITES
from store import es_bodies as eb
from store.base import (
    Breakdown,
    ExportBatch,
    Filters,
    KeywordCount,
    SearchPage,
    SearchQuery,
    Series,
    SeriesQuery,
    Store,
    TrendBucket,
    TrendQuery,
    UpsertResult,
)
from store.buckets import FIVE_MIN_US, US, bucket_starts, resolve_tz, to_us
from store.merge import merge, replace_fields

log = logging.getLogger(__name__)
LOOKUP_CHUNK = 1000
RETRY_STATUSES = (429, 502, 503, 504)


@contextmanager
def _wrapped(what: str) -> Iterator[None]:
    """Wrap elasticsearch/transport errors once, into the project's hierarchy."""
    import elasticsearch as es

    try:
        yield
    except (es.ConnectionError, es.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"Elasticsearch unreachable during {what}: {exc}") from exc
    except es.ApiError as exc:
        status = getattr(exc.meta, "status", "?")
        if status in (502, 503, 504):
            raise StoreUnavailable(f"Elasticsearch unavailable during {what}: {status} {exc.message}") from exc
        raise StoreError(f"Elasticsearch {what} failed: {status} {exc.message} {_reason(exc)}") from exc
    except es.TransportError as exc:
        raise StoreUnavailable(f"Elasticsearch transport error during {what}: {exc}") from exc


def _reason(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("reason", ""))
    return ""


class ElasticStore(Store):
    name = "elasticsearch"

    def __init__(self, url: str, *, api_key: str | None = None,
                 basic_auth: tuple[str, str] | None = None, prefix: str = eb.DEFAULT_PREFIX,
                 verify_certs: bool = True, refresh: bool | str = False, export_lag_s: float = 5.0,
                 request_timeout: float = 30.0):
        self.url = url
        self._api_key = api_key
        self._basic_auth = basic_auth
        self.names = eb.Names(prefix)
        self.verify_certs = verify_certs
        self.refresh = refresh  # "wait_for" makes writes visible before upsert returns (tests)
        self.export_lag_s = export_lag_s
        self.request_timeout = request_timeout
        self._es = None

    @classmethod
    def from_settings(cls, settings) -> ElasticStore:
        key = settings.es_api_key.get_secret_value() if settings.es_api_key else None
        auth = None
        if settings.es_username:
            password = settings.es_password.get_secret_value() if settings.es_password else ""
            auth = (settings.es_username, password)
        return cls(settings.es_url, api_key=key, basic_auth=auth, prefix=settings.es_index_prefix,
                   verify_certs=settings.es_verify_certs)

    # Lifecycle -----------------------------------------------------------------------------
    @property
    def es(self):
        if self._es is None:
            raise StoreError("ElasticStore used before open()")
        return self._es

    def open(self) -> None:
        from elasticsearch import BadRequestError, Elasticsearch

        if self._es is None:
            self._es = Elasticsearch(self.url, api_key=self._api_key, basic_auth=self._basic_auth,
                                     verify_certs=self.verify_certs,
                                     request_timeout=self.request_timeout, retry_on_timeout=True,
                                     max_retries=3)
        es, n = self._es, self.names
        with _wrapped("set-up"):
            es.ingest.put_pipeline(id=n.pipeline, body=eb.ingest_pipeline())
            for name, body in eb.load_templates(n.prefix).items():
                es.indices.put_index_template(name=name, body=body)
            if not es.indices.exists_alias(name=n.alias):
                try:
                    es.indices.create(index=n.first_index, aliases={n.alias: {"is_write_index": True}})
                except BadRequestError as exc:
                    if "resource_already_exists" not in str(exc):  # another process won the race
                        raise
            if not es.indices.exists(index=n.state_index):
                try:
                    es.indices.create(index=n.state_index)
                except BadRequestError as exc:
                    if "resource_already_exists" not in str(exc):
                        raise

    def close(self) -> None:
        if self._es is not None:
            self._es.close()
            self._es = None

    def ping(self) -> bool:
        try:
            return bool(self._es is not None and self._es.ping())
        except Exception:  # noqa: BLE001 - readiness probe: any failure means "not ready"
            return False

    def destroy(self) -> None:
        """Delete this prefix's indices, templates and pipeline (tests and `make clean`)."""
        from elasticsearch import NotFoundError

        es, n = self.es, self.names
        with _wrapped("clean-up"):
            try:
                for index in es.indices.get(index=f"{n.prefix}-*"):
                    es.indices.delete(index=index)
            except NotFoundError:
                pass
            for name in eb.load_templates(n.prefix):
                with suppress(NotFoundError):
                    es.indices.delete_index_template(name=name)
            with suppress(NotFoundError):
                es.ingest.delete_pipeline(id=n.pipeline)

    # Writes --------------------------------------------------------------------------------
    def _lookup(self, ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for i in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[i:i + LOOKUP_CHUNK]
            with _wrapped("id lookup"):
                resp = self.es.search(index=self.names.alias, body=eb.ids_body(chunk))
            for hit in resp["hits"]["hits"]:
                found[hit["_id"]] = hit
        return found

    def upsert(self, mentions: Sequence[Mention], *, replace: Collection[str] = ()) -> UpsertResult:
        from elasticsearch import helpers

        replace = replace_fields(replace)
        if not mentions:
            return UpsertResult()
        batch: dict[str, Mention] = {}
        for m in mentions:
            batch[m.id] = m
        repeated = len(mentions) - len(batch)
        existing = self._lookup(list(batch))
        actions = []
        for mid, m in batch.items():
            hit = existing.get(mid)
            if hit is None:
                actions.append({"_op_type": "index", "_index": self.names.alias, "_id": mid,
                                "_source": eb.to_doc(m)})
            else:
                old = eb.from_hit(hit)
                actions.append({"_op_type": "index", "_index": hit["_index"], "_id": mid,
                                "_source": eb.to_doc(merge(old, m, replace), hit["_source"].get("ingested_at"))})
        results = []
        with _wrapped("bulk write"):
            for ok, item in helpers.streaming_bulk(
                self.es, actions, chunk_size=500, max_retries=5, initial_backoff=1, max_backoff=30,
                retry_on_status=RETRY_STATUSES, raise_on_error=False, raise_on_exception=True,
                refresh=self.refresh,
            ):
                results.append((ok, item))
        failures = eb.bulk_failures(results)
        updated = len(existing)
        inserted = len(batch) - updated
        if failures:
            err = StoreError(f"{len(failures)} of {len(batch)} mentions were not indexed: "
                             + "; ".join(failures[:10]) + (" ..." if len(failures) > 10 else ""))
            err.failures = failures  # every failed item, for callers that retry or dead-letter
            raise err
        STORE_WRITES.labels("elasticsearch", "insert").inc(inserted)
        STORE_WRITES.labels("elasticsearch", "update").inc(updated + repeated)
        return UpsertResult(inserted=inserted, updated=updated + repeated)

    # Reads ---------------------------------------------------------------------------------
    def _search(self, body: dict, what: str, index: str | None = None) -> dict:
        with _wrapped(what):
            return self.es.search(index=index or self.names.alias, body=body).body

    def get(self, mention_id: str) -> Mention | None:
        hits = self._search(eb.ids_body([mention_id]), "get")["hits"]["hits"]
        return eb.from_hit(hits[0]) if hits else None

    def search(self, query: SearchQuery) -> SearchPage:
        resp = self._search(eb.search_body(query), "search")
        items, next_cursor, total = eb.parse_search(resp, query)
        return SearchPage(items=items, next_cursor=next_cursor, total=total)

    def count(self, filters: Filters) -> int:
        with _wrapped("count"):
            return int(self.es.count(index=self.names.alias, body=eb.count_body(filters))["count"])

    def trend(self, query: TrendQuery) -> list[TrendBucket]:
        tz = resolve_tz(query.tz)
        starts, end = bucket_starts(query.since, query.until, query.interval, tz)
        resp = self._search(eb.trend_body(query, starts, end), "trend")
        return eb.parse_trend(resp, query, starts)

    def series(self, query: SeriesQuery) -> Series:
        step_us = int(query.step.total_seconds() * US)
        if step_us <= 0 or step_us % FIVE_MIN_US:
            raise InvalidInput("series step must be a positive multiple of 5 minutes")
        since, until = to_us(query.since), to_us(query.until)
        if until <= since:
            raise InvalidInput("until must be after since")
        start_us = since // step_us * step_us
        n = -(-(until - start_us) // step_us)
        if n > 100_000:
            raise InvalidInput("series too long (more than 100000 steps)")
        start = datetime.fromtimestamp(start_us // US, tz=UTC)
        resp = self._search(eb.series_body(query.brand, start, query.step, n), "series")
        total, negative = eb.parse_series(resp, start, query.step, n)
        return Series(start=start, step=query.step, total=total, negative=negative)

    def top_keywords(self, filters: Filters, limit: int = 20) -> list[KeywordCount]:
        return eb.parse_keywords(self._search(eb.keywords_body(filters, limit), "top keywords"))

    def breakdown(self, filters: Filters, by: Breakdown, limit: int = 20) -> dict[str, int]:
        return eb.parse_breakdown(self._search(eb.breakdown_body(filters, by, limit), "breakdown"), by, limit)

    def touchpoints(self, filters: Filters) -> dict[str, dict[str, int]]:
        return eb.parse_touchpoints(self._search(eb.touchpoints_body(filters), "touchpoints"))

    def export(self, cursor: str | None, limit: int = 1000) -> ExportBatch:
        if not 1 <= limit <= 10_000:
            raise InvalidInput("export limit must be between 1 and 10000")
        resp = self._search(eb.export_body(cursor, limit, self.export_lag_s), "export")
        items, next_cursor = eb.parse_export(resp, cursor)
        return ExportBatch(items=items, next_cursor=next_cursor)

    # Crawl state ---------------------------------------------------------------------------
    @staticmethod
    def _state_id(spider: str, query: str) -> str:
        return hashlib.sha1(f"{spider}\x1f{query}".encode()).hexdigest()

    def get_crawl_state(self, spider: str, query: str) -> dict | None:
        from elasticsearch import NotFoundError

        try:
            with _wrapped("crawl state read"):
                doc = self.es.get(index=self.names.state_index, id=self._state_id(spider, query))
        except StoreError as exc:
            if isinstance(exc.__cause__, NotFoundError):
                return None
            raise
        return doc["_source"]["state"]

    def set_crawl_state(self, spider: str, query: str, state: dict) -> None:
        with _wrapped("crawl state write"):
            self.es.index(index=self.names.state_index, id=self._state_id(spider, query),
                          document={"spider": spider, "query": query, "state": state,
                                    "updated_at": datetime.now(UTC).isoformat()},
                          refresh=self.refresh or None)
