"""Webhook signatures: HMAC-SHA256 over "{timestamp}.{body}" with the endpoint's secret.

Headers on every delivery::

    X-Opmon-Signature: t=1763790000,v1=5f2b...e9      (hex HMAC-SHA256 of b"1763790000." + body)
    X-Opmon-Event-Id: evt_42                          (stable across retries of this delivery)
    X-Opmon-Event-Type: alert.opened
    Idempotency-Key: al_17:alert.opened:3             (stable per event, the same for every endpoint)

A receiver recomputes the HMAC over the raw body bytes, compares in constant time, and rejects a
timestamp older than its tolerance (5 minutes by default) to stop replays. Several `v1=` entries may
appear (secret rotation); any match is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from core.errors import InvalidInput

SIGNATURE_HEADER = "X-Opmon-Signature"
EVENT_ID_HEADER = "X-Opmon-Event-Id"
EVENT_TYPE_HEADER = "X-Opmon-Event-Type"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def compute(secret: str, timestamp: int, body: bytes) -> str:
    msg = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-Opmon-Signature header value for `body`."""
    ts = int(time.time() if timestamp is None else timestamp)
    return f"t={ts},v1={compute(secret, ts, body)}"


def delivery_headers(secret: str, body: bytes, *, event_id: str, event_type: str, idempotency_key: str,
                     timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "opmon-webhooks/1",
        SIGNATURE_HEADER: sign(secret, body, timestamp),
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> None:
    """Raise InvalidInput unless `header` is a valid, fresh signature of `body` under `secret`."""
    ts, sigs = _parse(header)
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        raise InvalidInput(f"signature timestamp {ts} is outside the {tolerance_s}s tolerance")
    expected = compute(secret, ts, body)
    if not any(hmac.compare_digest(expected, s) for s in sigs):
        raise InvalidInput("signature does not match the body")


def is_valid(secret: str, body: bytes, header: str, **kw) -> bool:
    try:
        verify(secret, body, header, **kw)
    except InvalidInput:
        return False
    return True


def _parse(header: str) -> tuple[int, list[str]]:
    ts: int | None = None
    sigs: list[str] = []
    for part in (header or "").split(","):
        k, _, v = part.strip().partition("=")
        if k == "t" and v.isdigit():
            ts = int(v)
        elif k == "v1" and v:
            sigs.append(v)
    if ts is None or not sigs:
        raise InvalidInput(f"malformed {SIGNATURE_HEADER} header (want t=<unix seconds>,v1=<hex>)")
    return ts, sigs
