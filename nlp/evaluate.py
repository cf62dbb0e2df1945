"""Score a sentiment model on a labelled CSV; prints ONE JSON line.

    python -m nlp.evaluate --csv test.csv --text-column review --label-column label \
        [--label-map 0=negative,1=positive] [--model NAME_OR_PATH]

Output: {"n", "accuracy", "macro_f1", "f1": {class: F1}, "docs_per_s", "skipped", "model", "classes"}.
Rows whose label is not in the map (or whose text is empty) are skipped and counted.
Without --label-map, labels must already be positive/neutral/negative (case-insensitive).

Binary sets (the map names only positive and negative): the answer is positive iff
P(positive) >= P(negative); neutral is not an answer such a set can check, so it never costs.
Sets with neutral are scored on all three classes.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time

from core.errors import ConfigError, OpmonError

VALID = ("negative", "neutral", "positive")


def parse_label_map(spec: str | None) -> dict[str, str] | None:
    if not spec:
        return None
    mapping = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        raw, sep, label = part.partition("=")
        label = label.strip().lower()
        if not sep or label not in VALID:
            raise ConfigError(f"--label-map entry {part!r} must look like RAW=positive|neutral|negative")
        mapping[raw.strip()] = label
    return mapping


def read_rows(path: str, text_col: str, label_col: str, label_map: dict[str, str] | None):
    texts, labels, skipped = [], [], 0
    csv.field_size_limit(10**8)
    try:
        f = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ConfigError(f"cannot read --csv {path}: {exc}") from exc
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in (text_col, label_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path} has no column(s) {missing}; columns: {reader.fieldnames}")
        for row in reader:
            raw = (row.get(label_col) or "").strip()
            label = label_map.get(raw) if label_map is not None else raw.lower()
            text = row.get(text_col) or ""
            if label not in VALID or not text.strip():
                skipped += 1
                continue
            texts.append(text)
            labels.append(label)
    return texts, labels, skipped


def evaluate(model: str, texts: list[str], labels: list[str], *, batch_size: int = 256,
             device: str = "auto") -> dict:
    from nlp.scoring import classification_report, decide
    from nlp.sentiment import SentimentPipeline

    pipeline = SentimentPipeline.load(model, device=device, batch_size=batch_size)
    classes = tuple(c for c in VALID if c in set(labels)) or VALID
    if set(classes) != {"negative", "positive"}:
        classes = VALID  # any set with neutral, or a one-class set, is scored on all three classes
    started = time.perf_counter()
    probs = pipeline.predict_proba(texts)
    elapsed = time.perf_counter() - started
    report = classification_report(labels, decide(probs, classes, pipeline.neutral_below), classes)
    report["docs_per_s"] = round(len(texts) / elapsed, 1) if elapsed > 0 else None
    report["model"] = pipeline.name
    report["classes"] = list(classes)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nlp.evaluate", description="Score a sentiment model on a CSV.")
    p.add_argument("--csv", required=True)
    p.add_argument("--text-column", default="review")
    p.add_argument("--label-column", default="label")
    p.add_argument("--label-map", default=None, help="e.g. 0=negative,1=positive (unmapped labels are skipped)")
    p.add_argument("--model", default=None, help="'bundled', a model directory or a cached HF id (default: OPMON_MODEL)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)
    try:
        from core.settings import get_settings

        settings = get_settings()
        texts, labels, skipped = read_rows(args.csv, args.text_column, args.label_column,
                                           parse_label_map(args.label_map))
        if not texts:
            raise ConfigError(f"no scorable rows in {args.csv} ({skipped} skipped: label not in the map or empty text)")
        report = evaluate(args.model or settings.model, texts, labels, batch_size=args.batch_size,
                          device=args.device or settings.device)
    except OpmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["skipped"] = skipped
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
