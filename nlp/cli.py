"""`opmon score`: score texts or mentions from the command line.

    echo "物流太慢了，客服也不回" | opmon score
    opmon score "质量很好" "一般般吧"
    opmon score --file mentions.jsonl > scored.jsonl     # JSON lines: Mention objects or {"text": ...}
    opmon score --store                                   # score the store's unscored mentions in place
    opmon score --store --all                             # re-score every stored mention (a new model)

Plain text lines get a sentiment and an emotion each (null for a model without an emotion head);
Mention JSON lines come back fully analysed (sentiment, emotion, keywords, touchpoints, lang). Output: one JSON object per input line, in input order.

`--store` works on the configured store instead (OPMON_STORE; what `opmon serve` reads): it walks the
mentions in ingest order and writes back, in batches, every one that has no sentiment yet: what a crawl
stored unscored (OPMON_NLP_ENABLED=false, or a model that could not load). Stopping it loses nothing:
a batch is written whole or not at all, and a second run picks up what is still unscored. `--all`
re-scores everything (after a model change). Progress goes to stderr; the last line on stdout is a
JSON summary {"scanned", "scored", "batches"}.
"""

from __future__ import annotations

import json
import sys

import click


def _records(lines):
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                yield n, json.loads(line)
                continue
            except ValueError:
                pass
        yield n, line


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="text or JSONL file to score ('-' = stdin; stdin is read when no TEXTS are given)")
@click.option("--model", default=None, help="'bundled', a local model directory or a cached HF id (default: OPMON_MODEL)")
@click.option("--batch-size", type=int, default=None, help="texts per model batch (default: OPMON_NLP_BATCH_SIZE)")
@click.option("--store", "in_store", is_flag=True, help="score the configured store's unscored mentions in place")
@click.option("--all", "rescore_all", is_flag=True, help="with --store: re-score every mention, not only unscored ones")
def score(texts: tuple[str, ...], path: str | None, model: str | None, batch_size: int | None,
          in_store: bool, rescore_all: bool) -> None:
    """Score sentiment (and touchpoints for mentions) of TEXTS, a file, or stdin; prints JSON lines.
    With --store: score the stored mentions that have no sentiment yet, in place."""
    from core.errors import OpmonError
    from core.mention import Mention, mention_errors
    from core.settings import get_settings

    settings = get_settings()
    update = {k: v for k, v in {"model": model, "nlp_batch_size": batch_size}.items() if v is not None}
    settings = settings.model_copy(update=update)
    if rescore_all and not in_store:
        raise click.UsageError("--all goes with --store")
    if in_store:
        if texts or path:
            raise click.UsageError("--store scores the store; give no TEXTS or --file with it")
        try:
            summary = score_store(settings, rescore_all)
        except OpmonError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(json.dumps(summary))
        return
    if texts:
        records = list(enumerate(texts, 1))
    else:
        stream = click.open_file(path or "-", encoding="utf-8")
        records = list(_records(stream))
    try:
        from nlp.analyzer import Analyzer

        analyzer = Analyzer.from_settings(settings)
    except OpmonError as exc:
        raise click.ClickException(str(exc)) from exc

    mentions, plain, errors = {}, {}, 0
    for n, rec in records:
        if isinstance(rec, dict) and "id" in rec and "source" in rec:
            try:
                mentions[n] = Mention.model_validate(rec)
            except ValueError as exc:
                errors += 1
                click.echo(f"line {n}: invalid mention: {mention_errors(exc)}", err=True)
        elif isinstance(rec, dict):
            plain[n] = str(rec.get("text") or rec.get("review") or rec.get("content") or "")
        else:
            plain[n] = rec
    out: dict[int, dict] = {}
    if mentions:
        for n, m in zip(mentions, analyzer.analyze(list(mentions.values())), strict=True):
            out[n] = m.model_dump(mode="json")
    if plain:
        sentiments, emotions = analyzer.score_texts_with_emotion(list(plain.values()))
        for n, s, e in zip(plain, sentiments, emotions, strict=True):
            out[n] = {"text": plain[n], **s.model_dump(mode="json"), "emotion": e}
    for n in sorted(out):
        sys.stdout.write(json.dumps(out[n], ensure_ascii=False) + "\n")
    if errors:
        click.echo(f"{errors} line(s) skipped as invalid", err=True)
        sys.exit(1)


def score_store(settings, rescore_all: bool = False) -> dict:
    """Analyse the store's mentions without a sentiment (all of them with `rescore_all`) and write them
    back, one `upsert` per model batch; returns the counts."""
    from nlp.analyzer import Analyzer
    from store.factory import open_store

    analyzer = Analyzer.from_settings(settings)
    store = open_store(settings)
    scanned = scored = batches = 0
    pending: list = []

    def flush() -> None:
        nonlocal scored, batches
        if pending:
            store.upsert(analyzer.analyze(pending))
            scored += len(pending)
            batches += 1
            pending.clear()
            click.echo(f"scored {scored} of {scanned} scanned", err=True)

    try:
        for page in store.iter_export():
            for m in page.items:
                scanned += 1
                if rescore_all or m.sentiment is None:
                    pending.append(m)
                    if len(pending) >= settings.nlp_batch_size:
                        flush()
        flush()
    finally:
        store.close()
    return {"scanned": scanned, "scored": scored, "batches": batches}
