"""The emotion head: six Weibo emotions from the linear half's own n-gram features.

    python -m nlp.emotion [--model-dir DIR] [--data DIR]     # (re)writes DIR/emotion/, meta.json, card

CEM analysts need more than negative: anger is churn risk, sadness or fear call for a different
answer. The head is a multinomial logistic regression over the SAME TF-IDF rows the linear half of
the bundled model already computes for sentiment (`CharNgramLinear.features`), so scoring a text
costs one more small sparse matmul, not another feature pass. Classes (SMP2020-EWECT): happy,
angry, sad, fear, surprise, neutral.

Training data: the smp2020_ewect rows of the project's fixed split (`nlp.data.split_of`, the same
key as the sentiment corpora: the normalised text): fitted on its train part; the L2 strength, the
class weighting (balanced or none) and the low-confidence rule chosen on its dev part by macro-F1;
the held-out part scored once for the card, with two baselines (majority class; a plain char 1-3-gram
TF-IDF + LR fitted on the same rows, its C and weighting chosen on the same dev rows).

Low confidence: when the head's top probability is below `min_confidence`, the label is `neutral`
("no clear emotion", which is what SMP2020's 无情绪 class means) rather than None: None stays
reserved for "this model has no emotion head", so a dashboard can tell "not measured" from "no
emotion found". The threshold is picked on dev macro-F1 (0 = plain argmax).

Agreement with sentiment (`sentiment_consistency`, 0 = off): trained on Weibo only, the head calls
many plainly positive shopping reviews angry, sad or fear (17 % of the gold-positive reviews of the
shopping corpus's dev rows). So when the model's own sentiment is positive with probability >= t, a
negative emotion becomes `happy`; when it is negative with probability >= t, `happy` becomes
`neutral`. t = 0.7 was chosen on dev rows only (`python bench/emotion_consistency.py`: smp2020 dev
macro-F1 0.545 -> 0.553, shopping dev positive reviews with a negative emotion 17.3 % -> 4.2 %) and
the held-out rows scored once (docs/benchmarks.md, `## NLP`).

Stored as `emotion/emotion.safetensors` (the rows of the weight matrix that are not all zero, float16,
and their feature indices; the intercept) + `emotion/emotion.json` (classes, threshold, and a
fingerprint of the linear half's features: a head is only used with the features it was fitted on).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ModelError

log = logging.getLogger("nlp.emotion")

EMOTIONS = ("happy", "angry", "sad", "fear", "surprise", "neutral")
FALLBACK = "neutral"
HEAD_DIR = "emotion"
C_GRID = (1.0, 2.0, 4.0, 8.0, 16.0)
WEIGHTS = ("balanced", "none")  # class weighting: balanced helps the rare classes that macro-F1 counts
CONFIDENCE_GRID = tuple(np.round(np.arange(0.0, 0.61, 0.05), 2))
NEGATIVE_EMOTIONS = ("angry", "sad", "fear")
SENTIMENT_CONSISTENCY = 0.7  # chosen on dev rows: bench/emotion_consistency.py


def features_fingerprint(linear) -> str:
    """What a head's weights are tied to: the linear half's feature columns and their scaling."""
    h = hashlib.sha256()
    h.update(f"{linear.n_features}:{linear.ngram_range}:{linear.word_ngrams if linear.uses_words else 0}".encode())
    h.update(linear.idf.astype(np.float16).tobytes())
    if linear.word_idf is not None:
        h.update(linear.word_idf.astype(np.float16).tobytes())
    return h.hexdigest()[:16]


class EmotionHead:
    """(features, classes) weights over the linear half's feature rows, and the label rule."""

    def __init__(self, coef_t: np.ndarray, intercept: np.ndarray, classes: Sequence[str],
                 min_confidence: float = 0.0, fingerprint: str | None = None,
                 sentiment_consistency: float = 0.0):
        self.coef_t = np.ascontiguousarray(coef_t, dtype=np.float32)  # (features, classes)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.classes = list(classes)
        self.min_confidence = float(min_confidence)
        self.fingerprint = fingerprint
        self._fallback = self.classes.index(FALLBACK) if FALLBACK in self.classes else None
        self.sentiment_consistency = float(sentiment_consistency)
        self._happy = self.classes.index("happy") if "happy" in self.classes else None
        self._negative = [self.classes.index(c) for c in NEGATIVE_EMOTIONS if c in self.classes]

    @property
    def n_features(self) -> int:
        return self.coef_t.shape[0]

    def proba(self, x) -> np.ndarray:
        """(n, classes) probabilities of feature rows `x` (sparse, the linear half's `features`)."""
        z = np.asarray(x @ self.coef_t) + self.intercept
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def labels(self, probs: np.ndarray, sentiment: np.ndarray | None = None) -> list[str]:
        """Argmax, except `neutral` while the top probability is below `min_confidence`; with the
        texts' sentiment probabilities (n, 3: negative, neutral, positive), the consistency rule."""
        if len(probs) == 0:
            return []
        best = probs.argmax(axis=1)
        if self.min_confidence > 0 and self._fallback is not None:
            best = np.where(probs.max(axis=1) < self.min_confidence, self._fallback, best)
        t = self.sentiment_consistency
        if t > 0 and sentiment is not None and self._happy is not None and self._fallback is not None:
            s = np.asarray(sentiment, dtype=np.float64)
            s = s / np.maximum(s.sum(axis=1, keepdims=True), 1e-9)
            best = np.where(np.isin(best, self._negative) & (s[:, 2] >= t), self._happy, best)
            best = np.where((best == self._happy) & (s[:, 0] >= t), self._fallback, best)
        names = self.classes
        return [names[i] for i in best.tolist()]

    # -- storage -----------------------------------------------------------------------------------
    def save(self, directory: Path, extra: dict | None = None) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(np.abs(self.coef_t).max(axis=1) > 0).astype(np.int32)  # unseen n-grams: 0
        save_file({"rows": rows, "coef": np.ascontiguousarray(self.coef_t[rows].astype(np.float16)),
                   "intercept": self.intercept.astype(np.float32)}, str(directory / "emotion.safetensors"))
        meta = {"kind": "linear_features_logreg", "features": "the linear half's (linear/) TF-IDF rows",
                "n_features": self.n_features, "classes": self.classes, "min_confidence": self.min_confidence,
                "sentiment_consistency": self.sentiment_consistency, "fallback": FALLBACK, "features_fingerprint": self.fingerprint, **(extra or {})}
        (directory / "emotion.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, linear=None) -> EmotionHead:
        """Read a head; with `linear`, check that it was fitted on that linear half's features."""
        from safetensors.numpy import load_file

        try:
            meta = json.loads((directory / "emotion.json").read_text(encoding="utf-8"))
            z = load_file(str(directory / "emotion.safetensors"))
            coef_t = np.zeros((int(meta["n_features"]), len(meta["classes"])), dtype=np.float32)
            coef_t[z["rows"].astype(np.int64)] = z["coef"].astype(np.float32)
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise ModelError(f"the emotion head in {directory} does not load: {exc}") from exc
        head = cls(coef_t, z["intercept"], meta["classes"], float(meta.get("min_confidence", 0.0)),
                   meta.get("features_fingerprint"), float(meta.get("sentiment_consistency", 0.0)))
        if linear is not None:
            found = features_fingerprint(linear)
            if head.n_features != linear.n_features or (head.fingerprint and head.fingerprint != found):
                raise ModelError(f"the emotion head in {directory} was fitted on other features than this model's "
                                 f"linear half (fingerprint {head.fingerprint} vs {found}); retrain it with "
                                 "`python -m nlp.emotion --model-dir <model dir>` or delete that folder")
        return head


def find_head(model_dir: Path, linear) -> EmotionHead | None:
    """The model directory's emotion head, when it has one (and a linear half to feed it)."""
    directory = Path(model_dir) / HEAD_DIR
    if not (directory / "emotion.json").exists():
        return None
    if linear is None:
        raise ModelError(f"{directory} holds an emotion head but the model has no linear half (linear/, "
                         "ensemble.json) to compute its features")
    return EmotionHead.load(directory, linear)


# -- training ---------------------------------------------------------------------------------------
def load_rows(root: Path, seed: int) -> dict[str, tuple[list[str], list[str]]]:
    """The SMP2020-EWECT rows with their six emotion labels, split as `nlp.data` splits every corpus."""
    from nlp.data import FILES, _rows, split_of
    from nlp.normalise import normalise

    parts: dict[str, tuple[list[str], list[str]]] = {s: ([], []) for s in ("train", "dev", "heldout")}
    for row in _rows(root / FILES["smp2020_ewect"]):
        text, label = normalise(row["review"]), row["label"].strip()
        if text and label in EMOTIONS:
            texts, labels = parts[split_of(text, seed)]
            texts.append(text)
            labels.append(label)
    return parts


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> dict:
    from nlp.scoring import classification_report

    return classification_report(list(gold), list(pred), EMOTIONS)


def fit_logreg(x, y: Sequence[str], c: float, seed: int, weight: str = "none"):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000, random_state=seed,
                              class_weight=None if weight == "none" else weight).fit(x, list(y))


def head_from(clf, n_features: int, fingerprint: str | None, min_confidence: float = 0.0) -> EmotionHead:
    """The fitted weights as they will be stored (float16), so every figure is the shipped head's."""
    coef = clf.coef_.astype(np.float16).astype(np.float32)
    return EmotionHead(coef.T.reshape(n_features, -1), clf.intercept_, [str(k) for k in clf.classes_],
                       min_confidence, fingerprint)


def tune_min_confidence(head: EmotionHead, probs: np.ndarray, gold: Sequence[str],
                        grid: Sequence[float] = CONFIDENCE_GRID) -> tuple[float, dict]:
    """The threshold with the best dev macro-F1 (ties: the lowest, i.e. the least intervention)."""
    scores = {}
    for t in grid:
        head.min_confidence = float(t)
        scores[float(t)] = macro_f1(gold, head.labels(probs))["macro_f1"]
    best = max(scores, key=lambda t: (scores[t], -t))
    head.min_confidence = best
    return best, scores


def train_head(model_dir: Path, root: Path, *, seed: int, c_grid: Sequence[float] = C_GRID,
               weights: Sequence[str] = WEIGHTS, score_heldout: bool = True, baselines: bool = True) -> dict:
    """Fit, tune on dev, save `model_dir/emotion/`; returns the figures for meta.json."""
    from nlp.keywords import feature_words
    from nlp.linear import CharNgramLinear

    started = time.time()
    linear = CharNgramLinear.load(Path(model_dir) / "linear")
    parts = load_rows(root, seed)
    (tr_x, tr_y), (dev_x, dev_y), (held_x, held_y) = parts["train"], parts["dev"], parts["heldout"]
    if not tr_x or not dev_x:
        raise ModelError(f"no smp2020_ewect train/dev rows under {root}")

    def feats(texts):
        return linear.features(texts, [feature_words(t) for t in texts] if linear.uses_words else None)

    x_tr, x_dev = feats(tr_x), feats(dev_x)
    fingerprint = features_fingerprint(linear)
    scores, fits = {}, {}
    for weight in weights:
        for c in c_grid:
            head = fits[weight, c] = head_from(fit_logreg(x_tr, tr_y, c, seed, weight), linear.n_features,
                                               fingerprint)
            scores[weight, float(c)] = macro_f1(dev_y, head.labels(head.proba(x_dev)))["macro_f1"]
            log.info("dev macro-F1, class weight %s, C %s: %.4f", weight, c, scores[weight, float(c)])
    # Ties: the first weighting listed, then the stronger regularisation.
    weight, best_c = max(scores, key=lambda k: (scores[k], -list(weights).index(k[0]), -k[1]))
    head = fits[weight, best_c]
    dev_probs = head.proba(x_dev)
    threshold, by_t = tune_min_confidence(head, dev_probs, dev_y)
    log.info("emotion head: class weight %s, C=%s; dev macro-F1 by min confidence %s -> %s", weight, best_c, by_t,
             threshold)
    figures = {
        "classes": list(EMOTIONS), "c": best_c, "class_weight": weight, "min_confidence": threshold,
        "fallback": FALLBACK, "rows": {"train": len(tr_x), "dev": len(dev_x), "heldout": len(held_x)},
        "dev_macro_f1_by_weight_c": {f"{w} C={c}": v for (w, c), v in scores.items()},
        "dev_macro_f1_by_min_confidence": by_t,
        "dev_below_min_confidence": int((dev_probs.max(axis=1) < threshold).sum()),
        "dev": macro_f1(dev_y, head.labels(dev_probs)),
    }
    out = Path(model_dir) / HEAD_DIR
    head.sentiment_consistency = SENTIMENT_CONSISTENCY  # needs the whole model's sentiment: tuned outside
    head.save(out, {"c": best_c, "class_weight": weight, "trained_on": "smp2020_ewect train split (nlp.data.split_of)", "seed": seed})
    if score_heldout and held_x:
        figures.update(score_heldout_once(head, feats(held_x), held_x, held_y, tr_x, tr_y, dev_x, dev_y, seed,
                                          c_grid, weights, baselines))
    figures["train_seconds"] = round(time.time() - started, 1)
    return figures


def score_heldout_once(head: EmotionHead, x_held, held_x: list[str], held_y: list[str], tr_x, tr_y, dev_x, dev_y,
                       seed: int, c_grid: Sequence[float], weights: Sequence[str], baselines: bool = True) -> dict:
    """Held-out figures of the head and of its baselines, each baseline's own choices made on dev too:
    the majority class of the train rows, and a plain char 1-3-gram TF-IDF + LR on the same rows
    (its C and class weighting from the same grid, on the same dev rows)."""
    from collections import Counter

    probs = head.proba(x_held)
    saved, head.min_confidence = head.min_confidence, 0.0
    argmax = macro_f1(held_y, head.labels(probs))
    head.min_confidence = saved
    out = {"heldout": macro_f1(held_y, head.labels(probs)), "heldout_argmax": argmax}
    if not baselines:
        return out
    from sklearn.feature_extraction.text import TfidfVectorizer

    majority = Counter(tr_y).most_common(1)[0][0]
    out["heldout_majority"] = {"label": majority, **macro_f1(held_y, [majority] * len(held_y))}
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    xb_tr, xb_dev = vec.fit_transform(tr_x), vec.transform(dev_x)
    by = {(w, float(c)): macro_f1(dev_y, fit_logreg(xb_tr, tr_y, c, seed, w).predict(xb_dev))["macro_f1"]
          for w in weights for c in c_grid}
    w, c = max(by, key=lambda k: (by[k], -list(weights).index(k[0]), -k[1]))
    pred = fit_logreg(xb_tr, tr_y, c, seed, w).predict(vec.transform(held_x))
    out["heldout_tfidf_char13_lr"] = {"c": c, "class_weight": w, "dev_macro_f1": by[w, c], **macro_f1(held_y, pred)}
    return out


def _parse(argv=None):
    from nlp.data import SEED

    p = argparse.ArgumentParser(prog="python -m nlp.emotion", description=__doc__.split("\n")[0])
    p.add_argument("--model-dir", default=str(Path(__file__).parent / "models" / "bundled"),
                   help="a model directory with a linear half (linear/); the head is written to its emotion/")
    p.add_argument("--data", default=None, help="corpora folder (default: ../shared/data/sentiment)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--c-grid", default=",".join(map(str, C_GRID)), help="inverse L2 strengths to try on dev")
    p.add_argument("--class-weights", default=",".join(WEIGHTS), help="class weightings to try on dev (balanced, none)")
    p.add_argument("--skip-heldout", action="store_true", help="save the head and dev figures only")
    p.add_argument("--no-card", action="store_true", help="do not touch meta.json / README.md")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from nlp.data import require_data_dir

    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    model_dir = Path(args.model_dir)
    figures = train_head(model_dir, require_data_dir(args.data), seed=args.seed,
                         c_grid=[float(c) for c in args.c_grid.split(",")],
                         weights=[w.strip() for w in args.class_weights.split(",")], score_heldout=not args.skip_heldout)
    figures["command"] = "python -m nlp.emotion"
    log.info("emotion head: %s", json.dumps(figures, ensure_ascii=False))
    meta_path = model_dir / "meta.json"
    if not args.no_card and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["emotion"] = figures
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        from nlp.model_card import write as write_card

        write_card(model_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
