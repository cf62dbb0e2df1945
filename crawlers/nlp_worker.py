"""The NLP stage's worker process: holds one `Analyzer` and scores whole batches of mentions.

Why a process and not a thread: scoring is ~1-2 ms of CPU per mention, the crawl itself ~0.5 ms, and
both are Python. On a thread the model's Python-level work (tokenising, jieba keywords, result
building) holds the GIL that the Scrapy reactor needs, and torch's OpenMP threads spin on the core
the reactor runs on. In its own process with its own threads the model uses one core and the
reactor the other; batch k is scored while the reactor parses the pages of batch k+1.

Runs in a `spawn`ed child (never fork a process with a running reactor and threads). Everything here
is module-level so that the executor can pickle references to it. The pipeline side is
`crawlers/pipelines/nlp.py`.
"""

from __future__ import annotations

import os
import signal
import threading
import time

_analyzer = None
_error: str | None = None


def init(threads: int | None, terms: list[str]) -> None:
    """Executor initializer: load the model once per worker. Never raises: a failure is kept and
    reported by `status()` (an initializer that raises would break the pool without a reason)."""
    global _analyzer, _error
    # Ctrl-C or a scheduler's SIGTERM reaches the whole process group; the crawl's graceful shutdown
    # still needs this worker to score the batches in flight, and the parent ends it at close (if the
    # parent is killed outright, the worker's queue closes and it exits).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Read by OpenMP when torch is first imported (below): idle threads sleep instead of spinning on
    # the core the reactor needs; and no more threads than we were given, when we were given a number.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    _exit_with_parent()
    try:
        from core.settings import get_settings
        from nlp.analyzer import Analyzer

        settings = get_settings()
        if threads:
            settings = settings.model_copy(update={"torch_threads": threads})
        analyzer = Analyzer.from_settings(settings)
        if terms and hasattr(analyzer, "add_terms"):
            analyzer.add_terms(terms)
        _analyzer = analyzer
    except Exception as exc:  # ImportError, ModelError, a broken checkpoint...
        _error = f"{type(exc).__name__}: {exc}"


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this worker when the crawl process is gone (killed with SIGKILL, say). Otherwise the worker
    blocks forever writing a result nobody reads: it holds both ends of its result pipe."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="opmon-nlp-parent-watch", daemon=True).start()


def status() -> tuple[str | None, str | None, float]:
    """(model name, None, start-up CPU s) when the worker is ready; (None, why, CPU s) when the model
    did not load. The CPU seconds are this process's so far: spawn, imports and the model load."""
    if _analyzer is None:
        return None, _error or "the model was not loaded", _cpu()
    return _analyzer.model_name, None, _cpu()


def _cpu() -> float:
    """This process's CPU seconds so far, all its threads (torch's and the linear half's included)."""
    return time.process_time()


# What `Analyzer.analyze` fills in; the rest of a mention comes back unchanged, so only these travel
# back (tests/crawlers/test_nlp_worker_codec.py checks the round trip against `analyze` itself).
FIELDS = ("sentiment", "emotion", "keywords", "aspects", "lang")


def encode(scored: list) -> list[tuple]:
    """The NLP fields of scored mentions as plain tuples, half the bytes of whole Mentions. A pickled
    Mention costs ~14 µs to pickle here and ~15 µs to unpickle on the crawl's reactor (pydantic's
    __setstate__, an enum call per label; several times that when a garbage collection runs in the
    middle); these tuples ~4 and, with `decode`, ~12 µs."""
    rows = []
    for m in scored:
        s = m.sentiment
        sentiment = None if s is None else (
            s.label.value, tuple((k.value, v) for k, v in s.probs.items()), s.score, s.model)
        aspects = tuple((a.touchpoint, a.sentiment.value, a.text) for a in m.aspects)
        rows.append((sentiment, m.emotion, m.keywords, aspects, m.lang))
    return rows


def decode(mentions: list, rows: list[tuple]) -> list:
    """Copies of `mentions` with the NLP fields from `encode` (the crawl process's side). The values
    come from our own model, already validated there: rebuilt without validating them again."""
    from core.mention import Aspect, Label, Sentiment

    label_of = {x.value: x for x in Label}  # a dict lookup, not an enum call per label
    out = []
    for m, (sentiment, emotion, keywords, aspects, lang) in zip(mentions, rows, strict=True):
        if sentiment is not None:
            label, probs, score, model = sentiment
            sentiment = Sentiment.model_construct(label=label_of[label], probs={label_of[k]: v for k, v in probs},
                                                  score=score, model=model)
        out.append(m.model_copy(update={
            "sentiment": sentiment,
            "emotion": emotion,
            "keywords": keywords,
            "aspects": [Aspect.model_construct(touchpoint=t, sentiment=label_of[s], text=x) for t, s, x in aspects],
            "lang": lang,
        }))
    return out


def analyze(mentions: list) -> tuple[list[tuple], float, int, float] | None:
    """(`encode`d NLP fields of `mentions` in order, CPU s of this call, this worker's pid, its CPU s
    so far): one batched `Analyzer.analyze` call. None when the model is unavailable in this worker."""
    if _analyzer is None:
        return None
    started = time.process_time()
    rows = encode(_analyzer.analyze(mentions))
    now = time.process_time()
    return rows, now - started, os.getpid(), now
