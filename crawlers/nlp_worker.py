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


def status() -> tuple[str | None, str | None]:
    """(model name, None) when the worker is ready; (None, why) when the model did not load."""
    if _analyzer is None:
        return None, _error or "the model was not loaded"
    return _analyzer.model_name, None


def analyze(mentions: list) -> tuple[list, float] | None:
    """(the scored copies of `mentions` in order, this worker's CPU seconds for them): one batched
    `Analyzer.analyze` call. None when the model is unavailable in this worker."""
    if _analyzer is None:
        return None
    started = time.process_time()
    return _analyzer.analyze(mentions), time.process_time() - started

