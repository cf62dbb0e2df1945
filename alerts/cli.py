"""`opmon alerts ...`: run the spike monitor and look at alerts from the command line."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from core.errors import OpmonError
from core.settings import Settings, get_settings


def _state_db(settings: Settings):
    from store.sqlite_db import StateDB

    return StateDB(settings.state_db)


def _outbox(db, settings: Settings):
    """The outbox for the events a command publishes, built with the command's own settings (the key
    that seals webhook secrets comes from them, as in the API's `get_outbox`)."""
    from alerts.outbox import Outbox

    return Outbox(db, settings)


@click.group()
def alerts() -> None:
    """Spike alerts: run the monitor, list, acknowledge and resolve alerts."""


@alerts.command("run")
@click.option("--once", is_flag=True, help="one pass over every monitored brand, then exit")
@click.option("--every", type=click.IntRange(5, 86400), default=60, show_default=True,
              help="seconds between passes")
@click.option("--passes", type=click.IntRange(1), default=None, help="stop after this many passes")
@click.option("--delay", type=click.IntRange(0, 1440), default=10, show_default=True,
              help="ingestion delay in minutes: only buckets ending before now - delay are evaluated")
@click.option("--no-explain", is_flag=True, help="skip the explanation payload (faster)")
def run(once: bool, every: int, passes: int | None, delay: int, no_explain: bool) -> None:
    """Evaluate complete 5-minute buckets for every enabled brand; open, update and resolve alerts."""
    from alerts.monitor import Monitor
    from store.factory import open_store

    settings = get_settings()
    store = open_store(settings)
    try:
        mon = Monitor(store, _state_db(settings), settings=settings, delay=timedelta(minutes=delay),
                      explain_alerts=not no_explain)
        if once:
            r = mon.run_once()
            click.echo(f"{r.brands} brands, {r.buckets} buckets evaluated up to {r.watermark:%Y-%m-%d %H:%M}Z; "
                       f"opened {len(r.opened)}, updated {len(r.updated)}, resolved {len(r.resolved)}, "
                       f"{r.events} webhook events queued")
            return
        mon.loop(timedelta(seconds=every), max_passes=passes)
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@alerts.command("list")
@click.option("--brand", default=None)
@click.option("--status", type=click.Choice(["open", "resolved"]), default=None)
@click.option("--kind", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_(brand: str | None, status: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Newest alerts first."""
    from alerts.incidents import AlertRepo

    page = AlertRepo(_state_db(get_settings())).list(brand=brand, status=status, kind=kind, limit=limit)
    for a in page.items:
        if as_json:
            click.echo(a.model_dump_json())
        else:
            ack = " acked" if a.acked_at else ""
            click.echo(f"{a.id}  {a.opened_at:%Y-%m-%d %H:%M}Z  {a.status.value:8} {a.severity.value:8} "
                       f"{a.kind.value:22} {a.brand}{ack}  {a.summary_en}")
    if not page.items:
        click.echo("no alerts")


@alerts.command("show")
@click.argument("alert_id")
def show(alert_id: str) -> None:
    """One alert with its explanation (JSON)."""
    from alerts.incidents import AlertRepo

    try:
        a = AlertRepo(_state_db(get_settings())).get(alert_id)
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(a.model_dump(mode="json"), ensure_ascii=False, indent=2))


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--by", default="cli", show_default=True)
def ack(alert_id: str, by: str) -> None:
    """Acknowledge an alert."""
    from alerts.monitor import ack_alert

    settings = get_settings()
    try:
        db = _state_db(settings)
        a = ack_alert(db, alert_id, by, _outbox(db, settings))
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{a.id} acknowledged by {a.acked_by}")


@alerts.command("resolve")
@click.argument("alert_id")
@click.option("--by", default="cli", show_default=True)
def resolve(alert_id: str, by: str) -> None:
    """Resolve an alert by hand."""
    from alerts.monitor import resolve_alert

    settings = get_settings()
    try:
        db = _state_db(settings)
        a = resolve_alert(db, alert_id, by, _outbox(db, settings))
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{a.id} resolved by {a.resolved_by}")
