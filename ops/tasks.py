"""Periodic passes the scheduler runs besides crawling: the alert monitor and webhook delivery.

Both are thin adapters over the alerts package (`alerts.monitor.Monitor.run_once`,
`alerts.webhook_worker.deliver_due`), so the scheduler runs them on its cadence and tests can drive
them with a simulated clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from store.sqlite_db import StateDB

log = logging.getLogger(__name__)


def webhook_pass(state: StateDB, settings=None) -> Callable[[float], object]:
    from alerts.outbox import Outbox
    from alerts.webhook_worker import deliver_due

    outbox = Outbox(state, settings)

    def run(now: float) -> object:
        report = deliver_due(outbox, now)
        if report.claimed:
            log.info("webhooks: %d delivered, %d failed (%d dead)", report.delivered, report.failed, report.dead)
        return report

    return run


def alert_pass(state: StateDB, store, settings=None) -> Callable[[float], object]:
    from alerts.monitor import Monitor
    from alerts.outbox import Outbox

    monitor = Monitor(store, state, outbox=Outbox(state, settings))

    def run(now: float) -> object:
        report = monitor.run_once(datetime.fromtimestamp(now, tz=UTC))
        if report.opened or report.resolved:
            log.warning("alerts: %d opened %s, %d resolved", len(report.opened), report.opened, len(report.resolved))
        return report

    return run
