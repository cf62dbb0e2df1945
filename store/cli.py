"""`opmon ingest FILE.jsonl` and `opmon stats`: bulk import and a quick look at the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from core.errors import OpmonError
from core.settings import get_settings
from store.bulk import BATCH

OPTIMIZE_AFTER = 50_000  # new mentions in one import after which the full-text index is merged


def _settings(store: str | None):
    settings = get_settings()
    if store:
        if store.startswith(("http://", "https://")):
            settings = settings.model_copy(update={"store": "elasticsearch", "es_url": store})
        else:
            settings = settings.model_copy(update={"store": "sqlite", "sqlite_path": Path(store)})
    return settings


def _open(store: str | None):
    from store.factory import open_store

    try:
        return open_store(_settings(store))
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--store", "store", default=None, metavar="PATH|URL",
              help="mention DB file or Elasticsearch URL (default: from OPMON_* settings)")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 100_000),
              help="lines per transaction / bulk request")
@click.option("--workers", default=None, type=click.IntRange(0, 64),
              help="preparer processes for the embedded store (default: one per core; 0: none)")
@click.option("--max-errors", default=20, show_default=True, type=click.IntRange(0),
              help="rejections to print (all are counted)")
@click.option("--strict", is_flag=True, help="exit with status 1 when any line was rejected")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def ingest(file: str, store: str | None, batch: int, workers: int | None, max_errors: int, strict: bool,
           as_json: bool) -> None:
    """Validate and import mentions from FILE.jsonl (one mention per line; '-' for stdin).

    Idempotent: mentions are upserted by id, so re-running the same file (for example after an
    interruption) completes the import without duplicates. Each batch is one transaction.
    Into the embedded store, preparer processes validate and tokenise while this one writes.
    """
    from store.bulk import IngestResult, ingest_jsonl

    st = _open(store)
    shown = 0

    def reject(no: int, reason: str) -> None:
        nonlocal shown
        if shown < max_errors:
            click.echo(f"{file}:{no}: rejected: {reason}", err=True)
            shown += 1

    try:
        stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        st.close()
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    res = IngestResult()
    try:
        with stream:
            ingest_jsonl(st, stream, batch=batch, workers=workers, on_reject=reject, result=res)
        if res.inserted >= OPTIMIZE_AFTER and hasattr(st, "optimize"):
            st.optimize()  # a bulk import leaves the full-text index in many segments
    except OpmonError as exc:
        raise click.ClickException(f"import stopped after {res.accepted} mentions "
                                   f"({res.rejected} lines rejected): {exc}") from exc
    finally:
        st.close()
    inserted, updated, rejected = res.inserted, res.updated, res.rejected
    if rejected > shown:
        click.echo(f"... and {rejected - shown} more rejected lines", err=True)
    accepted = inserted + updated
    summary = {"file": file, "accepted": accepted, "inserted": inserted, "updated": updated,
               "rejected": rejected}
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        click.echo(f"{file}: accepted {accepted} ({inserted} new, {updated} updated), rejected {rejected}")
    if strict and rejected:
        sys.exit(1)


@click.command()
@click.option("--store", "store", default=None, metavar="PATH|URL",
              help="mention DB file or Elasticsearch URL (default: from OPMON_* settings)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def stats(store: str | None, as_json: bool) -> None:
    """Mention counts per source and per sentiment."""
    from store.base import SENTIMENT_KEYS, Filters

    st = _open(store)
    try:
        total = st.count(Filters())
        by_source = st.breakdown(Filters(), "source", limit=1000)
        by_sentiment = st.breakdown(Filters(), "sentiment", limit=10)
        per = {s: st.breakdown(Filters(sources=[s]), "sentiment", limit=10) for s in by_source}
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        st.close()
    sentiments = {k: by_sentiment.get(k, 0) for k in SENTIMENT_KEYS}
    if as_json:
        click.echo(json.dumps({"backend": st.name, "total": total, "by_source": by_source,
                               "by_sentiment": sentiments,
                               "by_source_sentiment": {s: {k: per[s].get(k, 0) for k in SENTIMENT_KEYS}
                                                       for s in by_source}}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if total == 0:
        console.print(f"The {st.name} store is empty. Import mentions with: opmon ingest FILE.jsonl")
        return
    table = Table(title=f"{total} mentions ({st.name})")
    table.add_column("source")
    for k in sentiments:
        table.add_column(k, justify="right")
    table.add_column("total", justify="right")
    for source, n in by_source.items():
        row = per.get(source, {})
        table.add_row(source, *(str(row.get(k, 0)) for k in sentiments), str(n))
    table.add_row("[b]all[/b]", *(f"[b]{v}[/b]" for v in sentiments.values()), f"[b]{total}[/b]")
    console.print(table)

