"""The FastAPI application: `create_app(settings)` builds it; the lifespan opens what it needs.

Run it with `opmon serve` (or `uvicorn --factory api.main:create_app`). On start-up the lifespan opens the
mention store, the state DB (keys, brands, webhooks, outbox), installs the bootstrap admin key, loads
the NLP analyzer (when enabled) and starts the webhook delivery worker; on shutdown it stops and
closes them in reverse order. A store or model that fails to load does not stop the API from starting:
/readyz says what is missing and the affected endpoints answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import Counter, Histogram

from alerts.outbox import Outbox
from alerts.webhook_worker import run_worker
from api.auth import KeyRepo
from api.deps import get_settings_dep
from api.errors import ProblemDetail, install_error_handlers
from api.ratelimit import build_limiter
from api.routes import (
    alerts,
    brands,
    dashboard,
    export,
    health,
    keys,
    mentions,
    topics,
    touchpoints,
    trends,
    webhooks,
)
from api.routes.dashboard import STATIC
from core.brands import BrandRepo, load_brands_yaml
from core.errors import OpmonError
from core.settings import Settings, get_settings
from store.sqlite_db import StateDB

log = logging.getLogger(__name__)

REQUESTS = Counter("opmon_api_requests_total", "API requests", ["method", "route", "status"])
LATENCY = Histogram("opmon_api_request_seconds", "API request latency", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))

DESCRIPTION = """
Public-opinion monitoring for customer-experience teams: search and trends over Chinese social-media,
forum and review mentions, topics and CEM touchpoints, spike alerts, an NDJSON export feed, batch
ingest, and signed webhooks.

**Authentication**: every `/v1` call needs an API key, sent as `X-API-Key: opm_...` or
`Authorization: Bearer opm_...`. Scopes: `read` (GET), `write` (ingest), `admin` (brands, webhooks,
keys); admin includes write, write includes read. Create keys with `opmon keys create`.

**Errors** are RFC 7807 `application/problem+json`. **Rate limits**: per key; over the limit you get
429 with `Retry-After`. **Times**: ISO 8601; a time without an offset is read as Asia/Shanghai.
"""


def create_app(settings: Settings | None = None, *, webhook_worker: bool = True) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="opmon API", version="1", description=DESCRIPTION, lifespan=_lifespan,
        openapi_tags=[{"name": n} for n in ("mentions", "trends", "topics", "touchpoints", "alerts", "brands",
                                            "export", "webhooks", "keys", "health")],
    )
    app.state.settings = settings
    app.state.webhook_worker = webhook_worker
    async def _settings() -> Settings:  # async: no thread-pool hop per request
        return app.state.settings

    app.dependency_overrides[get_settings_dep] = _settings
    install_error_handlers(app)
    for module in (mentions, trends, topics, touchpoints, alerts, brands, export, webhooks, keys, health, dashboard):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(_MetricsMiddleware)
    _register_problem_schema(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    state_db = StateDB(settings.state_db)
    app.state.state_db = state_db
    app.state.keys = KeyRepo(state_db)
    app.state.rate_limiter = build_limiter(settings)
    if settings.admin_key is not None:
        app.state.keys.ensure_bootstrap(settings.admin_key.get_secret_value())
    _seed_brands(state_db, settings)
    app.state.outbox = Outbox(state_db, settings)
    app.state.store, app.state.store_error = await asyncio.to_thread(_open_store, settings)
    app.state.analyzer, app.state.analyzer_error = (None, None)
    if settings.nlp_enabled:
        app.state.analyzer, app.state.analyzer_error = await asyncio.to_thread(_load_analyzer, settings)
        if app.state.analyzer is not None and hasattr(app.state.analyzer, "add_terms"):
            # keep brand names whole in keywords and topics (jieba would split 海底捞)
            app.state.analyzer.add_terms(t for b in BrandRepo(state_db).list() for t in b.match_terms())
    # Everything loaded so far lives as long as the process: keep it out of the cyclic GC's scans,
    # whose full collections otherwise add ~60 ms pauses to request latency (bench/api_bench.py).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    worker = None
    if app.state.webhook_worker:
        worker = asyncio.create_task(run_worker(app.state.outbox, stop), name="webhook-worker")
    try:
        yield
    finally:
        stop.set()
        if worker is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(worker, timeout=settings.webhook_timeout_s + 5)
        if app.state.store is not None:
            app.state.store.close()
        await app.state.rate_limiter.aclose()
        state_db.close()


def _open_store(settings: Settings) -> tuple[Any, str | None]:
    from store.factory import open_store

    try:
        return open_store(settings), None
    except OpmonError as exc:
        log.error("mention store did not open: %s", exc)
        return None, str(exc)


def _load_analyzer(settings: Settings) -> tuple[Any, str | None]:
    try:
        from nlp.analyzer import Analyzer
    except ImportError as exc:
        return None, f"nlp.analyzer is not available: {exc}"
    try:
        return Analyzer.from_settings(settings), None
    except Exception as exc:  # a broken model must not stop search and trends from serving
        log.error("NLP analyzer did not load: %s", exc)
        return None, f"{type(exc).__name__}: {exc}"


def _seed_brands(db: StateDB, settings: Settings) -> None:
    """First start: seed the brands table from brands.yaml (afterwards /v1/brands is the truth)."""
    repo = BrandRepo(db)
    if repo.list() or not settings.brands_file.exists():
        return
    try:
        for b in load_brands_yaml(settings.brands_file):
            repo.upsert(b)
    except OpmonError as exc:
        log.error("brands not seeded: %s", exc)


def _register_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["ProblemDetail"] = \
            ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
        return schema

    app.openapi = openapi


class _MetricsMiddleware:
    """Request count and latency per route template, and the rate-limit headers that `require_scope`
    left on the request state (pure ASGI: cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = {"code": 500}

        async def _send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                extra = scope.get("state", {}).get("ratelimit_headers")
                if extra:
                    message["headers"] = [*message.get("headers", []),
                                          *((k.lower().encode(), v.encode()) for k, v in extra.items())]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], route, str(status["code"])).inc()
            LATENCY.labels(route).observe(time.perf_counter() - t0)
