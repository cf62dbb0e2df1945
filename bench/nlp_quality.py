"""Held-out quality of the bundled sentiment model against the classic baselines, in one run.

    python bench/nlp_quality.py [--data ../shared/data/sentiment] [--model bundled] [--compare-model DIR]
                                [--json out.json]
    python bench/nlp_quality.py --dev-compare DIR [DIR ...]   # dev split only: choose a retrained transformer
    python bench/nlp_quality.py --dev-linear '{"nb": "ovr"}' [...]  # dev split only: choose a linear half

On the fixed 10% held-out split of every shared corpus (see nlp/data.py) it scores:
  * the bundled model (transformer + linear ensemble, as shipped) and its transformer alone;
  * with --compare-model DIR, another model (e.g. the previously shipped one) in the same run;
  * a char 1-3-gram TF-IDF + logistic regression trained here, now, on the same train split;
  * SnowNLP (its bundled shopping-review model).
Binary corpora: positive iff P(pos) >= P(neg) (SnowNLP: sentiments >= 0.5). 3-class corpora:
argmax over the three classes (SnowNLP: neutral when 0.4 <= sentiments <= 0.6).
It also scores touchpoint detection and per-aspect sentiment on the held-out car posts.
Prints a Markdown table (for docs/benchmarks.md) and, with --json, writes all figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.data import BINARY, CORPORA, SEED, car_heldout_aspects, load_all, require_data_dir  # noqa: E402
from nlp.scoring import LABELS3, classification_report, decide, tune_neutral_below  # noqa: E402

SNOW_BAND = (0.4, 0.6)


def snownlp_probs(texts: list[str]) -> np.ndarray:
    from snownlp import SnowNLP

    out = np.zeros((len(texts), 3), dtype=np.float32)
    for i, t in enumerate(texts):
        p = SnowNLP(t).sentiments if t.strip() else 0.5
        out[i] = (1 - p, 0.0, p)
        if SNOW_BAND[0] <= p <= SNOW_BAND[1]:
            out[i, 1] = 1.0  # the neutral band wins the 3-class argmax; binary decisions ignore it
    return out


def tfidf_lr(train_texts, train_labels, seed):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2),
        LogisticRegression(C=4.0, max_iter=300, random_state=seed),
    )
    model.fit(train_texts, train_labels)
    return model


def score_all(examples, probs, neutral_below: float = 0.0) -> dict:
    report = {}
    for corpus in CORPORA:
        rows = [i for i, ex in enumerate(examples) if ex.corpus == corpus]
        if rows:
            classes = ("negative", "positive") if corpus in BINARY else LABELS3
            report[corpus] = classification_report([examples[i].label for i in rows],
                                                   decide(probs[rows], classes, neutral_below), classes)
    return report


def aspect_eval(pipeline, root: Path, unit: str) -> dict:
    from nlp.aspect_eval import aspect_pairs, aspect_report

    posts = car_heldout_aspects(root)
    pairs, tp, fp, fn = aspect_pairs(pipeline, posts, unit)
    report = aspect_report(pairs, tp, fp, fn, pipeline.aspect_neutral_below)
    return {"unit": unit, "posts": len(posts), "gold_aspects": sum(len(p.aspects) for p in posts), **report}


def markdown(results: dict) -> str:
    systems = results["systems"]
    lines = ["| held-out split | n | " + " | ".join(systems) + " |",
             "|---|---:|" + "---:|" * len(systems)]
    for corpus in CORPORA:
        first = results["scores"][systems[0]].get(corpus)
        if not first:
            continue
        metric = "accuracy" if corpus in BINARY else "macro_f1"
        cells = []
        best = max(results["scores"][s][corpus][metric] for s in systems)
        for s in systems:
            r = results["scores"][s][corpus]
            cell = f"{r[metric]:.4f} (F1 {r['macro_f1']:.4f})" if metric == "accuracy" else f"{r[metric]:.4f}"
            cells.append(f"**{cell}**" if r[metric] == best else cell)
        name = f"{corpus} ({'binary, accuracy' if metric == 'accuracy' else '3-class macro-F1'})"
        lines.append(f"| {name} | {first['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dev_compare(args, root: Path) -> int:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlp.data import THREE_CLASS
    from nlp.sentiment import SentimentPipeline
    from nlp.train import LABEL2ID, evaluate_probs, fit_stacker, log_loss, summary

    dev = load_all(root, corpora=tuple(args.corpora.split(",")), seed=args.seed)["dev"]
    texts = [ex.text for ex in dev]
    linear = SentimentPipeline.load(args.model, device="cpu").linear
    if linear is None:
        raise SystemExit(f"--dev-compare needs a model with a linear half; {args.model} has none")
    p_lin = linear.predict_proba(texts)[:, [linear.classes.index(c) for c in LABEL2ID]]
    three = [i for i, ex in enumerate(dev) if ex.corpus in THREE_CLASS]
    for d in args.dev_compare:
        model = AutoModelForSequenceClassification.from_pretrained(d, local_files_only=True).eval()
        tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
        p_tr = SentimentPipeline(model, tok, name="dev", device="cpu").predict_proba(texts)
        oof, _ = fit_stacker(dev, p_tr, p_lin, args.seed)
        tau = tune_neutral_below(oof[three], [dev[i].label for i in three], [dev[i].corpus for i in three]) if three else 0.0
        report = evaluate_probs(dev, oof, tau)
        print(json.dumps({"transformer": d, "stacked_dev_log_loss": round(float(log_loss(dev, oof)), 4),
                          "transformer_dev_log_loss": round(float(log_loss(dev, p_tr)), 4), "neutral_below": tau,
                          "summary": round(summary(report), 4),
                          "stacked": {c: r["accuracy"] if c in BINARY else r["macro_f1"] for c, r in report.items()}}),
              flush=True)
    return 0


def dev_linear(args, root: Path) -> int:
    """Refit the linear half on the train split once per spec (JSON of `CharNgramLinear.fit` keyword
    arguments over the shipped configuration), stack each with --model's transformer by the same
    5-fold out-of-fold stacker as `nlp.train`, re-tune the neutral threshold, print one JSON line each."""
    from nlp.data import THREE_CLASS
    from nlp.keywords import feature_words
    from nlp.linear import CharNgramLinear
    from nlp.sentiment import SentimentPipeline
    from nlp.train import LABEL2ID, evaluate_probs, fit_stacker, log_loss, summary

    parts = load_all(root, corpora=tuple(args.corpora.split(",")), seed=args.seed)
    train, dev = parts["train"], parts["dev"]
    texts = [ex.text for ex in dev]
    pipe = SentimentPipeline.load(args.model, device="cpu")
    p_tr = SentimentPipeline(pipe.model, pipe.tokenizer, name="dev", device="cpu").predict_proba(texts)
    words_tr = [feature_words(ex.text) for ex in train]
    words_dev = [feature_words(t) for t in texts]
    three = [i for i, ex in enumerate(dev) if ex.corpus in THREE_CLASS]
    shipped = dict(ngram_range=(1, 4), max_features=500_000, word_ngrams=2, word_features=200_000, c=4.0)
    for spec in args.dev_linear:
        kwargs = {**shipped, **json.loads(spec)}
        kwargs["ngram_range"] = tuple(kwargs["ngram_range"])
        t0 = time.perf_counter()
        lin = CharNgramLinear.fit([ex.text for ex in train], [ex.label for ex in train], seed=args.seed,
                                  words=words_tr, **kwargs)
        p_lin = lin.predict_proba(texts, words_dev)[:, [lin.classes.index(c) for c in LABEL2ID]]
        oof, _ = fit_stacker(dev, p_tr, p_lin, args.seed)
        tau = tune_neutral_below(oof[three], [dev[i].label for i in three], [dev[i].corpus for i in three]) if three else 0.0
        report, alone = evaluate_probs(dev, oof, tau), evaluate_probs(dev, p_lin)
        print(json.dumps({"linear": json.loads(spec), "features": lin.n_features,
                          "stacked_dev_log_loss": round(float(log_loss(dev, oof)), 4),
                          "linear_dev_log_loss": round(float(log_loss(dev, p_lin)), 4), "neutral_below": tau,
                          "summary": round(summary(report), 4),
                          "stacked": {c: r["accuracy"] if c in BINARY else r["macro_f1"] for c, r in report.items()},
                          "linear_alone": {c: r["accuracy"] if c in BINARY else r["macro_f1"] for c, r in alone.items()},
                          "dev_n": {c: r["n"] for c, r in report.items()},
                          "fit_s": round(time.perf_counter() - t0)}, ensure_ascii=False), flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--model", default="bundled")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--json", default=None, help="also write all figures to this file")
    p.add_argument("--compare-model", default=None,
                   help="also score this model (e.g. a copy of the previously shipped bundled model) in the same run")
    p.add_argument("--dev-compare", nargs="+", default=None, metavar="DIR",
                   help="dev split only (the held-out split is not touched): stack each of these transformers "
                        "with --model's linear half (5-fold out-of-fold on dev, neutral threshold re-tuned) "
                        "and print one JSON line each: how a retrained transformer is chosen")
    p.add_argument("--dev-linear", nargs="+", default=None, metavar="JSON",
                   help="dev split only (the held-out split is not touched): refit the linear half with these "
                        "CharNgramLinear.fit options over the shipped ones (e.g. '{}' '{\"nb\": \"ovr\"}'), "
                        "stack each with --model's transformer (5-fold out-of-fold), one JSON line each")
    p.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated subset (quick checks)")
    args = p.parse_args(argv)

    from nlp.sentiment import SentimentPipeline

    root = require_data_dir(args.data)
    if args.dev_compare:
        return dev_compare(args, root)
    if args.dev_linear:
        return dev_linear(args, root)
    parts = load_all(root, corpora=tuple(args.corpora.split(",")), seed=args.seed)  # dev: baseline threshold
    train, held = parts["train"], parts["heldout"]
    texts = [ex.text for ex in held]
    timings, scores = {}, {}

    pipe = SentimentPipeline.load(args.model, device="cpu")
    t0 = time.perf_counter()
    scores["bundled (ensemble)"] = score_all(held, pipe.predict_proba(texts), pipe.neutral_below)
    timings["bundled (ensemble)"] = time.perf_counter() - t0
    if args.compare_model:
        other = SentimentPipeline.load(args.compare_model, device="cpu")
        t0 = time.perf_counter()
        scores["compared model (ensemble)"] = score_all(held, other.predict_proba(texts), other.neutral_below)
        timings["compared model (ensemble)"] = time.perf_counter() - t0
    if pipe.linear is not None:
        from nlp.normalise import normalise

        alone = SentimentPipeline(pipe.model, pipe.tokenizer, name="transformer", device="cpu")
        t0 = time.perf_counter()
        scores["its transformer alone"] = score_all(held, alone.predict_proba(texts))
        timings["its transformer alone"] = time.perf_counter() - t0
        lin = pipe.linear.predict_proba([normalise(t) for t in texts])
        scores["its linear half alone"] = score_all(held, lin[:, [pipe.linear.classes.index(c) for c in LABELS3]])

    t0 = time.perf_counter()
    baseline = tfidf_lr([ex.text for ex in train], [ex.label for ex in train], args.seed)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cols = [list(baseline.classes_).index(c) for c in LABELS3]
    lp = baseline.predict_proba(texts)
    # The baseline gets the same dev-tuned neutral abstention as the bundled model.
    dev3 = [ex for ex in parts["dev"] if ex.corpus not in BINARY]
    base_tau = tune_neutral_below(baseline.predict_proba([ex.text for ex in dev3])[:, cols],
                                  [ex.label for ex in dev3], [ex.corpus for ex in dev3]) if dev3 else 0.0
    scores["TF-IDF char 1-3 + LR"] = score_all(held, lp[:, cols], base_tau)
    timings["TF-IDF char 1-3 + LR"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores["SnowNLP"] = score_all(held, snownlp_probs(texts))
    timings["SnowNLP"] = time.perf_counter() - t0

    aspects = [aspect_eval(pipe, root, unit) for unit in ("sentence", "clause")] if "bdci2018_car" in args.corpora else []
    results = {"model": pipe.name, "seed": args.seed, "systems": list(scores), "scores": scores,
               "seconds": {k: round(v, 2) for k, v in timings.items()}, "baseline_fit_s": round(fit_s, 1),
               "neutral_below": {"bundled": pipe.neutral_below, "tfidf_lr": base_tau},
               "aspects_car": aspects}
    print(markdown(results))
    print()
    for a in aspects:
        print(f"car aspects ({a['unit']}): detection P {a['precision']:.4f} R {a['recall']:.4f} F1 {a['f1']:.4f}; "
              f"on {a['detected']} detected pairs sentiment accuracy {a['sentiment_accuracy']:.4f} macro-F1 "
              f"{a['sentiment_macro_f1']:.4f} (all-neutral accuracy {a['all_neutral_accuracy']:.4f}, macro-F1 "
              f"≈ 0.27; threshold {a['neutral_below']}); {a['posts']} posts")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
