"""`opmon serve`, `opmon keys ...`, `opmon webhooks ...`: run the API and administer it offline."""

from __future__ import annotations

import asyncio
import json
import signal

import click

from core.errors import OpmonError
from core.settings import get_settings


@click.command()
@click.option("--host", default=None, help="bind address (default OPMON_API_HOST, 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default OPMON_API_PORT, 8000)")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="uvicorn worker processes (each keeps its own rate-limit buckets)")
@click.option("--no-webhook-worker", is_flag=True, help="do not deliver webhooks from this process")
@click.option("--reload", is_flag=True, help="reload on code changes (development)")
def serve(host: str | None, port: int | None, workers: int, no_webhook_worker: bool, reload: bool) -> None:
    """Serve the HTTP API and the dashboard (http://HOST:PORT/dashboard)."""
    import os

    import uvicorn

    settings = get_settings()
    if no_webhook_worker:
        os.environ["OPMON_API_WEBHOOK_WORKER"] = "0"
    uvicorn.run("api.cli:app_factory", factory=True, host=host or settings.api_host, port=port or settings.api_port,
                workers=workers, reload=reload, log_config=None, access_log=False)


def app_factory():
    import os

    from api.main import create_app

    return create_app(webhook_worker=os.environ.get("OPMON_API_WEBHOOK_WORKER", "1") != "0")


# --- keys -----------------------------------------------------------------------------------------
def _state_db():
    from store.sqlite_db import StateDB

    return StateDB(get_settings().state_db)


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed in the state DB)."""


@keys.command("create")
@click.option("--name", required=True, help="who or what uses the key, e.g. cem-prod")
@click.option("--scopes", default="read", show_default=True, help="comma-separated: read, write, admin")
@click.option("--rate-limit", "rate", type=click.IntRange(1, 1_000_000), default=None,
              help="requests per minute for this key (default OPMON_RATE_LIMIT_PER_MINUTE)")
def keys_create(name: str, scopes: str, rate: int | None) -> None:
    """Create a key and print its token (shown once; only its hash is stored)."""
    from api.auth import KeyRepo

    try:
        info, token = KeyRepo(_state_db()).create(name, [scopes], rate)
    except OpmonError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"created key {info.id} ({info.name}) scopes={','.join(info.scopes)}", err=True)
    click.echo("store this token now; it cannot be shown again:", err=True)
    click.echo(token)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def keys_list(as_json: bool) -> None:
    """List keys (ids, names, scopes, last use; never tokens)."""
    from dataclasses import asdict

    from api.auth import KeyRepo

    rows = KeyRepo(_state_db()).list()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        click.echo(f"{r.id}\t{r.name}\t{','.join(r.scopes)}\t{r.rate_per_minute or '-'}/min\t"
                   f"last used {r.last_used_at or 'never'}\t{state}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke KEY_ID (a running API stops accepting it within seconds)."""
    from api.auth import KeyRepo

    try:
        KeyRepo(_state_db()).revoke(key_id)
    except OpmonError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"revoked {key_id}")


# --- webhooks -------------------------------------------------------------------------------------
@click.group()
def webhooks() -> None:
    """Inspect webhooks and run deliveries from the outbox."""


def _outbox():
    from alerts.outbox import Outbox

    return Outbox(_state_db(), get_settings())


@webhooks.command("list")
def webhooks_list() -> None:
    """List webhooks with their pending/dead counts (secrets are never printed)."""
    ob = _outbox()
    for h in ob.webhooks():
        pending = len(ob.deliveries(h.id, status="pending", limit=10_000))
        dead = len(ob.deliveries(h.id, status="dead", limit=10_000))
        click.echo(f"{h.id}\t{h.url}\t{','.join(h.events)}\tpending={pending}\tdead={dead}")


@webhooks.command("new-key")
def webhooks_new_key() -> None:
    """Print a fresh key for OPMON_SECRET_KEY (webhook secrets are sealed with it at rest)."""
    from core.secret_box import new_key

    click.echo(new_key())


@webhooks.command("reseal")
@click.option("--new-key", envvar="OPMON_NEW_SECRET_KEY", prompt=True, hide_input=True,
              help="the key to seal with from now on (default: prompted, or OPMON_NEW_SECRET_KEY)")
def webhooks_reseal(new_key: str) -> None:
    """Re-seal every webhook secret under a new key (key rotation); then set OPMON_SECRET_KEY to it."""
    from core.secret_box import SecretBox, decode_key

    try:
        n = _outbox().reseal(SecretBox(decode_key(new_key, "--new-key")))
    except OpmonError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"resealed {n} webhook secrets; now set OPMON_SECRET_KEY to the new key and restart the API "
               "and workers")


@webhooks.command("deliver-once")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def webhooks_deliver_once(limit: int) -> None:
    """Deliver every due event once and exit (cron-friendly)."""
    from alerts.webhook_worker import deliver_due

    r = deliver_due(_outbox(), limit=limit)
    click.echo(f"claimed={r.claimed} delivered={r.delivered} failed={r.failed} dead={r.dead}")


@webhooks.command("worker")
@click.option("--poll", type=click.FloatRange(0.1, 60), default=1.0, show_default=True, help="seconds between polls")
def webhooks_worker(poll: float) -> None:
    """Deliver continuously until interrupted (when the API runs with --no-webhook-worker)."""
    from alerts.webhook_worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(_outbox(), stop, poll_s=poll)

    asyncio.run(main())
