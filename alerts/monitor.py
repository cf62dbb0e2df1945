"""The streaming runner: every pass, for every monitored brand, evaluate the newly complete buckets.

A bucket is evaluated only once it is complete: it must end before the ingestion watermark
(now - `delay`), so indexing lag never fakes a drop or a surge. Each pass reads the brands' recent
history from the store (one 5-minute series per brand), scores all brands at once (vectorised),
then walks only the buckets since the last pass through the persisted incident state.

Publishing is at-least-once and duplicate-free: events are enqueued to the outbox (idempotency key
`{alert_id}:{event}:{version}`) *before* the alert rows and stream state are committed, so a crash in
between replays the same events, which the outbox drops as duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from alerts.detector import Scores, Segment, detect_counts, detect_share, segment, segment_params
from alerts.explain import explain
from alerts.incidents import (
    SEVERITY_ORDER,
    Alert,
    AlertRepo,
    Kind,
    Peak,
    Status,
    StreamState,
    alert_id,
    event_key,
    event_payload,
    severity_for,
)
from alerts.presets import DEFAULT_CONFIG, DetectorConfig, get_preset
from alerts.surprise import anomaly_score
from core.brands import Brand, BrandRepo
from core.metrics import ALERTS_OPENED
from store.base import SeriesQuery, Store
from store.sqlite_db import StateDB

if TYPE_CHECKING:
    from alerts.outbox import Outbox
    from core.settings import Settings

log = logging.getLogger(__name__)

STEP = timedelta(minutes=5)
BATCH = 100  # brands scored together
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class PassReport:
    brands: int = 0
    buckets: int = 0  # (brand, kind) buckets evaluated
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    events: int = 0  # outbox rows newly queued
    watermark: datetime | None = None


def bucket_of(t: datetime, step: timedelta = STEP) -> int:
    return int((t - EPOCH) // step)


def bucket_start(b: int, step: timedelta = STEP) -> datetime:
    return EPOCH + b * step


class Monitor:
    """`outbox`: where events go, built by the caller; or `settings`: the caller's settings, to build it
    with (`Outbox(state_db, settings)`). Exactly one of the two: the outbox's key seals and opens
    webhook secrets, so it comes from the settings the caller runs with, never re-read from the
    environment here."""

    def __init__(self, store: Store, state_db: StateDB, *, outbox: Outbox | None = None,
                 settings: Settings | None = None, cfg: DetectorConfig = DEFAULT_CONFIG,
                 delay: timedelta = timedelta(minutes=10), history: timedelta = timedelta(days=29),
                 backfill: timedelta = timedelta(hours=1), explain_alerts: bool = True,
                 refresh: timedelta = timedelta(hours=1),
                 kinds: tuple[str, ...] | None = None):
        self.store, self.db, self.cfg = store, state_db, cfg
        self.repo = AlertRepo(state_db)
        if (outbox is None) == (settings is None):
            raise TypeError("Monitor needs the outbox, or the settings to build it with (one of them)")
        if outbox is None:
            from alerts.outbox import Outbox

            outbox = Outbox(state_db, settings)
        self.outbox = outbox
        self.delay, self.history, self.backfill = delay, history, backfill
        self.explain_alerts = explain_alerts
        self.refresh = refresh
        self._cache: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        self.kinds = tuple(kinds or cfg.kinds)
        self.params = segment_params(STEP, cfg)

    # One pass ---------------------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None, brands: list[Brand] | None = None) -> PassReport:
        now = now or datetime.now(UTC)
        end = bucket_of(now - self.delay)  # first incomplete bucket (exclusive end)
        first = end - int(self.history / STEP)
        report = PassReport(watermark=bucket_start(end))
        brands = brands if brands is not None else BrandRepo(self.db).list(enabled_only=True)
        report.brands = len(brands)
        # Batches keep the arrays cache-sized (faster than one huge array) and memory bounded.
        for lo in range(0, len(brands), BATCH):
            self._run_batch(brands[lo:lo + BATCH], first, end, report)
        return report

    def _run_batch(self, brands: list[Brand], first: int, end: int, report: PassReport) -> None:
        total = np.zeros((len(brands), end - first))
        negative = np.zeros_like(total)
        for i, b in enumerate(brands):
            total[i], negative[i] = self._series(b.name, first, end)
        presets = [get_preset(b.sensitivity) for b in brands]
        scores: dict[str, Scores] = {}
        if "volume_surge" in self.kinds:
            scores["volume_surge"] = detect_counts(total, STEP, presets, self.cfg)
        if "negative_volume_surge" in self.kinds:
            scores["negative_volume_surge"] = detect_counts(negative, STEP, presets, self.cfg)
        if "negative_share_surge" in self.kinds:
            scores["negative_share_surge"] = detect_share(negative, total, STEP, presets, self.cfg)
        if "volume_drop" in self.kinds:
            scores["volume_drop"] = detect_counts(total, STEP, presets, self.cfg, drop=True)
        for i, b in enumerate(brands):
            for kind, sc in scores.items():
                self._advance(b, kind, i, sc, first, end, total, negative, report)

    def _series(self, brand: str, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Counts for buckets [first, end): cached between passes, re-reading the last `refresh`
        (late-indexed mentions) and whatever is new, so a pass does not re-read 4 weeks per brand."""
        cached = self._cache.get(brand)
        lo = first
        if cached is not None:
            c_first, c_total, c_neg = cached
            lo = max(first, min(c_first + len(c_total), end) - int(self.refresh / STEP))
            if first < c_first or lo <= c_first:
                lo = first  # nothing reusable (the window moved back, or no overlap)
        total = np.zeros(end - first)
        negative = np.zeros(end - first)
        if cached is not None and lo > first:
            keep = slice(first - c_first, lo - c_first)
            total[: lo - first], negative[: lo - first] = c_total[keep], c_neg[keep]
        if lo < end:
            s = self.store.series(SeriesQuery(brand=brand, since=bucket_start(lo), until=bucket_start(end), step=STEP))
            total[lo - first:], negative[lo - first:] = s.total, s.negative
        self._cache[brand] = (first, total, negative)
        return total, negative

    def _advance(self, brand: Brand, kind: str, i: int, sc: Scores, first: int, end: int,
                 total: np.ndarray, negative: np.ndarray, report: PassReport) -> None:
        st = self.repo.state(brand.name, kind)
        if st is None or st.step_s != int(STEP.total_seconds()):
            # A new brand starts `backfill` back: history is baseline, not a flood of old alerts.
            st = StreamState(step_s=int(STEP.total_seconds()), last_bucket=end - 1 - int(self.backfill / STEP))
        lo = max(st.last_bucket + 1, first)
        if lo >= end:
            return
        report.buckets += end - lo
        sl = slice(lo - first, end - first)
        segs, seg_state = segment(sc.score[i, sl], sc.extend[i, sl], by_window=sc.series_windows(i)[:, sl],
                                  windows=sc.windows, offset=lo, state=st.segment, **self.params)
        events: list[tuple[str, Alert]] = []
        saves: list[Alert] = []
        current = st.alert_id if st.segment.open else None
        for sg in segs:
            alert = self.repo.find(current) if sg.carried and current else None
            if alert is None and not sg.carried:
                alert = self._open(brand, kind, i, sc, first, sg, total, negative)
                events.append(("alert.opened", alert))
                report.opened.append(alert.id)
                ALERTS_OPENED.labels(kind).inc()
            elif alert is not None:
                before = alert.severity
                alert = self._extend(alert, i, sc, first, sg, total, negative)
                if alert.status is Status.open and SEVERITY_ORDER[alert.severity] > SEVERITY_ORDER[before]:
                    alert = alert.model_copy(update={"version": alert.version + 1})
                    events.append(("alert.updated", alert))
                    report.updated.append(alert.id)
            if alert is None:  # carried over but the row is gone (deleted state DB rows): nothing to update
                continue
            if sg.resolved_at is not None and alert.status is Status.open:
                at = bucket_start(sg.resolved_at + 1)
                alert = alert.model_copy(update={"status": Status.resolved, "resolved_at": at, "resolved_by": "auto",
                                                 "updated_at": at, "version": alert.version + 1})
                events.append(("alert.resolved", alert))
                report.resolved.append(alert.id)
            saves.append(alert)
            current = alert.id if sg.resolved_at is None else None
        for event, a in events:
            report.events += self.outbox.enqueue(event, event_payload(a), event_key(a, event))
        st = StreamState(step_s=st.step_s, last_bucket=end - 1, segment=seg_state, alert_id=current)
        with self.db.write() as c:
            for a in saves:
                self.repo.save(a, conn=c)
            self.repo.save_state(brand.name, kind, st, c)

    # Alert construction -------------------------------------------------------------------------------
    def _peak(self, i: int, sc: Scores, first: int, buckets: list[int]) -> tuple[int, float]:
        local = np.asarray(buckets) - first
        j = int(local[np.argmax(sc.score[i, local])])
        return j, float(sc.score[i, j])

    def _peak_model(self, i: int, sc: Scores, j: int, first: int) -> Peak:
        d = sc.detail(i, j)
        w = d.window or 1
        return Peak(at=bucket_start(first + j), window_minutes=int(w * STEP.total_seconds() // 60),
                    observed=round(d.observed, 3), expected=round(d.expected, 3),
                    ratio=round(d.observed / d.expected, 3) if d.expected > 0 else None, p_value=d.p_value,
                    score=round(float(anomaly_score(np.array([d.score]))[0]), 4))

    def _totals(self, kind: str, i: int, sc: Scores, first: int, buckets: list[int], total: np.ndarray,
                negative: np.ndarray) -> tuple[float, float]:
        local = np.asarray(buckets) - first
        if kind == "negative_share_surge":
            return float(negative[i, local].sum()), float((total[i, local] * sc.mu[i, local]).sum())
        x = negative if kind == "negative_volume_surge" else total
        mu = np.nan_to_num(sc.mu[i, local])
        return float(x[i, local].sum()), float(mu.sum())

    def _open(self, brand: Brand, kind: str, i: int, sc: Scores, first: int, sg: Segment, total, negative) -> Alert:
        j, _ = self._peak(i, sc, first, sg.active)
        opened = bucket_start(sg.start)
        peak = self._peak_model(i, sc, j, first)
        obs, exp = self._totals(kind, i, sc, first, sg.active, total, negative)
        alert = Alert(
            id=alert_id(brand.name, kind, sg.start), brand=brand.name, kind=Kind(kind), status=Status.open,
            severity=severity_for(float(sc.score[i, j])), opened_at=opened, updated_at=datetime.now(UTC),
            last_active_at=bucket_start(sg.active[-1]), version=1,
            low_confidence=sc.is_low_confidence(i, sg.start - first), sensitivity=str(brand.sensitivity),
            active_buckets=len(sg.active), observed_total=round(obs, 3), expected_total=round(exp, 3), peak=peak,
        )
        return self._explained(alert, i, sc, first, j, total, negative)

    def _extend(self, alert: Alert, i: int, sc: Scores, first: int, sg: Segment, total, negative) -> Alert:
        if not sg.active:
            return alert
        j, s = self._peak(i, sc, first, sg.active)
        obs, exp = self._totals(alert.kind.value, i, sc, first, sg.active, total, negative)
        update = {"active_buckets": alert.active_buckets + len(sg.active),
                  "observed_total": round(alert.observed_total + obs, 3),
                  "expected_total": round(alert.expected_total + exp, 3),
                  "last_active_at": bucket_start(sg.active[-1]), "updated_at": datetime.now(UTC)}
        old_peak = alert.peak.score if alert.peak else 0.0
        new_peak = self._peak_model(i, sc, j, first)
        if new_peak.score > old_peak:
            update["peak"] = new_peak
            update["severity"] = max(alert.severity, severity_for(s), key=lambda v: SEVERITY_ORDER[v])
        alert = alert.model_copy(update=update)
        if update.get("peak") is not None and alert.status is Status.open:
            alert = self._explained(alert, i, sc, first, j, total, negative)
        return alert

    def _explained(self, alert: Alert, i: int, sc: Scores, first: int, j: int, total, negative) -> Alert:
        peak = alert.peak
        assert peak is not None
        since = peak.at - timedelta(minutes=peak.window_minutes) + STEP
        until = peak.at + STEP
        share = None
        if alert.kind is Kind.negative_share_surge:
            d = sc.detail(i, j)
            w = d.window or 1
            n = float(total[i, max(0, j - w + 1):j + 1].sum())
            share = (d.observed / n if n else 0.0, float(sc.mu[i, j]))
        e = explain(self.store if self.explain_alerts else None, brand=alert.brand, kind=alert.kind.value,
                    since=since, until=until, observed=peak.observed, expected=peak.expected,
                    p_value=peak.p_value, score=peak.score, severity=alert.severity.value,
                    low_confidence=alert.low_confidence, share=share)
        return alert.model_copy(update={"explanation": e, "summary_zh": e["summary_zh"],
                                        "summary_en": e["summary_en"]})

    # The loop -------------------------------------------------------------------------------------------
    def loop(self, every: timedelta = timedelta(minutes=1), *, max_passes: int | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> int:
        passes = 0
        while not should_stop() and (max_passes is None or passes < max_passes):
            t0 = time.monotonic()
            try:
                r = self.run_once()
                log.info("alerts pass: %d brands, %d buckets, opened %d, resolved %d", r.brands, r.buckets,
                         len(r.opened), len(r.resolved))
            except Exception:  # a bad pass is logged; the next one retries from the persisted state
                log.exception("alerts pass failed")
            passes += 1
            if max_passes is not None and passes >= max_passes:
                break
            time.sleep(max(0.0, every.total_seconds() - (time.monotonic() - t0)))
        return passes


def ack_alert(db: StateDB, aid: str, by: str, outbox: Outbox) -> Alert:
    """Acknowledge (idempotent) and publish `alert.acknowledged` once."""
    repo = AlertRepo(db)
    before = repo.get(aid)
    alert = repo.ack(aid, by)
    if alert.version != before.version:
        _publish(db, outbox, "alert.acknowledged", alert)
    return alert


def resolve_alert(db: StateDB, aid: str, by: str, outbox: Outbox) -> Alert:
    """Resolve by hand and publish `alert.resolved`; the detector will not re-open it during cooldown."""
    alert = AlertRepo(db).resolve(aid, by)
    _publish(db, outbox, "alert.resolved", alert)
    return alert


def _publish(db: StateDB, outbox: Outbox, event: str, alert: Alert) -> int:
    """Queue `event` for `alert` in the caller's outbox (built with the caller's settings: never here)."""
    return outbox.enqueue(event, event_payload(alert), event_key(alert, event))


# Crawl-blocked notices (raised by the scheduler) ------------------------------------------------------

def notify_crawl_blocked(db: StateDB, spider: str, query: str, signal: str, detail: str = "", *,
                         outbox: Outbox, now: datetime | None = None) -> Alert:
    """Open (or refresh) a `crawl_blocked` notice for (spider, query) and publish it once.

    One open notice per (spider, query): repeated blocks bump its count without re-publishing; a
    different signal (e.g. captcha after rate-limit) is published as `alert.updated`.
    """
    repo = AlertRepo(db)
    now = now or datetime.now(UTC)
    subject = f"crawler:{spider}"
    existing = [a for a in repo.list(brand=subject, kind="crawl_blocked", status="open", limit=200).items
                if (a.explanation or {}).get("query") == query]
    zh = f"采集受阻：{spider}（{query}）被目标站点拦截（{signal}）"
    en = f"Crawl blocked: {spider} ({query}) was blocked by the site ({signal})"
    info = {"spider": spider, "query": query, "signal": signal, "detail": detail[:500],
            "summary_zh": zh, "summary_en": en}
    if existing:
        a = existing[0]
        changed = (a.explanation or {}).get("signal") != signal
        a = a.model_copy(update={"active_buckets": a.active_buckets + 1, "updated_at": now, "last_active_at": now,
                                 "explanation": info, "summary_zh": zh, "summary_en": en,
                                 "version": a.version + (1 if changed else 0)})
        repo.save(a)
        if changed:
            _publish(db, outbox, "alert.updated", a)
        return a
    a = Alert(id=alert_id(subject, "crawl_blocked", f"{query}\x1f{now.timestamp():.0f}"), brand=subject,
              kind=Kind.crawl_blocked, status=Status.open, severity=severity_for(2.0), opened_at=now,
              updated_at=now, last_active_at=now, version=1, active_buckets=1, explanation=info,
              summary_zh=zh, summary_en=en)
    _publish(db, outbox, "alert.opened", a)
    repo.save(a)
    ALERTS_OPENED.labels("crawl_blocked").inc()
    return a


def clear_crawl_blocked(db: StateDB, spider: str, query: str, outbox: Outbox) -> list[Alert]:
    """Resolve the open `crawl_blocked` notices for (spider, query) after a successful crawl."""
    repo = AlertRepo(db)
    done = []
    for a in repo.list(brand=f"crawler:{spider}", kind="crawl_blocked", status="open", limit=200).items:
        if (a.explanation or {}).get("query") == query:
            done.append(resolve_alert(db, a.id, "auto", outbox))
    return done
