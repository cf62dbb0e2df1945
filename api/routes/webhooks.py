"""/v1/webhooks: CEM endpoints that receive signed alert events, and their delivery log (admin)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from alerts.outbox import DeliveryRow, Outbox, Webhook
from api.deps import get_outbox, require_scope
from api.errors import problem_responses
from api.schemas import (
    DeliveryAttempt,
    DeliveryList,
    DeliveryOut,
    TestEventOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from core.errors import NotFound

router = APIRouter(prefix="/v1", tags=["webhooks"])

IdP = Annotated[str, Path(max_length=64, description="webhook id", examples=["wh_3f9a1c2b7d10"])]


def _out(h: Webhook) -> WebhookOut:
    return WebhookOut(id=h.id, url=h.url, events=h.events, description=h.description, created_at=h.created_at)


def _ts(v: float | None) -> datetime | None:
    return datetime.fromtimestamp(v, UTC) if v is not None else None


def _delivery(r: DeliveryRow, attempts: list[dict] | None = None) -> DeliveryOut:
    return DeliveryOut(
        id=r.id, webhook_id=r.webhook_id, event_id=r.event_id, event_type=r.event_type,
        idempotency_key=r.idempotency_key, status=r.status, attempts=r.attempts,
        next_attempt_at=_ts(r.next_attempt_at), last_status_code=r.last_status_code, last_error=r.last_error,
        created_at=_ts(r.created_at), delivered_at=_ts(r.delivered_at),
        attempt_log=[DeliveryAttempt(**a) for a in attempts or []],
    )


@router.post("/webhooks", response_model=WebhookCreated, status_code=201, summary="Register a webhook (admin)",
             description="Events are POSTed as JSON and signed: `X-Opmon-Signature: t=<unix>,v1=<hex HMAC-SHA256 "
                         "of '<t>.<raw body>' with the secret>`. The secret is returned only here.",
             responses=problem_responses(400, 401, 403, 422, 429))
def create_webhook(body: Annotated[WebhookIn, Body()], _principal=Depends(require_scope("admin")),
                   outbox: Outbox = Depends(get_outbox)) -> WebhookCreated:
    h = outbox.add_webhook(body.url, body.events, body.secret, body.description)
    return WebhookCreated(**_out(h).model_dump(), secret=h.secret)


@router.get("/webhooks", response_model=WebhookList, summary="List webhooks (admin; secrets are never shown)",
            responses=problem_responses(401, 403, 429))
def list_webhooks(_principal=Depends(require_scope("admin")), outbox: Outbox = Depends(get_outbox)) -> WebhookList:
    return WebhookList(items=[_out(h) for h in outbox.webhooks()])


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, summary="One webhook (admin)",
            responses=problem_responses(401, 403, 404, 429))
def get_webhook(webhook_id: IdP, _principal=Depends(require_scope("admin")),
                outbox: Outbox = Depends(get_outbox)) -> WebhookOut:
    return _out(outbox.webhook(webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response,
               summary="Remove a webhook (admin); its undelivered events are cancelled",
               responses=problem_responses(401, 403, 404, 429))
def delete_webhook(webhook_id: IdP, _principal=Depends(require_scope("admin")),
                   outbox: Outbox = Depends(get_outbox)) -> Response:
    outbox.delete_webhook(webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList,
            summary="Delivery log of a webhook (admin), newest first, with every attempt",
            responses=problem_responses(401, 403, 404, 422, 429))
def deliveries(
    webhook_id: IdP,
    status: Annotated[Literal["pending", "delivering", "delivered", "dead", "cancelled"] | None,
                      Query(description="only deliveries in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="older than this delivery id")] = None,
    _principal=Depends(require_scope("admin")),
    outbox: Outbox = Depends(get_outbox),
) -> DeliveryList:
    outbox.webhook(webhook_id)  # 404 for an unknown webhook, not an empty list
    rows = outbox.deliveries(webhook_id, status=status, limit=limit, before_id=before)
    items = [_delivery(r, outbox.attempts(r.id)) for r in rows]
    return DeliveryList(items=items, next_before=rows[-1].id if len(rows) == limit else None)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut,
             summary="Queue a dead or delivered event again (admin)",
             responses=problem_responses(401, 403, 404, 429))
def redeliver(webhook_id: IdP, delivery_id: Annotated[int, Path(ge=1, le=2**62)],
              _principal=Depends(require_scope("admin")), outbox: Outbox = Depends(get_outbox)) -> DeliveryOut:
    rows = [r for r in outbox.deliveries(webhook_id, limit=1, before_id=delivery_id + 1) if r.id == delivery_id]
    if not rows:
        raise NotFound(f"webhook {webhook_id!r} has no delivery {delivery_id}")
    outbox.redeliver(delivery_id)
    row = outbox.deliveries(webhook_id, limit=1, before_id=delivery_id + 1)[0]
    return _delivery(row, outbox.attempts(delivery_id))


@router.post("/webhooks/{webhook_id}/test", response_model=TestEventOut, status_code=202,
             summary="Send a signed `webhook.test` event to this endpoint (admin)",
             responses=problem_responses(401, 403, 404, 429))
def test_event(webhook_id: IdP, _principal=Depends(require_scope("admin")),
               outbox: Outbox = Depends(get_outbox)) -> TestEventOut:
    hook = outbox.webhook(webhook_id)
    key = f"test:{hook.id}:{secrets.token_hex(8)}"
    n = outbox.enqueue("webhook.test", {"webhook_id": hook.id, "message": "opmon test event / 测试事件"}, key,
                       webhook_ids=[hook.id])
    return TestEventOut(queued=n, idempotency_key=key)
