"""RFC 7807 problem+json: the one place where exceptions become HTTP error responses.

Every error the API answers has the same shape::

    {"type": "https://opmon.dev/problems/invalid-input", "title": "Invalid input",
     "status": 400, "detail": "until must be after since", "instance": "/v1/trends"}

Validation errors add `errors: [{"loc": "query.limit", "msg": "..."}]`. Unexpected exceptions become a
500 whose detail never echoes internals (the traceback goes to the log, secrets redacted there).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    ConfigError,
    Conflict,
    DeliveryError,
    InvalidInput,
    ModelError,
    NotFound,
    OpmonError,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://opmon.dev/problems/"

# Most specific first: the first isinstance match wins.
_ERROR_STATUS: list[tuple[type[OpmonError], int, str]] = [
    (InvalidInput, 400, "invalid-input"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (StoreUnavailable, 503, "store-unavailable"),
    (StoreError, 503, "store-error"),
    (ModelError, 503, "model-unavailable"),
    (DeliveryError, 502, "delivery-failed"),
    (ConfigError, 500, "server-misconfigured"),
]

_SLUG_BY_STATUS = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type",
    422: "validation-failed", 429: "rate-limited", 500: "internal", 503: "unavailable",
}


class ProblemDetail(BaseModel):
    """RFC 7807 problem details (served as application/problem+json)."""

    type: str = Field(examples=["https://opmon.dev/problems/invalid-input"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[400])
    detail: str = Field(examples=["until (2026-11-01T00:00:00+08:00) must be after since"])
    instance: str | None = Field(default=None, examples=["/v1/trends"])
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="per-field validation errors: loc and msg"
    )


def problem(status: int, detail: str, *, slug: str | None = None, title: str | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    slug = slug or _SLUG_BY_STATUS.get(status, "error")
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title or _title(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def status_for(exc: OpmonError) -> tuple[int, str]:
    for cls, status, slug in _ERROR_STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 500, "internal"


def _loc(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc)


def _clean_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep loc/msg/type only: `input` may echo a secret back (e.g. a webhook secret)."""
    return [{"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in errors]


async def _opmon_error(request: Request, exc: OpmonError) -> JSONResponse:
    status, slug = status_for(exc)
    if status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        detail = str(exc) if status != 500 else "the server is misconfigured; see the server log"
    else:
        detail = str(exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    return problem(status, detail, slug=slug, instance=request.url.path, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _clean_errors(list(exc.errors()))
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "request is invalid"
    return problem(422, detail, instance=request.url.path, errors=errors, title="Validation failed")


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    return problem(exc.status_code, detail, instance=request.url.path, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal error; it has been logged", instance=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OpmonError, _opmon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json errors for a route."""
    return {
        s: {"model": ProblemDetail, "description": _title(s),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}}
        for s in statuses
    }
