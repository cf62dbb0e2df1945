"""Render the bundled model's card (README.md) from the meta.json that `nlp.train` writes."""

from __future__ import annotations

import json
from pathlib import Path


def render(meta: dict) -> str:
    arch = meta["architecture"]
    linear = meta.get("linear") or {}
    lin_n = (linear.get("ngram_range") or [1, 3])[1]
    lin_f = linear.get("features", 0)
    words = linear.get("word_ngrams", 0)
    lin_kind = f"character 1-{lin_n}-gram" + (f" + jieba word 1-{words}-gram" if words else "")
    power = "" if float(linear.get("nb_power", 1.0)) == 1.0 else f" ** {linear['nb_power']}"
    nb = {"ovr": "naive-Bayes-scaled (NB-SVM style: each column times its largest one-class-vs-rest |log-count "
                 f"ratio|{power}) ",
          "pn": f"naive-Bayes-scaled (NB-SVM style: each column times its positive-vs-negative |log-count ratio|{power}) "}
    lin_kind += " " + nb.get(linear.get("nb") or "none", "")
    lin_kind = lin_kind.rstrip()
    ll = meta.get("dev_log_loss") or {}
    if meta.get("combine") == "stack":
        how = ("combined with a {k} TF-IDF logistic regression ({f:,} features) trained on the "
               "same rows by a stacked logistic regression over both halves' log-probabilities, fitted on the dev "
               "split (dev log-loss {s}, 5-fold out-of-fold, against {a} for the best weighted average, "
               "transformer weight {w})").format(k=lin_kind, f=lin_f, s=ll.get("stack"), a=ll.get("average"),
                                                  w=meta["transformer_weight"])
    else:
        how = (f"averaged with a {lin_kind} TF-IDF logistic regression ({lin_f:,} features) trained "
               f"on the same rows (transformer weight {meta['transformer_weight']}, chosen by dev log-loss)")
    lines = [
        f"# {meta['name']}: the bundled Chinese sentiment model",
        "",
        "A small BERT-shaped transformer over single characters, trained from scratch by this project, "
        f"{how}. Three classes: "
        "negative / neutral / positive; the label is neutral when max(P(pos), P(neg)) < "
        f"{meta.get('neutral_below', 0)} (tuned on dev 3-class macro-F1; for touchpoint sentences "
        f"{meta.get('aspect_neutral_below', meta.get('neutral_below', 0))}, tuned on dev car aspects). "
        "The transformer loads with "
        "`AutoModelForSequenceClassification` + `AutoTokenizer`; `nlp.sentiment.SentimentPipeline` reads the "
        "ensemble (`ensemble.json`, `linear/`: safetensors + JSON, no pickle). Touchpoint sentences that are not a "
        "whole text are scored by the linear half alone (speed; the aspect threshold is tuned on that path)."
        + (" The word features are `nlp.keywords.feature_words()` (jieba with its HMM, emoticon alt text cut "
           "out): the same cut as keyword extraction, so `Analyzer.analyze()` cuts each text once for both."
           if words else "")
        + " On CPUs with AMX (and on CUDA) the transformer runs under bf16 autocast (`precision=\"auto\"`); "
        "every figure below was computed that way.",
        "",
        "## Reproduce",
        "",
        "```bash",
        f"{meta['command']}".strip(),
        "```",
        "",
        "",
        f"Shipped files were written by `{meta.get('invocation', meta['command'])}`"
        if meta.get("invocation", meta["command"]) != meta["command"] else "",
        "(`--transformer-from` reuses the transformer that the same seeded command saved in an earlier run, "
        "then fits the linear half, stacker and thresholds as that command does; the held-out split is scored "
        "only in this step)"
        if meta.get("invocation", meta["command"]) != meta["command"] else "",
        "",
        f"- seed: `{meta['seed']}`; device used: {meta['device']}; wall time: {meta['train_minutes']} min "
        f"({meta['epochs_run']} epochs); training precision: {meta.get('train_precision') or 'fp32'}"
        f"{' autocast' if meta.get('train_precision') not in (None, 'fp32') else ''}; "
        "machine: 2 shared CPU cores, 24 GB, no GPU",
        f"- architecture: {arch['num_hidden_layers']} layers, hidden {arch['hidden_size']}, "
        f"{arch['num_attention_heads']} heads, FFN {arch['intermediate_size']}, max {arch['max_position_embeddings']} "
        f"tokens (long texts keep head 1/3 + tail 2/3), vocabulary {arch['vocab_size']} characters",
        f"- split: {meta['split']}",
        f"- rows: {meta['rows']}",
        "- data (see the corpora README for provenance; research/internal use only):",
    ]
    lines += [f"  - `{name}`: `{path}`" for name, path in meta["data"].items()]
    lines += [
        "- labels: shopping/Weibo sets 1 -> positive, 0 -> negative; SMP2020-EWECT happy -> positive, "
        "angry/sad/fear -> negative, neutral -> neutral, surprise dropped; BDCI 2018 car posts grouped by "
        "content_id: any positive aspect -> positive, any negative -> negative, all neutral -> neutral, "
        "mixed polarity dropped; weibo_senti_100k with `[emoticon]` tokens removed (its labels came from them).",
        "- text goes through `nlp.normalise.normalise()` at training and inference alike.",
        "",
        *_dev_lines(meta),
        "## Held-out metrics (10% of each corpus, never trained on)",
        "",
        meta.get("card_note", ""),
        "",
        "Binary sets: positive iff P(positive) >= P(negative). 3-class sets: the model's label (argmax with the "
        "neutral threshold); the transformer-alone column is plain argmax.",
        "",
        "| split | n | accuracy | macro-F1 | transformer alone: accuracy / macro-F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for corpus, r in meta["heldout"].items():
        t = meta.get("heldout_transformer_only", {}).get(corpus, {})
        lines.append(f"| {corpus} | {r['n']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
                     f"{t.get('accuracy', float('nan')):.4f} / {t.get('macro_f1', float('nan')):.4f} |")
    lines += _emotion_lines(meta.get("emotion"))
    lines += [
        "",
        "Comparison with TF-IDF + LR and SnowNLP, throughput and touchpoint figures: `docs/benchmarks.md` (## NLP).",
        "",
        "## Limits",
        "",
        "- Trained on product reviews, Weibo posts and car-forum posts only; hotel and restaurant text is "
        "out of domain. Neutral was learnt from Weibo emotion labels and car-forum posts only.",
        "- Emotion labels are not sentiment labels: sarcasm and news-style posts are hard.",
        "- The training corpora carry no license; treat the weights as research/internal use until cleared.",
    ]
    if meta.get("emotion"):
        lines.append("- The emotion head learnt from ~10k Weibo posts (SMP2020-EWECT, many about the 2020 epidemic) "
                     "only: on product reviews it is out of domain; surprise, fear and sad are rare classes with "
                     "low F1.")
    return "\n".join([*lines, ""])


def _dev_lines(meta: dict) -> list[str]:
    """The dev split's figures (what every choice was made on), when the meta has them."""
    dev = meta.get("dev")
    if not dev:
        return []
    cells = ", ".join(f"{c} {r['accuracy'] if c not in meta.get('three_class', ()) else r['macro_f1']:.4f}"
                      for c, r in dev.items())
    return ["## Dev metrics (5% of each corpus: the split every choice was made on)", "",
            f"Ensemble, out-of-fold where stacked, binary accuracy / 3-class macro-F1: {cells}; stacked dev "
            f"log-loss {(meta.get('dev_log_loss') or {}).get('stack')}.", ""]


def _emotion_lines(emo: dict | None) -> list[str]:
    """The emotion head's section (`nlp.emotion`), when the model has one."""
    if not emo:
        return []
    rows = emo.get("rows", {})
    lines = [
        "",
        "## Emotion head (`emotion/`)",
        "",
        f"Six SMP2020-EWECT emotions ({', '.join(emo['classes'])}) from a multinomial logistic regression over the "
        "linear half's own TF-IDF feature rows (no second feature pass: one more sparse matmul per batch), "
        f"fitted on the smp2020_ewect train split ({rows.get('train')} rows, all six labels, surprise included), "
        f"C = {emo['c']} and class weighting `{emo.get('class_weight', 'none')}` chosen on its dev split "
        f"({rows.get('dev')} rows, macro-F1). The label is "
        f"`{emo.get('fallback', 'neutral')}` when the head's top probability is below {emo['min_confidence']} "
        "(chosen on dev macro-F1; `neutral` = 无情绪, no clear emotion; None is kept for \"this model has no "
        "emotion head\"). Reproduce: `python -m nlp.emotion` (rewrites `emotion/`, this card's figures; the "
        "transformer and the linear half are not touched).",
        "",
    ]
    held = emo.get("heldout")
    if not held:
        return lines + ["Held-out not scored.", ""]
    lines += [
        f"Held-out (the smp2020_ewect held-out split, {held['n']} rows, never trained or tuned on; scored once):",
        "",
        "| system | accuracy | macro-F1 | F1 " + " / ".join(emo["classes"]) + " |",
        "|---|---:|---:|---|",
    ]
    named = [("**emotion head** (shipped rule)", held), ("emotion head, plain argmax", emo.get("heldout_argmax")),
             ("TF-IDF char 1-3 + LR, same rows (on dev: C {c}, class weight {class_weight})",
              emo.get("heldout_tfidf_char13_lr")),
             ("majority class ({label})", emo.get("heldout_majority"))]
    for name, r in named:
        if not r:
            continue
        f1 = " / ".join(f"{r['f1'].get(c, 0):.2f}" for c in emo["classes"])
        lines.append(f"| {name.format(**r)} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {f1} |")
    rule = emo.get("sentiment_consistency")
    if rule:
        dev, held = rule["dev"], rule["heldout"]
        lines += [
            "",
            f"Agreement with sentiment (`sentiment_consistency` = {rule['t']}): when the model's sentiment is "
            f"positive with probability >= {rule['t']}, angry / sad / fear become happy; when it is negative "
            f"with probability >= {rule['t']}, happy becomes neutral. The head learnt from Weibo posts only and "
            "called many plainly positive shopping reviews angry. t chosen on dev rows "
            f"(`python bench/emotion_consistency.py`), held-out scored once (`--heldout`), rule off -> on: "
            f"smp2020 macro-F1 {held['macro_f1_off']:.4f} -> {held['macro_f1_on']:.4f} (dev "
            f"{dev['macro_f1_off']:.4f} -> {dev['macro_f1_on']:.4f}); online_shopping gold-positive reviews "
            f"given a negative emotion {held['positive_negative_off']:.1%} -> {held['positive_negative_on']:.1%}, "
            f"gold-negative given happy {held['negative_happy_off']:.1%} -> {held['negative_happy_on']:.1%} "
            f"({held['shop_rows']} held-out reviews). The table above is without the rule.",
        ]
    return lines + [""]


def write(model_dir: Path) -> Path:
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))
    out = model_dir / "README.md"
    out.write_text(render(meta), encoding="utf-8")
    return out


if __name__ == "__main__":
    import sys

    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "models" / "bundled")))
