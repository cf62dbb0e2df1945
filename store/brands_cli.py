"""`opmon brands rematch`: apply the current brand rules to the mentions already stored."""

from __future__ import annotations

import json
import time as time_mod
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import click

from core.errors import OpmonError


@click.group()
def brands() -> None:
    """Monitored brands and the mentions tagged with them."""


def _day(settings, value: date | None) -> datetime | None:
    """A YYYY-MM-DD date as midnight in the service time zone (OPMON_TIMEZONE), like the API."""
    if value is None:
        return None
    return datetime.combine(value, time(0), tzinfo=ZoneInfo(settings.timezone))


@brands.command()
@click.option("--brand", "scope", multiple=True, metavar="NAME",
              help="re-decide only this monitored brand (repeatable; default: every monitored brand)")
@click.option("--remove", multiple=True, metavar="NAME",
              help="strip this brand, no longer monitored (deleted or disabled), from every mention (repeatable)")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="only mentions published on or after this day (service time zone)")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="only mentions published before this day (service time zone)")
@click.option("--dry-run", is_flag=True, help="count what would change; write nothing")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 10_000),
              help="mentions read per page and written per transaction")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def rematch(scope: tuple[str, ...], remove: tuple[str, ...], since: datetime | None, until: datetime | None, dry_run: bool, batch: int,
            as_json: bool) -> None:
    """Re-apply the brand rules (names, keywords, aliases, exclusions) to stored mentions.

    Use it after changing a brand through /v1/brands or brands.yaml: a mention that no longer
    matches loses the brand, one that now matches gains it; trends and brand searches follow.
    Brands that are not monitored (or not given with --brand) are left as they are on every
    mention, unless named with --remove (a deleted brand's old tags). Safe to run again: a
    second run changes nothing.
    """
    from core.brands import load_monitored_brands
    from core.settings import get_settings
    from store.factory import open_store
    from store.rematch import rematch_brands, resolve_remove, resolve_scope

    settings = get_settings()
    try:
        monitored = load_monitored_brands(settings)
        resolve_scope(monitored, scope or None)  # an unknown --brand fails before the store opens
        resolve_remove(monitored, remove)
    except OpmonError as exc:
        raise click.UsageError(str(exc)) from exc
    if not monitored and not remove:
        raise click.ClickException("no monitored brands (add some through /v1/brands or brands.yaml)")
    lo, hi = _day(settings, since and since.date()), _day(settings, until and until.date())
    if lo is not None and hi is not None and hi <= lo:
        raise click.UsageError("--until must be after --since")

    last = [time_mod.monotonic()]

    def progress(r) -> None:  # at most one line every 2 s: a big store has thousands of pages
        if time_mod.monotonic() - last[0] >= 2:
            last[0] = time_mod.monotonic()
            click.echo(f"... {r.scanned} scanned, {r.changed} {'to change' if dry_run else 'changed'}", err=True)

    try:
        store = open_store(settings)
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = rematch_brands(store, monitored, scope=scope or None, remove=remove, since=lo, until=hi, batch=batch,
                                dry_run=dry_run, progress=progress)
    except OpmonError as exc:
        raise click.ClickException(f"rematch stopped: {exc} (batches already written stay written; "
                                   "run it again to finish)") from exc
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    verb = "would change" if dry_run else "changed"
    stripped = f" (stripping {', '.join(remove)})" if remove else ""
    click.echo(f"brands {', '.join(result.scope)}{stripped}: {result.scanned} mentions scanned, {result.changed} {verb}")
    for name in sorted(set(result.added) | set(result.removed)):
        click.echo(f"  {name}: +{result.added.get(name, 0)} -{result.removed.get(name, 0)}")
    if dry_run:
        click.echo("dry run: nothing was written")
