"""The webhook delivery loop: claim due outbox rows, POST them signed, record each attempt.

`deliver_due(outbox, now=...)` is one pass; tests drive it with a simulated clock. `run_worker` is the
background loop the API starts in its lifespan (`opmon webhooks worker` runs it standalone). Several
workers (API processes) may run at once: rows are claimed with a lease inside a write transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from alerts.outbox import Delivery, Outbox
from alerts.signing import delivery_headers
from core.metrics import WEBHOOK_DELIVERIES, WEBHOOK_FAILURES

log = logging.getLogger(__name__)
PARALLEL = 8  # deliveries in flight per pass: one slow receiver must not hold up the others


@dataclass
class PassReport:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    outcomes: list[tuple[int, str]] = field(default_factory=list)  # (outbox id, new status)


def deliver_due(outbox: Outbox, now: float | datetime | None = None, *, client: httpx.Client | None = None,
                limit: int = 50) -> PassReport:
    """Deliver every row due at `now` (epoch seconds or aware datetime; default: the wall clock)."""
    now_s = _epoch(now)
    due = outbox.claim_due(now_s, limit=limit)
    report = PassReport(claimed=len(due))
    if not due:
        return report
    own = client is None
    client = client or httpx.Client(timeout=outbox.settings.webhook_timeout_s, follow_redirects=False)
    try:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(due))) as pool:
            results = list(pool.map(lambda d: _attempt(client, d, now_s if now is not None else None), due))
    finally:
        if own:
            client.close()
    for d, (ok, code, err, ms, retry_after) in zip(due, results, strict=True):
        at = now_s if now is not None else time.time()
        status = outbox.record(d, now=at, ok=ok, status_code=code, error=err, duration_ms=ms,
                               retry_after_s=retry_after)
        report.outcomes.append((d.id, status))
        if ok:
            report.delivered += 1
        else:
            report.failed += 1
            report.dead += status == "dead"
    return report


def _attempt(client: httpx.Client, d: Delivery, sign_at: float | None):
    headers = delivery_headers(d.secret, d.body, event_id=d.event_id, event_type=d.event_type,
                               idempotency_key=d.idempotency_key,
                               timestamp=int(sign_at) if sign_at is not None else None)
    t0 = time.perf_counter()
    try:
        resp = client.post(d.url, content=d.body, headers=headers)
    except httpx.HTTPError as exc:
        ms = (time.perf_counter() - t0) * 1000
        reason = type(exc).__name__
        WEBHOOK_DELIVERIES.labels("error").inc()
        WEBHOOK_FAILURES.labels(reason).inc()
        # The URL may carry a token in its query string: log the webhook id, not the URL.
        log.warning("webhook %s delivery %s failed: %s", d.webhook_id, d.id, reason)
        return False, None, f"{reason}: {exc}"[:500], ms, None
    ms = (time.perf_counter() - t0) * 1000
    ok = 200 <= resp.status_code < 300
    WEBHOOK_DELIVERIES.labels("ok" if ok else "http_error").inc()
    if not ok:
        WEBHOOK_FAILURES.labels(f"http_{resp.status_code}").inc()
        log.warning("webhook %s delivery %s got HTTP %s", d.webhook_id, d.id, resp.status_code)
    retry_after = _retry_after(resp.headers.get("Retry-After")) if not ok else None
    return ok, resp.status_code, None if ok else f"HTTP {resp.status_code}", ms, retry_after


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _epoch(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


async def run_worker(outbox: Outbox, stop: asyncio.Event, *, poll_s: float = 1.0) -> None:
    """Deliver until `stop` is set; each pass runs in a thread so the event loop stays free."""
    with httpx.Client(timeout=outbox.settings.webhook_timeout_s, follow_redirects=False) as client:
        while not stop.is_set():
            try:
                report = await asyncio.to_thread(deliver_due, outbox, None, client=client)
                busy = report.claimed > 0
            except Exception:  # a worker must outlive a bad pass; the row stays leased, then retried
                log.exception("webhook delivery pass failed")
                busy = False
            if busy:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s)
