"""/v1/alerts: spike alerts (incidents) to pull, acknowledge and resolve.

Alerts are also pushed to CEM systems through signed webhooks (see /v1/webhooks); this is the pull
side. Reading needs the `read` scope; acknowledging and resolving need `write`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from alerts.incidents import Alert, AlertPage, AlertRepo, Kind, Status
from alerts.monitor import ack_alert, resolve_alert
from alerts.outbox import Outbox
from api.deps import get_outbox, get_state_db, require_scope
from api.errors import problem_responses
from store.sqlite_db import StateDB

router = APIRouter(prefix="/v1", tags=["alerts"])

AlertId = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^al_[0-9a-f]+$",
                              description="alert id", examples=["al_3f9a1c2b7d10e4a5b6c7"])]


def _who(principal) -> str:
    return f"key:{principal.key_id}" if principal is not None else "api"


@router.get("/alerts", response_model=AlertPage, summary="List alerts, newest first",
            description="Filter by brand, status (open/resolved) and kind; page with the opaque `cursor`.",
            responses=problem_responses(400, 401, 403, 422, 429))
def list_alerts(
    brand: Annotated[str | None, Query(max_length=64, description="brand name", examples=["小米"])] = None,
    status: Annotated[Status | None, Query(description="open or resolved")] = None,
    kind: Annotated[Kind | None, Query(description="alert kind")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="from the previous page")] = None,
    _principal=Depends(require_scope("read")),
    db: StateDB = Depends(get_state_db),
) -> AlertPage:
    return AlertRepo(db).list(brand=brand, status=status.value if status else None,
                              kind=kind.value if kind else None, limit=limit, cursor=cursor)


@router.get("/alerts/{alert_id}", response_model=Alert, summary="One alert with its explanation",
            responses=problem_responses(401, 403, 404, 422, 429))
def get_alert(alert_id: AlertId, _principal=Depends(require_scope("read")),
              db: StateDB = Depends(get_state_db)) -> Alert:
    return AlertRepo(db).get(alert_id)


@router.post("/alerts/{alert_id}/ack", response_model=Alert, summary="Acknowledge an alert (idempotent)",
             description="Records who acknowledged it and publishes `alert.acknowledged` once.",
             responses=problem_responses(401, 403, 404, 422, 429))
def ack(alert_id: AlertId, principal=Depends(require_scope("write")), db: StateDB = Depends(get_state_db),
        outbox: Outbox = Depends(get_outbox)) -> Alert:
    return ack_alert(db, alert_id, _who(principal), outbox)


@router.post("/alerts/{alert_id}/resolve", response_model=Alert, summary="Resolve an alert by hand",
             description="Publishes `alert.resolved`. Resolving an already resolved alert is a 409.",
             responses=problem_responses(401, 403, 404, 409, 422, 429))
def resolve(alert_id: AlertId, principal=Depends(require_scope("write")), db: StateDB = Depends(get_state_db),
            outbox: Outbox = Depends(get_outbox)) -> Alert:
    return resolve_alert(db, alert_id, _who(principal), outbox)
