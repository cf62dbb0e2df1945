"""/healthz (the process is up), /readyz (store reachable, model loaded), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.schemas import Check, Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, summary="Readiness: store reachable, state DB open, model loaded",
            responses={503: {"model": Ready, "description": "not ready; `checks` says what is missing"}})
def readyz(request: Request) -> Response:
    state = request.app.state
    settings = state.settings
    checks: dict[str, Check] = {}
    store = getattr(state, "store", None)
    if store is None:
        checks["store"] = Check(ok=False, detail=getattr(state, "store_error", None) or "not open")
    else:
        try:
            ok = bool(store.ping())
        except Exception as exc:  # a ping must answer "no", never raise
            ok = False
            checks["store"] = Check(ok=False, detail=f"{store.name}: {type(exc).__name__}")
        else:
            checks["store"] = Check(ok=ok, detail=f"{store.name}: " + ("reachable" if ok else "not reachable"))
    db = getattr(state, "state_db", None)
    try:
        db.read("SELECT 1")
        checks["state_db"] = Check(ok=True, detail="open")
    except Exception as exc:
        checks["state_db"] = Check(ok=False, detail=f"state DB: {type(exc).__name__}")
    if settings.nlp_enabled:
        analyzer = getattr(state, "analyzer", None)
        checks["model"] = Check(ok=analyzer is not None,
                                detail=_model_name(analyzer) if analyzer is not None
                                else getattr(state, "analyzer_error", None) or "not loaded")
    else:
        checks["model"] = Check(ok=True, detail="NLP disabled (OPMON_NLP_ENABLED=false)")
    ready = all(c.ok for c in checks.values())
    body = Ready(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _model_name(analyzer) -> str:
    name = getattr(analyzer, "model_name", None) or getattr(analyzer, "name", None)
    return f"loaded: {name}" if name else "loaded"


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text exposition format)",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
