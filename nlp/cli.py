"""`opmon score`: score texts or mentions from the command line.

    echo "物流太慢了，客服也不回" | opmon score
    opmon score "质量很好" "一般般吧"
    opmon score --file mentions.jsonl > scored.jsonl     # JSON lines: Mention objects or {"text": ...}

Plain text lines get a sentiment and an emotion each (null for a model without an emotion head);
Mention JSON lines come back fully analysed (sentiment, emotion, keywords, touchpoints, lang). Output: one JSON object per input line, in input order.
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
def score(texts: tuple[str, ...], path: str | None, model: str | None, batch_size: int | None) -> None:
    """Score sentiment (and touchpoints for mentions) of TEXTS, a file, or stdin; prints JSON lines."""
    from core.errors import OpmonError
    from core.mention import Mention, mention_errors
    from core.settings import get_settings

    settings = get_settings()
    update = {k: v for k, v in {"model": model, "nlp_batch_size": batch_size}.items() if v is not None}
    settings = settings.model_copy(update=update)
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
