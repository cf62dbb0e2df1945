"""The persistent webhook outbox: at-least-once delivery of events to CEM endpoints.

`Outbox(state_db, settings).enqueue(event_type, payload, idempotency_key)` writes one row per subscribed webhook
in the same SQLite transaction, deduplicated by (webhook, idempotency_key): enqueueing the same event
twice (a retry after a crash, a second detector pass) queues nothing new. The worker
(`alerts/webhook_worker.py`) claims due rows with a lease, POSTs them, and records every attempt in
`webhook_attempts` (the delivery log). A failed attempt is retried with exponential backoff and jitter,
capped at `webhook_backoff_max_s`, up to `webhook_max_attempts`; then the row is `dead` (kept, visible,
re-deliverable). Rows survive restarts: a receiver that is down for ten minutes gets every event when it
returns. A worker that dies mid-delivery loses its lease and the row is claimed again (at least once:
receivers dedupe by `Idempotency-Key`).

The body is serialised once at enqueue, so every retry sends identical bytes (only the signature
timestamp changes).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import random
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from core.errors import InvalidInput, NotFound
from core.metrics import OUTBOX_PENDING
from core.secret_box import SecretBox
from core.settings import Settings
from store.sqlite_db import StateDB

EVENT_TYPES = ("alert.opened", "alert.updated", "alert.resolved", "alert.acknowledged", "webhook.test")
_EVENT_PATTERN = re.compile(r"^[a-z*][a-z0-9_.*\-]{0,63}$")
LEASE_S = 120.0  # a claimed row is re-claimable after this long (the worker died mid-delivery)

_DDL = """
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until REAL,
    last_error TEXT,
    last_status_code INTEGER,
    created_at REAL NOT NULL,
    delivered_at REAL,
    UNIQUE (webhook_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_outbox_by_hook ON webhook_outbox(webhook_id, id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL,
    webhook_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms REAL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_outbox ON webhook_attempts(outbox_id, id)
"""


@dataclass
class Webhook:
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: str
    secret: str  # never serialise this into a response except once, at creation

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pat) for pat in self.events)


@dataclass
class Delivery:
    """A claimed outbox row, ready to POST."""

    id: int
    webhook_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    idempotency_key: str
    body: bytes
    attempts: int


@dataclass
class DeliveryRow:
    id: int
    webhook_id: str
    event_id: str
    event_type: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None


class Outbox:
    """Built with the caller's own settings object, always passed explicitly (the API's through
    `api.deps.get_outbox`, the CLI's and the scheduler's from the settings they run with): its key
    seals and opens the webhook secrets, so an outbox never re-reads the environment for it (a second
    settings object with another `OPMON_SECRET_KEY` or data dir would seal with the wrong key)."""

    def __init__(self, db: StateDB, settings: Settings, rng: random.Random | None = None):
        if not isinstance(settings, Settings):
            raise TypeError(f"Outbox needs the caller's Settings (its secret key seals webhook secrets), "
                            f"got {type(settings).__name__}")
        self.db = db
        self.settings = settings
        self.rng = rng or random.Random()
        db.ensure_schema("webhook_outbox", _DDL)
        self.box = SecretBox.from_settings(self.settings)
        self._seal_legacy()

    def _seal_legacy(self) -> None:
        """Seal secrets stored in plaintext by versions before encryption at rest (once, in place)."""
        rows = self.db.read("SELECT id, secret FROM webhooks WHERE secret NOT LIKE 'enc1:%'")
        if rows:
            with self.db.write() as c:
                for r in rows:
                    c.execute("UPDATE webhooks SET secret = ? WHERE id = ? AND secret = ?",
                              (self.box.seal(r["secret"], context=r["id"]), r["id"], r["secret"]))

    # Webhooks ------------------------------------------------------------------------------------
    def add_webhook(self, url: str, events: list[str] | None = None, secret: str | None = None,
                    description: str | None = None) -> Webhook:
        url = validate_url(url)
        events = validate_events(events or ["alert.*"])
        if secret is not None and not (16 <= len(secret) <= 256):
            raise InvalidInput("secret must be 16-256 characters (or omit it to get a generated one)")
        hook = Webhook(id="wh_" + secrets.token_hex(6), url=url, events=events, description=description,
                       created_at=_iso(time.time()), secret=secret or "whsec_" + secrets.token_urlsafe(32))
        with self.db.write() as c:
            c.execute("INSERT INTO webhooks(id, url, secret, events, description, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (hook.id, hook.url, self.box.seal(hook.secret, context=hook.id), json.dumps(hook.events),
                       description, hook.created_at))
        return hook

    def webhooks(self) -> list[Webhook]:
        return [self._hook(r) for r in self.db.read("SELECT * FROM webhooks ORDER BY created_at, id")]

    def webhook(self, webhook_id: str) -> Webhook:
        rows = self.db.read("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))
        if not rows:
            raise NotFound(f"webhook {webhook_id!r} does not exist")
        return self._hook(rows[0])

    def reseal(self, box: SecretBox) -> int:
        """Seal every webhook secret under `box`'s key instead (rotation); one transaction."""
        with self.db.write() as c:
            rows = c.execute("SELECT id, secret FROM webhooks").fetchall()
            for r in rows:
                plain = self.box.open(r["secret"], context=r["id"])
                c.execute("UPDATE webhooks SET secret = ? WHERE id = ?", (box.seal(plain, context=r["id"]), r["id"]))
        self.box = box
        return len(rows)

    def _hook(self, r) -> Webhook:
        return Webhook(r["id"], r["url"], json.loads(r["events"]), r["description"], r["created_at"],
                       self.box.open(r["secret"], context=r["id"]))

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove the endpoint; its undelivered rows are cancelled (the log is kept)."""
        with self.db.write() as c:
            if c.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount == 0:
                raise NotFound(f"webhook {webhook_id!r} does not exist")
            c.execute("UPDATE webhook_outbox SET status = 'cancelled', lease_until = NULL "
                      "WHERE webhook_id = ? AND status IN ('pending', 'delivering')", (webhook_id,))
        self._gauge()

    # Enqueue -------------------------------------------------------------------------------------
    def enqueue(self, event_type: str, payload: dict, idempotency_key: str, *,
                webhook_ids: list[str] | None = None, now: float | None = None) -> int:
        """Queue `payload` for every webhook subscribed to `event_type`; returns how many rows were new.

        Deduplicated by (webhook, idempotency_key): calling again with the same key queues nothing.
        `webhook_ids` sends to exactly those endpoints instead (e.g. a test ping).
        """
        if not idempotency_key or len(idempotency_key) > 200:
            raise InvalidInput("idempotency_key must be 1-200 characters")
        now = time.time() if now is None else now
        event_id = "evt_" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:24]
        body = json.dumps(
            {"id": event_id, "type": event_type, "created_at": _iso(now), "idempotency_key": idempotency_key,
             "data": payload},
            ensure_ascii=False, separators=(",", ":"), default=str,
        ).encode("utf-8")
        if webhook_ids is None:
            hooks = [h for h in self.webhooks() if h.wants(event_type)]
        else:  # addressed explicitly (e.g. a test ping): subscriptions do not filter
            hooks = [h for h in self.webhooks() if h.id in set(webhook_ids)]
        new = 0
        with self.db.write() as c:
            for h in hooks:
                cur = c.execute(
                    "INSERT OR IGNORE INTO webhook_outbox(webhook_id, event_id, event_type, idempotency_key, "
                    "body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (h.id, event_id, event_type, idempotency_key, body, now, now),
                )
                new += cur.rowcount
        self._gauge()
        return new

    # Worker side ---------------------------------------------------------------------------------
    def claim_due(self, now: float, limit: int = 50, lease_s: float = LEASE_S) -> list[Delivery]:
        """Lease up to `limit` due rows (pending and due, or delivering with an expired lease)."""
        with self.db.write() as c:
            rows = c.execute(
                "SELECT o.id, o.webhook_id, w.url, w.secret, o.event_id, o.event_type, o.idempotency_key, "
                "o.body, o.attempts FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
                "WHERE (o.status = 'pending' AND o.next_attempt_at <= ?) "
                "   OR (o.status = 'delivering' AND o.lease_until < ?) "
                "ORDER BY o.next_attempt_at, o.id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            for r in rows:
                c.execute("UPDATE webhook_outbox SET status = 'delivering', lease_until = ? WHERE id = ?",
                          (now + lease_s, r["id"]))
        return [Delivery(r["id"], r["webhook_id"], r["url"], self.box.open(r["secret"], context=r["webhook_id"]),
                         r["event_id"], r["event_type"],
                         r["idempotency_key"], bytes(r["body"]), r["attempts"]) for r in rows]

    def record(self, d: Delivery, *, now: float, ok: bool, status_code: int | None = None,
               error: str | None = None, duration_ms: float | None = None,
               retry_after_s: float | None = None) -> str:
        """Log one attempt and move the row on; returns its new status."""
        attempt = d.attempts + 1
        if ok:
            status, next_at = "delivered", None
        elif attempt >= self.settings.webhook_max_attempts:
            status, next_at = "dead", None
        else:
            status, next_at = "pending", now + self.backoff(attempt, retry_after_s)
        err = (error or "")[:500] or None
        with self.db.write() as c:
            c.execute(
                "INSERT INTO webhook_attempts(outbox_id, webhook_id, attempt, at, ok, status_code, error, "
                "duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (d.id, d.webhook_id, attempt, now, int(ok), status_code, err, duration_ms),
            )
            c.execute(
                "UPDATE webhook_outbox SET status = ?, attempts = ?, next_attempt_at = COALESCE(?, next_attempt_at), "
                "lease_until = NULL, last_error = ?, last_status_code = ?, delivered_at = ? "
                "WHERE id = ? AND status = 'delivering'",
                (status, attempt, next_at, err, status_code, now if ok else None, d.id),
            )
        self._gauge()
        return status

    def backoff(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds before attempt `attempt + 1`: base * 2^(attempt-1), capped, with equal jitter.

        Equal jitter (half fixed, half random) spreads retries from many alerts apart while keeping
        a floor, so a receiver coming back is not hit by everything at once. A receiver's
        Retry-After is honoured (still capped at the maximum).
        """
        cap = self.settings.webhook_backoff_max_s
        d = min(cap, self.settings.webhook_backoff_base_s * 2 ** (attempt - 1))
        delay = d / 2 + self.rng.uniform(0, d / 2)
        if retry_after_s:
            delay = max(delay, min(cap, retry_after_s))
        return delay

    # Reading the log -----------------------------------------------------------------------------
    def deliveries(self, webhook_id: str | None = None, status: str | None = None,
                   limit: int = 50, before_id: int | None = None) -> list[DeliveryRow]:
        sql = "SELECT * FROM webhook_outbox WHERE 1=1"
        params: list = []
        if webhook_id:
            sql += " AND webhook_id = ?"
            params.append(webhook_id)
        if status:
            sql += " AND status = ?"
            params.append(status)
        if before_id:
            sql += " AND id < ?"
            params.append(before_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_row(r) for r in self.db.read(sql, tuple(params))]

    def attempts(self, outbox_id: int) -> list[dict]:
        rows = self.db.read("SELECT * FROM webhook_attempts WHERE outbox_id = ? ORDER BY id", (outbox_id,))
        return [{"attempt": r["attempt"], "at": _iso(r["at"]), "ok": bool(r["ok"]), "status_code": r["status_code"],
                 "error": r["error"], "duration_ms": r["duration_ms"]} for r in rows]

    def redeliver(self, outbox_id: int, now: float | None = None) -> None:
        """Queue a dead (or delivered) row again, now; attempts restart from zero."""
        now = time.time() if now is None else now
        with self.db.write() as c:
            cur = c.execute("UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                            "lease_until = NULL WHERE id = ? AND status IN ('dead', 'delivered')", (now, outbox_id))
            if cur.rowcount == 0:
                raise NotFound(f"no dead or delivered outbox row {outbox_id}")
        self._gauge()

    def pending(self) -> int:
        return self.db.read(
            "SELECT COUNT(*) AS n FROM webhook_outbox WHERE status IN ('pending', 'delivering')")[0]["n"]

    def _gauge(self) -> None:
        OUTBOX_PENDING.set(self.pending())


def validate_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise InvalidInput(f"webhook url must be an absolute http(s) URL, got {url[:100]!r}")
    if parts.username or parts.password:
        raise InvalidInput("webhook url must not carry credentials; the signature authenticates us")
    return url


def validate_events(events: list[str]) -> list[str]:
    out = []
    for e in events:
        e = e.strip()
        if not e:
            continue
        if not _EVENT_PATTERN.match(e):
            raise InvalidInput(f"event pattern {e!r} is not an event type or glob; known: {', '.join(EVENT_TYPES)}")
        out.append(e)
    if not out:
        raise InvalidInput("subscribe to at least one event type, e.g. 'alert.*'")
    return out


def _row(r) -> DeliveryRow:
    pending = r["status"] in ("pending", "delivering")
    return DeliveryRow(r["id"], r["webhook_id"], r["event_id"], r["event_type"], r["idempotency_key"],
                       r["status"], r["attempts"], r["next_attempt_at"] if pending else None,
                       r["last_status_code"], r["last_error"], r["created_at"], r["delivered_at"])


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
