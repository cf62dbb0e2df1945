"""Classification metrics and the one rule for scoring a 3-class model on binary data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABELS3 = ("negative", "neutral", "positive")  # column order of probs arrays


def decide(probs: np.ndarray, classes: Sequence[str], neutral_below: float = 0.0) -> list[str]:
    """Predicted labels restricted to `classes`.

    On a binary test set (classes = negative/positive) neutral is not an answer the data can
    check, so the prediction is positive iff P(positive) >= P(negative): a binary set is never
    penalised by the neutral class. With all three classes the answer is the argmax, except that
    it is neutral while max(P(pos), P(neg)) < `neutral_below` (abstention tuned on dev data).
    """
    cols = [LABELS3.index(c) for c in classes]
    sub = probs[:, cols]
    out = [classes[i] for i in sub.argmax(axis=1)]
    if neutral_below > 0 and "neutral" in classes:
        unsure = np.maximum(probs[:, 0], probs[:, 2]) < neutral_below
        out = ["neutral" if u else label for u, label in zip(unsure, out, strict=True)]
    return out


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


def tune_neutral_below(probs: np.ndarray, gold: Sequence[str], groups: Sequence[str],
                       grid: Sequence[float] = tuple(np.round(np.arange(0.0, 0.81, 0.05), 2))) -> float:
    """The abstention threshold that maximises mean 3-class macro-F1 over `groups` (corpora), on dev data."""
    best, best_score = 0.0, -1.0
    names = sorted(set(groups))
    for t in grid:
        pred = decide(probs, LABELS3, float(t))
        scores = []
        for g in names:
            rows = [i for i, x in enumerate(groups) if x == g]
            scores.append(classification_report([gold[i] for i in rows], [pred[i] for i in rows], LABELS3)["macro_f1"])
        score = float(np.mean(scores))
        if score > best_score + 1e-9:
            best, best_score = float(t), score
    return best
