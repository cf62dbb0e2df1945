"""Classification metrics and the one rule for scoring a 3-class model on binary data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABELS3 = ("negative", "neutral", "positive")  # column order of probs arrays


def decide(probs: np.ndarray, classes: Sequence[str]) -> list[str]:
    """Predicted labels restricted to `classes`.

    On a binary test set (classes = negative/positive) neutral is not an answer the data can
    check, so the prediction is positive iff P(positive) >= P(negative): a binary set is never
    penalised by the neutral class.
    """
    cols = [LABELS3.index(c) for c in classes]
    sub = probs[:, cols]
    return [classes[i] for i in sub.argmax(axis=1)]


def classification_report(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> dict:
    n = len(gold)
    correct = sum(g == p for g, p in zip(gold, pred, strict=True))
    per_class = {}
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, pred, strict=True))
        fp = sum(g != c and p == c for g, p in zip(gold, pred, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, pred, strict=True))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        per_class[c] = round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0
    return {
        "n": n,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "macro_f1": round(sum(per_class.values()) / len(per_class), 4) if per_class else 0.0,
        "f1": per_class,
    }
