"""FastAPI dependencies: settings, the store, the state DB, the webhook outbox, the analyzer, and authentication.

Everything heavy (store, state DB, outbox, analyzer, key repo, rate limiter) is created once in the lifespan
(`api/main.py`) and kept on `app.state`; these functions only hand it out. Tests override
`get_settings_dep` (or pass settings to `create_app`).

The getters are `async def` on purpose: FastAPI runs a sync dependency in the thread pool, and a
thread hop per dependency per request costs more than the getter itself. They never block (the key
lookup is cached; a cache miss is one indexed SQLite read).

Route usage::

    @router.get("/v1/things", response_model=Things)
    def things(principal: Principal = Depends(require_scope("read")), store: Store = Depends(get_store)):
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from alerts.outbox import Outbox
from api.auth import KeyRepo, Principal, Scope
from api.ratelimit import RateLimiter, RedisRateLimiter
from core.brands import BrandRepo
from core.errors import StoreUnavailable
from core.settings import Settings, get_settings
from store.base import Store
from store.sqlite_db import StateDB

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="API key token (opm_...). Alternatively `Authorization: Bearer`.")
_bearer = HTTPBearer(auto_error=False, description="API key token as a bearer token")


def get_settings_dep() -> Settings:
    """The process settings. `create_app(settings)` and tests override this dependency."""
    return get_settings()


async def get_store(request: Request) -> Store:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise StoreUnavailable("the mention store is not open (see /readyz)")
    return store


async def get_state_db(request: Request) -> StateDB:
    db = getattr(request.app.state, "state_db", None)
    if db is None:
        raise StoreUnavailable("the state database is not open (see /readyz)")
    return db


async def get_outbox(request: Request, db: StateDB = Depends(get_state_db),
                     settings: Settings = Depends(get_settings_dep)) -> Outbox:
    """The webhook outbox (alert events for CEM endpoints), shared by /v1/alerts and /v1/webhooks.

    Without the lifespan's outbox, one is built over the state DB with the app's settings, so webhook
    secrets are sealed and opened with the app's key (`OPMON_SECRET_KEY` or its key file), not the
    process-global one. A malformed key raises `ConfigError` (a 500 problem), as `Outbox` does anywhere.
    """
    outbox = getattr(request.app.state, "outbox", None)
    if outbox is None:
        # Building one may create the key file and seals legacy plaintext rows: blocking I/O, so off the loop.
        outbox = await run_in_threadpool(Outbox, db, settings)
    return outbox


async def get_analyzer(request: Request) -> Any | None:
    """The NLP analyzer (nlp.analyzer.Analyzer), or None when NLP is disabled or failed to load."""
    return getattr(request.app.state, "analyzer", None)


async def get_brand_repo(db: StateDB = Depends(get_state_db)) -> BrandRepo:
    return BrandRepo(db)


async def get_key_repo(request: Request) -> KeyRepo:
    repo = getattr(request.app.state, "keys", None)
    if repo is None:
        raise StoreUnavailable("the state database is not open (see /readyz)")
    return repo


def _limiter(request: Request) -> RateLimiter | RedisRateLimiter:
    lim = getattr(request.app.state, "rate_limiter", None)
    if lim is None:
        lim = request.app.state.rate_limiter = RateLimiter()
    return lim


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates the API key and checks `scope` (admin > write > read).

    401 without a (valid) key, 403 when the key lacks the scope, 429 with Retry-After when the key is
    over its rate limit. Returns the `Principal` (key id, name, scopes); the token never leaves here.
    """
    needed = Scope(scope)

    async def dependency(
        request: Request,
        api_key: str | None = Security(_api_key_header),
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
        settings: Settings = Depends(get_settings_dep),
    ) -> Principal:
        token = api_key or (bearer.credentials if bearer else None)
        if not token:
            raise HTTPException(401, "missing API key: send `X-API-Key: <token>` or `Authorization: Bearer <token>`",
                                headers={"WWW-Authenticate": 'Bearer realm="opmon"'})
        repo = getattr(request.app.state, "keys", None)
        if repo is None:
            raise StoreUnavailable("the state database is not open (see /readyz)")
        principal = repo.authenticate(token.strip())
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key",
                                headers={"WWW-Authenticate": 'Bearer realm="opmon"'})
        limit = principal.rate_per_minute or settings.rate_limit_per_minute
        decision = await _limiter(request).ahit(principal.key_id, limit)
        if not decision.allowed:
            raise HTTPException(
                429, f"rate limit of {limit} requests per minute exceeded for key {principal.key_id}",
                headers={"Retry-After": str(decision.retry_after_s), "X-RateLimit-Limit": str(limit),
                         "X-RateLimit-Remaining": "0"},
            )
        # Added to the response by api.main's middleware (routes may return a Response directly).
        request.state.ratelimit_headers = {"X-RateLimit-Limit": str(limit),
                                           "X-RateLimit-Remaining": str(decision.remaining)}
        if not principal.allows(needed):
            raise HTTPException(403, f"API key {principal.key_id} lacks the '{needed}' scope "
                                     f"(has: {', '.join(sorted(principal.scopes))})")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{needed}"
    return dependency
