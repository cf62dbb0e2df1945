"""Sentiment throughput (texts/s) on 10,000 mixed texts, every system in the same run.

    python bench/nlp_bench.py [--n 10000] [--device cpu] [--bert-base] [--threads N] [--fp32-too]
                              [--baseline-model DIR]
    python bench/nlp_bench.py --analyze [--n 10000]   # Analyzer.analyze vs score_texts on mentions

Systems: the bundled model end to end (normalise -> tokenise -> forward -> ensemble), its
transformer alone, the char n-gram linear model alone, and SnowNLP. Texts: the held-out rows of
the shared corpora (mixed: shopping reviews, Weibo posts, car-forum posts), cycled to --n; without
the corpora, generated review-like sentences. With --bert-base a random-weight BERT-base-size
model (12 x 768, built from a config; nothing downloads) is timed too, e.g. on a GPU.

With --analyze it times the crawl pipeline's NLP stage instead: `Analyzer.analyze()` (sentiment,
keywords, touchpoints and their sentiment, language) against `score_texts()` on the same --n
Weibo mentions (distinct posts of the Weibo corpora, all splits: a speed test, not a quality one;
without the corpora, generated mentions), in batches of --batch-size like the crawler's stage.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def mixed_texts(n: int, seed: int = 7) -> tuple[list[str], str]:
    from nlp.data import CORPORA, data_dir, load_split

    root = data_dir()
    rng = random.Random(seed)
    if root is not None:
        pool = [ex.text for ex in load_split(root, "heldout", CORPORA)]
        rng.shuffle(pool)
        source = f"held-out rows of {root}"
    else:
        parts = (["物流", "客服", "质量", "价格", "包装", "油耗", "口味", "服务"],
                 ["很快", "太慢了", "很好", "一般般", "太差了", "超出预期", "让人失望"],
                 ["，下次还会再买。", "，不推荐。", "。", "，总体还行。", "!!"])
        pool = ["".join(rng.choice(p) for p in parts) * rng.randint(1, 6) for _ in range(2000)]
        source = "generated sentences (shared corpora not found)"
    return [pool[i % len(pool)] for i in range(n)], source


def timed(fn, texts, warm=200):
    """(texts/s wall clock, texts per CPU-second of this process), from cold jieba caches (the rows
    before would otherwise have cut these texts already)."""
    cold()
    fn(texts[:warm])
    cold()
    t0, c0 = time.perf_counter(), time.process_time()
    fn(texts)
    return len(texts) / (time.perf_counter() - t0), len(texts) / max(time.process_time() - c0, 1e-9)


def cold() -> None:
    try:
        from nlp.keywords import clear_cut_cache
    except ImportError:  # an older tree (A/B runs against a previous commit): nothing cached
        return
    clear_cut_cache()


def weibo_mentions(n: int, seed: int = 7) -> tuple[list, str]:
    from datetime import UTC, datetime

    from core.mention import Mention
    from nlp.data import data_dir, load_corpus

    root = data_dir()
    if root is None:
        from bench.mentiongen import generate

        made = [m.model_copy(update={"sentiment": None, "aspects": [], "keywords": []})
                for m in generate(n, seed=seed)]
        return made, "generated mentions (shared corpora not found)"
    pool = list(dict.fromkeys(ex.text for c in ("weibo2018", "smp2020_ewect", "weibo_senti_100k")
                              for ex in load_corpus(c, root)))
    random.Random(seed).shuffle(pool)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    texts = [pool[i % len(pool)] for i in range(n)]
    return ([Mention(id=f"weibo:{i}", source="weibo", kind="post", text=t, published_at=now)
             for i, t in enumerate(texts)], f"{len(set(texts))} distinct Weibo posts from {root}")


def bench_analyze(args) -> int:
    import torch

    from core.settings import Settings
    from nlp.analyzer import Analyzer

    mentions, source = weibo_mentions(args.n)
    analyzer = Analyzer.from_settings(Settings(model=args.model, device=args.device, torch_threads=args.threads,
                                               nlp_batch_size=args.batch_size))
    if args.precision != "auto":  # (no setting for it yet: swap in a pipeline loaded with that precision)
        from nlp.sentiment import SentimentPipeline

        analyzer.pipeline = SentimentPipeline.load(args.model, device=args.device, batch_size=args.batch_size,
                                                   threads=args.threads, precision=args.precision)
    size = 1000  # the crawler's NLP stage hands over batches of this size
    chunks = [mentions[i:i + size] for i in range(0, len(mentions), size)]
    texts = [[m.text for m in c] for c in chunks]
    analyzer.analyze(mentions[:200])
    analyzer.clear_caches()  # cold word and keyword caches, as for fresh mentions
    cold()
    t0, c0 = time.perf_counter(), time.process_time()
    for c in texts:
        analyzer.score_texts(c)
    rate_score = len(mentions) / (time.perf_counter() - t0), len(mentions) / (time.process_time() - c0)
    analyzer.clear_caches()
    cold()  # score_texts cut these texts: analyze starts cold too
    t0, c0 = time.perf_counter(), time.process_time()
    out = [m for c in chunks for m in analyzer.analyze(c)]
    rate_analyze = len(mentions) / (time.perf_counter() - t0), len(mentions) / (time.process_time() - c0)
    mean_len = sum(len(m.text) for m in mentions) / len(mentions)
    aspects = sum(len(m.aspects) for m in out) / len(out)
    print(f"# {len(mentions)} mentions ({source}), mean {mean_len:.0f} chars, {aspects:.2f} touchpoints each; "
          f"batches of {size}; torch {torch.__version__}, {torch.get_num_threads()} threads, model {analyzer.model_name}, "
          f"forward {analyzer.pipeline.precision}, load average {os.getloadavg()[0]:.1f}")
    # Per CPU-second as well: on a shared machine wall-clock rates swing with the neighbours' load.
    print("| stage | mentions/s (wall clock) | mentions per CPU-second |")
    print("|---|---:|---:|")
    print(f"| score_texts (sentiment only) | {rate_score[0]:,.0f} | {rate_score[1]:,.0f} |")
    print(f"| analyze (sentiment, keywords, touchpoints, lang) | {rate_analyze[0]:,.0f} | {rate_analyze[1]:,.0f} |")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--model", default="bundled")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--snownlp-n", type=int, default=None, help="texts for SnowNLP (default: all --n)")
    p.add_argument("--bert-base", action="store_true", help="also time a random-weight BERT-base-size model")
    p.add_argument("--analyze", action="store_true", help="time Analyzer.analyze() against score_texts()")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the setting)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="transformer forward precision (auto: bf16 on CPUs with AMX, on CUDA)")
    p.add_argument("--baseline-model", default=None,
                   help="also time this model directory (e.g. the previous bundled model) with an fp32 forward")
    p.add_argument("--fp32-too", action="store_true",
                   help="also time the bundled model with an fp32 forward in the same run (the pre-bf16 baseline)")
    args = p.parse_args(argv)
    if args.analyze:
        return bench_analyze(args)

    import torch

    from nlp.normalise import normalise
    from nlp.sentiment import SentimentPipeline

    texts, source = mixed_texts(args.n)
    pipe = SentimentPipeline.load(args.model, device=args.device, batch_size=args.batch_size, threads=args.threads,
                                  precision=args.precision)
    mean_len = sum(len(t) for t in texts) / len(texts)
    print(f"# {len(texts)} texts ({source}), mean {mean_len:.0f} chars; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {pipe.device}, forward {pipe.precision}, batch {args.batch_size}")
    threads = torch.get_num_threads()
    how = f"{pipe.precision} forward on {threads} torch thread(s)" + (
        " + the linear half in a thread beside it" if pipe.overlap else "")
    rows = [(f"bundled model (ensemble, end to end, {how})", timed(pipe.predict_proba, texts))]
    if args.fp32_too and pipe.precision != "fp32":
        fp32 = SentimentPipeline(pipe.model, pipe.tokenizer, name="fp32", device=pipe.device, batch_size=args.batch_size,
                                 linear=pipe.linear, stack=pipe.stack, precision="fp32", overlap=pipe.overlap)
        rows.append(("same, fp32 forward", timed(fp32.predict_proba, texts)))
    if args.baseline_model:
        # As round 2 ran it: fp32, every core to torch, the halves one after the other.
        cores = args.threads or max(1, min(len(os.sched_getaffinity(0)), 8))
        base_pipe = SentimentPipeline.load(args.baseline_model, device=args.device, batch_size=args.batch_size,
                                           threads=cores, precision="fp32")
        rows.append((f"baseline model {args.baseline_model} (fp32 forward on {cores} torch threads, halves in turn)",
                     timed(base_pipe.predict_proba, texts)))
        torch.set_num_threads(threads)
    if pipe.linear is not None:
        alone = SentimentPipeline(pipe.model, pipe.tokenizer, name="t", device=pipe.device,
                                  batch_size=args.batch_size, precision=args.precision)
        rows.append((f"bundled transformer alone ({alone.precision}, {threads} torch thread(s))",
                     timed(alone.predict_proba, texts)))
        kind = "char + word n-gram" if pipe.uses_words else "char n-gram"
        rows.append((f"{kind} linear half alone", timed(
            lambda ts: pipe.linear.predict_proba([normalise(t) for t in ts]), texts)))
    if args.bert_base:
        from transformers import BertConfig, BertForSequenceClassification

        big = BertForSequenceClassification(BertConfig(vocab_size=21128, num_labels=3))  # bert-base-chinese shape
        big.config.id2label = {0: "negative", 1: "neutral", 2: "positive"}
        base = SentimentPipeline(big, pipe.tokenizer, name="bert-base-random", device=pipe.device,
                                 batch_size=args.batch_size, max_length=128, precision=args.precision)
        rows.append(("BERT-base size (random weights, max 128 tokens)", timed(base.predict_proba, texts)))

    from snownlp import SnowNLP

    snow_texts = texts[: args.snownlp_n or len(texts)]
    rows.append((f"SnowNLP ({len(snow_texts)} texts)", timed(lambda ts: [SnowNLP(t).sentiments for t in ts if t],
                                                            snow_texts, warm=20)))
    # Per CPU-second as well: on a shared machine wall-clock rates swing with the neighbours' load.
    print("| system | texts/s (wall clock) | texts per CPU-second |")
    print("|---|---:|---:|")
    for name, (rate, cpu_rate) in rows:
        print(f"| {name} | {rate:,.0f} | {cpu_rate:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
