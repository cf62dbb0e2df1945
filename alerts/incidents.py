"""Alerts as incidents, persisted in the state DB so that they survive a restart.

An incident opens on the first surprising bucket, is updated while it lasts (severity, peak,
totals), resolves by itself after a quiet period (hysteresis) or by a user, and a new one of the
same brand and kind cannot open during the cooldown that follows. The detector's segment state
(`alert_state`) is stored next to the alerts, so a restarted monitor continues exactly where the
last one stopped, and ids are derived from (brand, kind, opening bucket) so that re-running a pass
after a crash recreates the same alert instead of a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from alerts.detector import SegmentState
from core.errors import Conflict, InvalidInput, NotFound
from store.sqlite_db import StateDB


class Kind(StrEnum):
    volume_surge = "volume_surge"
    negative_volume_surge = "negative_volume_surge"
    negative_share_surge = "negative_share_surge"
    volume_drop = "volume_drop"
    crawl_blocked = "crawl_blocked"


class Status(StrEnum):
    open = "open"
    resolved = "resolved"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


def severity_for(bar_score: float) -> Severity:
    """The bar score is 1 at the opening bar; each term grows with log-ratio / -log p / excess."""
    if bar_score >= 5:
        return Severity.critical
    if bar_score >= 3:
        return Severity.high
    if bar_score >= 2:
        return Severity.medium
    return Severity.low


class Peak(BaseModel):
    at: datetime = Field(description="start of the bucket where the surprise peaked")
    window_minutes: int = Field(description="length of the window that produced it")
    observed: float
    expected: float
    ratio: float | None
    p_value: float = Field(description="exact tail probability of the window under the baseline")
    score: float = Field(ge=0, le=1, description="anomaly score in [0, 1]; 0.5 is the opening bar")


class Alert(BaseModel):
    id: str = Field(description="stable alert id (derived from brand, kind and opening bucket)")
    brand: str
    kind: Kind
    status: Status
    severity: Severity
    opened_at: datetime = Field(description="start of the bucket that opened it")
    updated_at: datetime
    last_active_at: datetime | None = Field(default=None, description="last bucket that extended it")
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, description="'auto' (quiet period) or the user/key")
    acked_at: datetime | None = None
    acked_by: str | None = None
    version: int = Field(description="bumped on every published change (webhook idempotency)")
    low_confidence: bool = Field(default=False, description="opened on a cold-start baseline")
    sensitivity: str = "balanced"
    active_buckets: int = 0
    observed_total: float = Field(default=0, description="sum of observed over the active buckets' windows")
    expected_total: float = 0
    peak: Peak | None = None
    summary_zh: str = ""
    summary_en: str = ""
    explanation: dict[str, Any] | None = None


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="pass back as `cursor` for the next page; None on the last")


_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    brand TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_ts REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts(opened_ts DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_brand ON alerts(brand, kind, status);
CREATE TABLE IF NOT EXISTS alert_state (
    brand TEXT NOT NULL,
    kind TEXT NOT NULL,
    step_s INTEGER NOT NULL,
    last_bucket INTEGER NOT NULL,
    seg_open INTEGER NOT NULL DEFAULT 0,
    last_active INTEGER,
    cooldown_until INTEGER,
    alert_id TEXT,
    PRIMARY KEY (brand, kind)
)
"""


def alert_id(brand: str, kind: str, opened_bucket: int | str) -> str:
    digest = hashlib.sha256(f"{brand}\x1f{kind}\x1f{opened_bucket}".encode()).hexdigest()
    return "al_" + digest[:20]


def _now() -> datetime:
    return datetime.now(UTC)


def encode_cursor(a: Alert) -> str:
    raw = json.dumps([a.opened_at.timestamp(), a.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, aid = json.loads(raw)
        return float(ts), str(aid)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("cursor is not one this API returned") from exc


class StreamState(BaseModel):
    """The monitor's position and segment state for one (brand, kind)."""

    step_s: int
    last_bucket: int  # absolute bucket number (epoch // step) of the last evaluated bucket
    segment: SegmentState = Field(default_factory=SegmentState)
    alert_id: str | None = None

    model_config = {"arbitrary_types_allowed": True}


class AlertRepo:
    def __init__(self, db: StateDB):
        self.db = db
        db.ensure_schema("alerts", _DDL)

    # Reads ----------------------------------------------------------------------------------------
    def get(self, aid: str) -> Alert:
        rows = self.db.read("SELECT body FROM alerts WHERE id = ?", (aid,))
        if not rows:
            raise NotFound(f"alert {aid!r} does not exist")
        return Alert.model_validate_json(rows[0]["body"])

    def find(self, aid: str) -> Alert | None:
        rows = self.db.read("SELECT body FROM alerts WHERE id = ?", (aid,))
        return Alert.model_validate_json(rows[0]["body"]) if rows else None

    def list(self, *, brand: str | None = None, status: str | None = None, kind: str | None = None,
             limit: int = 50, cursor: str | None = None) -> AlertPage:
        """Newest opened first; opaque cursor pagination, stable under inserts."""
        clauses, params = [], []
        for col, val in (("brand", brand), ("status", status), ("kind", kind)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(str(val))
        if cursor:
            ts, aid = decode_cursor(cursor)
            clauses.append("(opened_ts < ? OR (opened_ts = ? AND id < ?))")
            params += [ts, ts, aid]
        where = " AND ".join(clauses) or "1"
        rows = self.db.read(f"SELECT body FROM alerts WHERE {where} ORDER BY opened_ts DESC, id DESC LIMIT ?",
                            (*params, limit + 1))
        items = [Alert.model_validate_json(r["body"]) for r in rows[:limit]]
        nxt = encode_cursor(items[-1]) if len(rows) > limit and items else None
        return AlertPage(items=items, next_cursor=nxt)

    def open_for(self, brand: str, kind: str) -> Alert | None:
        rows = self.db.read("SELECT body FROM alerts WHERE brand = ? AND kind = ? AND status = 'open' "
                            "ORDER BY opened_ts DESC LIMIT 1", (brand, kind))
        return Alert.model_validate_json(rows[0]["body"]) if rows else None

    # Writes ---------------------------------------------------------------------------------------
    def save(self, alert: Alert, conn=None) -> Alert:
        args = (alert.id, alert.brand, str(alert.kind), str(alert.status), alert.opened_at.timestamp(),
                alert.model_dump_json())
        sql = ("INSERT INTO alerts(id, brand, kind, status, opened_ts, body) VALUES (?, ?, ?, ?, ?, ?) "
               "ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body")
        if conn is not None:
            conn.execute(sql, args)
        else:
            with self.db.write() as c:
                c.execute(sql, args)
        return alert

    def ack(self, aid: str, by: str) -> Alert:
        alert = self.get(aid)
        if alert.acked_at is not None:
            return alert  # idempotent: the first acknowledgement stands
        alert = alert.model_copy(update={"acked_at": _now(), "acked_by": by, "updated_at": _now(),
                                         "version": alert.version + 1})
        return self.save(alert)

    def resolve(self, aid: str, by: str) -> Alert:
        alert = self.get(aid)
        if alert.status is Status.resolved:
            raise Conflict(f"alert {aid} is already resolved")
        now = _now()
        alert = alert.model_copy(update={"status": Status.resolved, "resolved_at": now, "resolved_by": by,
                                         "updated_at": now, "version": alert.version + 1})
        return self.save(alert)

    # Stream state ---------------------------------------------------------------------------------
    def state(self, brand: str, kind: str) -> StreamState | None:
        rows = self.db.read("SELECT * FROM alert_state WHERE brand = ? AND kind = ?", (brand, kind))
        if not rows:
            return None
        r = rows[0]
        return StreamState(step_s=r["step_s"], last_bucket=r["last_bucket"], alert_id=r["alert_id"],
                           segment=SegmentState(open=bool(r["seg_open"]), last_active=r["last_active"],
                                                cooldown_until=r["cooldown_until"]))

    def save_state(self, brand: str, kind: str, st: StreamState, conn) -> None:
        conn.execute(
            "INSERT INTO alert_state(brand, kind, step_s, last_bucket, seg_open, last_active, cooldown_until, "
            "alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(brand, kind) DO UPDATE SET "
            "step_s = excluded.step_s, last_bucket = excluded.last_bucket, seg_open = excluded.seg_open, "
            "last_active = excluded.last_active, cooldown_until = excluded.cooldown_until, "
            "alert_id = excluded.alert_id",
            (brand, kind, st.step_s, st.last_bucket, int(st.segment.open), st.segment.last_active,
             st.segment.cooldown_until, st.alert_id),
        )


def event_key(alert: Alert, event: str) -> str:
    """Idempotency key of one published change: the same change is never delivered twice."""
    return f"{alert.id}:{event}:{alert.version}"


def event_payload(alert: Alert) -> dict:
    return alert.model_dump(mode="json")
