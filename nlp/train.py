"""Train the bundled sentiment model: `python -m nlp.train [--data DIR] [--out DIR]`.

A small BERT-shaped transformer over characters, trained from scratch on the train split of every
shared corpus (3 classes: negative/neutral/positive), plus a char 1-4-gram + jieba word 1-2-gram
TF-IDF logistic regression (the shipped one NB-SVM-scaled: `--linear-nb`) trained on the same rows,
and the emotion head over that linear half's features (`nlp.emotion`; `--no-emotion` skips it).
The halves are combined (stacked LR or weighted average) and the neutral thresholds tuned on the dev split; the held-out split (10% of each corpus)
is only scored at the end, for the model card. Seeded and reproducible
on CPU; uses a GPU (bf16) when one is present.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np

from nlp.data import BINARY, CORPORA, FILES, SEED, THREE_CLASS, Example, load_all, require_data_dir
from nlp.scoring import classification_report, decide, tune_neutral_below

log = logging.getLogger("nlp.train")
LABEL2ID = {"negative": 0, "neutral": 1, "positive": 2}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m nlp.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="corpora folder (default: ../shared/data/sentiment)")
    p.add_argument("--out", default=str(Path(__file__).parent / "models" / "bundled"))
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-minutes", type=float, default=40.0, help="stop training epochs after this long")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=512)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="use at most N training rows (smoke runs)")
    p.add_argument("--no-linear", action="store_true", help="ship the transformer alone")
    p.add_argument("--transformer-from", default=None,
                   help="skip the epochs: reuse the transformer and tokenizer saved in this directory "
                        "(re-assembles the ensemble, threshold and card)")
    p.add_argument("--linear-ngrams", type=int, default=4, help="linear half: char 1..N-grams")
    p.add_argument("--linear-features", type=int, default=500_000, help="linear half: vocabulary size")
    p.add_argument("--linear-c", type=float, default=4.0, help="linear half: inverse L2 strength")
    p.add_argument("--card-note", default="", help="a line for the model card's held-out section "
                   "(e.g. how often the held-out split was looked at this round)")
    p.add_argument("--linear-words", type=int, default=2,
                   help="linear half: also jieba word 1..N-grams (0 = characters only)")
    p.add_argument("--linear-word-features", type=int, default=200_000, help="linear half: word vocabulary size")
    p.add_argument("--linear-nb", choices=("none", "ovr", "pn"), default="none",
                   help="linear half: scale each TF-IDF column by its naive-Bayes log-count ratio (NB-SVM style; "
                        "ovr = largest |ratio| of one class against the rest, pn = positive vs negative)")
    p.add_argument("--linear-nb-power", type=float, default=1.0,
                   help="linear half: with --linear-nb, scale by |ratio| ** this (0.5 dampens the scaling)")
    p.add_argument("--combine", choices=("auto", "average", "stack"), default="auto",
                   help="ensemble: weighted average, stacked LR on dev, or whichever has the lower "
                        "(out-of-fold) dev log-loss")
    p.add_argument("--linear-hash-bits", type=int, default=0,
                   help="linear half: hash all n-grams into 2^N features instead of a capped vocabulary")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="training autocast: auto = bf16 on CUDA and on CPUs with AMX (about 1.5x less CPU per "
                        "step here), else fp32")
    p.add_argument("--no-emotion", action="store_true",
                   help="do not fit the emotion head (nlp.emotion) over the new linear half's features")
    p.add_argument("--skip-heldout", action="store_true",
                   help="save the transformer and dev figures only: no held-out scoring, no card (for choosing "
                        "between candidates on dev; assemble the chosen one later with --transformer-from)")
    return p.parse_args(argv)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    from nlp.sentiment import head_tail

    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    raw = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[cls_id] + head_tail(list(ids), max_length - 2) + [sep_id] for ids in raw]


def batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches (little padding), in random order."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    out = []
    for start in range(0, len(idx), chunk):
        part = sorted(idx[start:start + chunk], key=lambda i: lengths[i])
        out += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def collate(encoded, idx, pad_id):
    import torch

    width = max(len(encoded[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for r, i in enumerate(idx):
        ids[r, : len(encoded[i])] = torch.tensor(encoded[i])
        mask[r, : len(encoded[i])] = 1
    return ids, mask


def evaluate_probs(examples: list[Example], probs: np.ndarray, neutral_below: float = 0.0) -> dict[str, dict]:
    """Per-corpus metrics: binary corpora scored pos-vs-neg, 3-class corpora on all three."""
    report = {}
    for corpus in CORPORA:
        rows = [i for i, ex in enumerate(examples) if ex.corpus == corpus]
        if not rows:
            continue
        classes = ("negative", "positive") if corpus in BINARY else ("negative", "neutral", "positive")
        gold = [examples[i].label for i in rows]
        report[corpus] = classification_report(gold, decide(probs[rows], classes, neutral_below), classes)
    return report


def log_loss(examples: list[Example], probs: np.ndarray) -> float:
    """Mean negative log-likelihood; binary rows are scored on P(label | not neutral)."""
    p = np.clip(probs, 1e-7, 1.0)
    total = 0.0
    for i, ex in enumerate(examples):
        j = LABEL2ID[ex.label]
        total -= np.log(p[i, j] / (p[i, 0] + p[i, 2])) if ex.corpus in BINARY else np.log(p[i, j])
    return total / max(len(examples), 1)


def fit_stacker(dev: list[Example], p_tr: np.ndarray, p_lin: np.ndarray, seed: int):
    """A logistic regression over both halves' log-probabilities, fitted on the dev split.

    Returns (5-fold out-of-fold dev probabilities, (coef, intercept) fitted on all of dev). It can
    weigh the halves per class (e.g. trust the transformer more on neutral), which one average cannot.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from nlp.sentiment import stack_features

    x = stack_features(p_tr, p_lin)
    y = np.array([LABEL2ID[ex.label] for ex in dev])
    oof = np.zeros_like(p_tr, dtype=np.float32)
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        oof[te] = LogisticRegression(C=1.0, max_iter=1000).fit(x[tr], y[tr]).predict_proba(x[te])
    full = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    return oof, (full.coef_.astype(np.float32), full.intercept_.astype(np.float32))


def summary(report: dict[str, dict]) -> float:
    """One number to select on: mean of binary accuracy and 3-class macro-F1 over the corpora."""
    vals = [r["accuracy"] if c in BINARY else r["macro_f1"] for c, r in report.items()]
    return float(np.mean(vals)) if vals else 0.0


def main(argv=None) -> int:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from nlp.device import configure_threads, resolve_device
    from nlp.sentiment import SentimentPipeline
    from nlp.tokenizer import build_char_tokenizer

    args = parse_args(argv)
    words = list(sys.argv[1:] if argv is None else argv)
    shown = [("NOTE" if i and words[i - 1] == "--card-note" else w) for i, w in enumerate(words)]
    args.invocation = "python -m nlp.train " + " ".join(shown)
    if "--skip-heldout" in words:
        words.remove("--skip-heldout")
    for flag in ("--transformer-from", "--out", "--card-note"):  # the reproducing command: no reuse, default output
        if flag in words:
            i = words.index(flag)
            words = words[:i] + words[i + 2:]
    args.command = "python -m nlp.train " + " ".join(words)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started = time.time()
    device = resolve_device("auto")
    if device == "cpu":
        configure_threads(args.threads)
    seed_everything(args.seed)
    root = require_data_dir(args.data)
    parts = load_all(root, seed=args.seed)
    train, dev, heldout = parts["train"], parts["dev"], parts["heldout"]
    if args.limit:
        train = random.Random(args.seed).sample(train, min(args.limit, len(train)))
    log.info("data %s: train %d, dev %d, held-out %d (loaded in %.0fs)", root, len(train), len(dev),
             len(heldout), time.time() - started)

    if args.transformer_from:
        return assemble(args, started, device, root, train, dev, heldout)
    tokenizer = build_char_tokenizer([ex.text for ex in train], vocab_size=args.vocab_size,
                                     model_max_length=args.max_length)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=args.intermediate,
        max_position_embeddings=args.max_length, type_vocab_size=1, num_labels=3,
        id2label={v: k for k, v in LABEL2ID.items()}, label2id=dict(LABEL2ID),
        pad_token_id=tokenizer.pad_token_id, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    model = BertForSequenceClassification(config).to(device)
    encoded = encode(tokenizer, [ex.text for ex in train], args.max_length)
    labels = torch.tensor([LABEL2ID[ex.label] for ex in train])
    lengths = [len(e) for e in encoded]
    rng = random.Random(args.seed)
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs
    warmup = max(1, total // 20)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.02, (total - s) / max(1, total - warmup))))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    from nlp.sentiment import autocast_dtype

    autocast = autocast_dtype(device, args.precision)
    args.train_precision = "fp32" if autocast is None else str(autocast).removeprefix("torch.")
    log.info("training precision: %s", autocast or "fp32")

    def dev_pipeline(linear=None, weight=1.0):
        model.eval()
        return SentimentPipeline(model, tokenizer, name="dev", device=device, batch_size=256,
                                 linear=linear, transformer_weight=weight)

    best, best_state, step = -1.0, None, 0
    for epoch in range(args.epochs):
        model.train()
        t0, seen, running = time.time(), 0, 0.0
        for b, idx in enumerate(batches(lengths, args.batch_size, rng)):
            ids, mask = collate(encoded, idx, tokenizer.pad_token_id)
            ids, mask, y = ids.to(device), mask.to(device), labels[idx].to(device)
            if autocast:
                with torch.autocast(device, dtype=autocast):
                    logits = model(input_ids=ids, attention_mask=mask).logits
            else:
                logits = model(input_ids=ids, attention_mask=mask).logits
            loss = loss_fn(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            seen += len(idx)
            running = 0.98 * running + 0.02 * loss.item() if b else loss.item()
            if b % 50 == 0:
                log.info("epoch %d batch %d/%d loss %.4f %.0f rows/s", epoch + 1, b, steps_per_epoch, running,
                         seen / max(1e-9, time.time() - t0))
        pipe = dev_pipeline()
        report = evaluate_probs(dev, pipe.predict_proba([ex.text for ex in dev]))
        score = summary(report)
        log.info("epoch %d done in %.0fs; dev summary %.4f %s", epoch + 1, time.time() - t0, score,
                 {c: (r["accuracy"], r["macro_f1"]) for c, r in report.items()})
        if score > best:
            best = score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if (time.time() - started) / 60 > args.max_minutes and epoch + 1 < args.epochs:
            log.warning("time budget of %.0f min reached after epoch %d; stopping", args.max_minutes, epoch + 1)
            break
    model.load_state_dict(best_state)
    model.eval()
    return finish(args, started, device, root, train, dev, heldout, model, tokenizer, epoch + 1, best)


def assemble(args, started, device, root, train, dev, heldout) -> int:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.transformer_from, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(args.transformer_from, local_files_only=True)
    model.to(device).eval()
    meta = Path(args.transformer_from) / "meta.json"
    prior = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    log.info("reusing the transformer in %s", args.transformer_from)
    args.train_precision = prior.get("train_precision")
    started -= 60 * float(prior.get("transformer_minutes", prior.get("train_minutes", 0)))
    return finish(args, started, device, root, train, dev, heldout, model, tokenizer,
                  prior.get("epochs_run", args.epochs), prior.get("dev_best_summary"))


def finish(args, started, device, root, train, dev, heldout, model, tokenizer, epochs_run, best) -> int:
    from nlp.sentiment import SentimentPipeline

    config = model.config

    def dev_pipeline(linear=None, weight=1.0, stack=None):
        model.eval()
        return SentimentPipeline(model, tokenizer, name="dev", device=device, batch_size=256,
                                 linear=linear, transformer_weight=weight, stack=stack)

    transformer_minutes = round((time.time() - started) / 60, 1)
    linear, weight, stack, combine_ll = None, 1.0, None, {}
    dev_probs = None
    if not args.no_linear:
        from nlp.linear import CharNgramLinear

        t0 = time.time()
        linear = CharNgramLinear.fit([ex.text for ex in train], [ex.label for ex in train], seed=args.seed,
                                     ngram_range=(1, args.linear_ngrams), max_features=args.linear_features,
                                     hash_bits=args.linear_hash_bits or None, c=args.linear_c,
                                     word_ngrams=args.linear_words, word_features=args.linear_word_features,
                                     nb=None if args.linear_nb == "none" else args.linear_nb,
                                     nb_power=args.linear_nb_power)
        log.info("linear model: %d features, fitted in %.0fs", linear.n_features, time.time() - t0)
        dev_texts = [ex.text for ex in dev]
        p_tr = dev_pipeline().predict_proba(dev_texts)
        p_lin = linear.predict_proba(dev_texts)[:, [linear.classes.index(c) for c in LABEL2ID]]
        # Weight chosen by dev log-loss (a proper scoring rule, smoother than accuracy on small sets).
        grid = {round(float(w), 2): log_loss(dev, w * p_tr + (1 - w) * p_lin) for w in np.linspace(0, 1, 11)}
        weight = min(grid, key=grid.get)
        log.info("dev log-loss by transformer weight: %s -> %.2f", grid, weight)
        combine_ll["average"] = round(float(grid[weight]), 4)
        if args.combine in ("auto", "stack"):
            oof, stack = fit_stacker(dev, p_tr, p_lin, args.seed)
            combine_ll["stack"] = round(float(log_loss(dev, oof)), 4)  # out-of-fold: an honest comparison
            log.info("dev log-loss: average %.4f, stacked (5-fold out-of-fold) %.4f", grid[weight],
                     combine_ll["stack"])
            if args.combine == "stack" or combine_ll["stack"] < combine_ll["average"]:
                dev_probs = oof  # thresholds are tuned on out-of-fold probabilities
            else:
                stack = None
    if dev_probs is None:
        dev_probs = dev_pipeline(linear, weight).predict_proba([ex.text for ex in dev])
    three = [i for i, ex in enumerate(dev) if ex.corpus in THREE_CLASS]
    neutral_below = tune_neutral_below(dev_probs[three], [dev[i].label for i in three], [dev[i].corpus for i in three])
    log.info("neutral abstention threshold (dev 3-class macro-F1): %.2f", neutral_below)
    dev_report = evaluate_probs(dev, dev_probs, neutral_below)
    log.info("dev (ensemble, out-of-fold where stacked): summary %.4f %s", summary(dev_report),
             {c: (r["accuracy"], r["macro_f1"]) for c, r in dev_report.items()})
    if args.skip_heldout:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "meta.json").write_text(json.dumps({
            "command": args.command, "epochs_run": epochs_run, "train_precision": args.train_precision, "dev_best_summary": best,
            "transformer_minutes": transformer_minutes, "dev_log_loss": combine_ll,
            "neutral_below": neutral_below, "dev": dev_report}, indent=2), encoding="utf-8")
        log.info("--skip-heldout: transformer and dev figures saved to %s; held-out not scored", out)
        return 0

    aspect_below = neutral_below
    if "bdci2018_car" in {ex.corpus for ex in dev}:
        from nlp.aspect_eval import aspect_pairs, tune_aspect_threshold
        from nlp.data import car_heldout_aspects

        pairs, *_ = aspect_pairs(dev_pipeline(linear, weight, stack), car_heldout_aspects(root, args.seed, "dev"))
        aspect_below = tune_aspect_threshold(pairs) if pairs else neutral_below
        log.info("aspect neutral threshold (dev car aspect-sentiment macro-F1): %.2f", aspect_below)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if linear is not None:
        linear.save(out / "linear")
    spec = {"linear_dir": "linear" if linear is not None else None, "transformer_weight": weight,
            "neutral_below": neutral_below, "aspect_neutral_below": aspect_below}
    if stack is not None:
        spec["stack"] = {"inputs": "log P(transformer) neg/neu/pos, log P(linear) neg/neu/pos",
                         "coef": stack[0].tolist(), "intercept": stack[1].tolist()}
    (out / "ensemble.json").write_text(json.dumps(spec))
    emotion = None
    if linear is not None and not args.no_emotion and (root / FILES["smp2020_ewect"]).exists():
        from nlp.emotion import train_head

        emotion = train_head(out, root, seed=args.seed)  # its own dev choices; held-out scored once
        emotion["command"] = "python -m nlp.emotion"
    elif (out / "emotion").exists():  # fitted on another linear half's features: it would be refused
        import shutil

        shutil.rmtree(out / "emotion")

    final = SentimentPipeline.load(str(out), device=device)
    t0 = time.time()
    held = evaluate_probs(heldout, final.predict_proba([ex.text for ex in heldout]), final.neutral_below)
    held_tr = evaluate_probs(heldout, dev_pipeline().predict_proba([ex.text for ex in heldout]))
    meta = {
        "name": f"opmon-charbert-{args.hidden}x{args.layers}",
        "seed": args.seed,
        "command": args.command,
        "invocation": args.invocation,
        "data": {c: f"../shared/data/sentiment/{f}" for c, f in FILES.items()},
        "split": "md5(seed:key) % 100: 0-9 held-out, 10-14 dev, rest train; key = normalised text, car: content_id",
        "rows": {"train": len(train), "dev": len(dev), "heldout": len(heldout)},
        "architecture": {k: getattr(config, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                         "num_attention_heads", "intermediate_size",
                                                         "max_position_embeddings")},
        "epochs_run": epochs_run,
        "transformer_weight": weight,
        "combine": "stack" if stack is not None else "average",
        "dev_log_loss": combine_ll,
        "neutral_below": neutral_below,
        "aspect_neutral_below": aspect_below,
        "linear": {"ngram_range": [1, args.linear_ngrams], "features": linear.n_features,
                   "hashed": bool(linear.hash_bits), "c": args.linear_c, "nb": args.linear_nb,
                   "nb_power": args.linear_nb_power,
                   "word_ngrams": args.linear_words if linear.uses_words else 0,
                   "word_features": len(linear.word_idf) if linear.uses_words else 0} if linear else None,
        "train_minutes": round((time.time() - started) / 60, 1),
        "transformer_minutes": transformer_minutes,
        "device": device,
        "train_precision": args.train_precision,
        "heldout": held,
        "heldout_transformer_only": held_tr,
        "dev_best_summary": best,
        "dev": dev_report,
        "three_class": list(THREE_CLASS),
        "card_note": args.card_note,
    }
    if emotion is not None:
        meta["emotion"] = emotion
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    from nlp.model_card import write as write_card

    write_card(out)
    log.info("held-out (%.0fs): %s", time.time() - t0, json.dumps(held, ensure_ascii=False))
    log.info("saved to %s in %.1f min", out, (time.time() - started) / 60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
