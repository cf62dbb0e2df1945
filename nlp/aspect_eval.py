"""Touchpoint detection and per-aspect sentiment, scored on the car-forum posts (BDCI 2018 subjects).

Used by `nlp.train` (to tune the aspect neutral threshold on dev posts) and `bench/nlp_quality.py`
(to score held-out posts).
"""

from __future__ import annotations

import numpy as np

from nlp.scoring import LABELS3, classification_report, decide


def aspect_pairs(pipeline, posts, unit: str = "sentence"):
    """(detected (gold label, mean probs) pairs, true positives, false positives, false negatives)."""
    from nlp.touchpoints import TouchpointMatcher

    matcher = TouchpointMatcher.from_names("car", unit=unit)
    matches = [matcher.match(p.text) for p in posts]
    sentences = list(dict.fromkeys(m.sentence for ms in matches for m in ms))
    # Scored exactly as `Analyzer.analyze` scores them (a whole-text sentence reuses the text's
    # probabilities; the others go to the linear half when the model has one).
    _, sent_probs = pipeline.predict_proba_with_aspects([p.text for p in posts], sentences, normalised=True)
    probs = dict(zip(sentences, sent_probs, strict=True))
    pairs, fp, fn = [], 0, 0
    for post, ms in zip(posts, matches, strict=True):
        gold = dict(post.aspects)  # subject -> label (one label per subject in this data)
        pred: dict[str, list] = {}
        for m in ms:
            pred.setdefault(m.touchpoint, []).append(probs[m.sentence])
        for subject, plist in pred.items():
            if subject in gold:
                pairs.append((gold[subject], np.mean(plist, axis=0)))
            else:
                fp += 1
        fn += sum(1 for s in gold if s not in pred)
    return pairs, len(pairs), fp, fn


def aspect_report(pairs, tp: int, fp: int, fn: int, neutral_below: float) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    gold = [g for g, _ in pairs]
    pred = decide(np.array([p for _, p in pairs]), LABELS3, neutral_below) if pairs else []
    sent = classification_report(gold, pred, LABELS3) if pairs else {"accuracy": 0.0, "macro_f1": 0.0}
    return {
        "precision": round(precision, 4), "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "detected": tp, "sentiment_accuracy": sent["accuracy"], "sentiment_macro_f1": sent["macro_f1"],
        "all_neutral_accuracy": round(gold.count("neutral") / len(gold), 4) if gold else 0.0,
        "neutral_below": neutral_below,
    }


def tune_aspect_threshold(pairs, grid=tuple(np.round(np.arange(0.0, 0.96, 0.05), 2))) -> float:
    """The neutral threshold that maximises aspect-sentiment macro-F1 on (dev) pairs."""
    gold = [g for g, _ in pairs]
    probs = np.array([p for _, p in pairs])
    scores = {float(t): classification_report(gold, decide(probs, LABELS3, float(t)), LABELS3)["macro_f1"]
              for t in grid}
    return max(scores, key=lambda t: (scores[t], -t))
