"""Stage 4: sentiment, keywords, aspects and language, one model call per batch.

Off (NotConfigured) when OPMON_NLP_ENABLED=false. When the model cannot be loaded the crawl still
stores its mentions, unscored (`opmon score --store` scores them later), with an ERROR line and the stat
`pipeline/nlp/unavailable`; a batch that fails is passed on unscored and counted.

Where the model runs (`NLP_PROCESSES`):
- 1 (default): in a worker process (crawlers/nlp_worker.py) that loads the model before the crawl
  starts and scores whole batches, in order, with `NLP_WORKER_THREADS` torch threads (default:
  OPMON_TORCH_THREADS, else 1 on a machine with 2 cores or fewer, else what nlp/device.py picks;
  idle OpenMP threads sleep instead of spinning).
  The reactor only pickles batches in and gets back the NLP fields as plain tuples (`nlp_worker.encode`,
  not whole Mentions), so parsing the next pages overlaps scoring. A worker that dies is an ERROR line and
  `pipeline/nlp/worker_died`; its batches go on unscored (`pipeline/nlp/unscored`), a fresh worker
  takes the next batch (at most `NLP_WORKER_RESTARTS` times, then the rest is stored unscored).
  A worker that is alive but returns nothing for `NLP_WORKER_TIMEOUT` seconds (default 300) while
  batches wait is hung: it is killed (`pipeline/nlp/worker_hung`) and handled as a dead one, so a
  stuck model stalls the crawl for minutes at most, never for good.
  Start-up (spawn, imports, model load) is not on that clock but has its own limit,
  `NLP_WORKER_START_TIMEOUT` seconds (default 600: the bundled model loads in ~7 CPU s, a big Hugging
  Face checkpoint on a slow disk in a few minutes). A worker not ready by then (a model load stuck on
  a hung network filesystem, a deadlocked import) is killed, with an ERROR line naming the setting and
  `pipeline/nlp/worker_start_timeout`, and the crawl goes on as when the model cannot be loaded
  (unscored, `pipeline/nlp/unavailable`). The same holds for a fresh worker replacing a dead one; a
  start that timed out is not retried, and no worker is started after it (it would likely hang again,
  stalling the batches each time).
- N > 1: N such workers, each a one-process pool of its own, all started (and each on its own
  start-up clock) when the crawl opens; the crawl starts when the first is ready. A batch goes to the
  ready worker with the fewest batches in flight, never to one still starting, so a worker stuck
  loading holds up no batch while another is ready. Each worker is watched, killed and replaced on
  its own as above (the restarts are shared: `NLP_WORKER_RESTARTS` in all); a worker killed at its
  start-up limit leaves the others scoring (an ERROR line naming the setting, `worker_start_timeout`),
  and only when no worker is left does the crawl go on unscored (`pipeline/nlp/unavailable`). At
  close, a worker still starting while another one scored is killed (a WARNING line), not waited for.
  CPU stats: `pipeline/nlp/worker_cpu_ms` the workers' time in `analyze`, `worker_start_cpu_ms` their
  start-up (spawn, imports, model load; every worker that got ready, summed), `worker_total_cpu_ms`
  all of it up to each worker's last batch (start-up and batch transport included).
- 0: in this process, on a thread (for debugging; slower: the model and the reactor share the GIL;
  no start-up limit: a model load in this process cannot be interrupted).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from scrapy.exceptions import NotConfigured

from core.settings import get_settings
from crawlers import nlp_worker
from crawlers.pipelines.base import BatchingPipeline

logger = logging.getLogger(__name__)


def brand_terms() -> list[str]:
    """Brand and product names, kept whole in extracted keywords."""
    try:
        from crawlers.pipelines.brands import load_monitored_brands

        return sorted({t for b in load_monitored_brands() for t in [b.name, *b.keywords, *b.aliases] if t})
    except Exception as exc:
        logger.warning("could not teach brand names to the keyword extractor: %s", exc)
        return []


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_worker_threads(processes: int) -> int | None:
    """Torch threads per worker when neither NLP_WORKER_THREADS nor OPMON_TORCH_THREADS says.

    1 when the workers would otherwise share the cores with the reactor (one worker on 2 cores or
    fewer, N workers on N + 1 or fewer). The reactor needs about half a core in an NLP-on crawl; the NLP
    package's own choice there (one torch thread plus the ensemble's linear half on a thread of its
    own, with a fast GIL hand-off) spends more CPU per mention for the same work and competes with
    the reactor for the second core. Measured on the crawl benchmark, 2 cores, five interleaved
    pairs (loaded machine): 1 thread used less CPU in 4 and was faster in 3; means 37.9 vs 39.3 CPU s,
    713 vs 667 mentions/s (docs/benchmarks.md, `## Crawl`). With more cores: None, the NLP package decides (nlp/device.py).
    """
    if available_cpus() <= max(1, processes) + 1:
        return 1
    return None


class _Worker:
    """One NLP worker process (a one-process pool of its own, so that one hung or dead worker can be
    killed without breaking the others): its start-up, its batches in flight and its progress clock."""

    def __init__(self, seq: int, pool: ProcessPoolExecutor, ready: asyncio.Future, start_limit_s: float):
        self.seq = seq  # 1, 2, ... in the order the stage started them (replacements included)
        self.pool = pool
        self.ready = ready  # the worker's status(): model loaded or why not
        self.start_limit_s = start_limit_s  # NLP_WORKER_START_TIMEOUT when it was started
        self.started_at = time.monotonic()
        self.start_timer: asyncio.TimerHandle | None = None  # kills it when it is not ready in time
        self.ok = False  # ready, with the model loaded: batches go only to such workers
        self.inflight = 0  # batches submitted to it and not answered yet
        self.progress_at = time.monotonic()  # when it last answered (or got work while idle)
        self.batches = 0  # batches it answered


class NlpPipeline(BatchingPipeline):
    stage = "nlp"
    batch_setting = "NLP_BATCH_SIZE"

    def __init__(self, crawler):
        super().__init__(crawler)
        s = crawler.settings
        self.processes = max(0, s.getint("NLP_PROCESSES", 1))
        threads = s.get("NLP_WORKER_THREADS") or 0
        if str(threads).strip().lower() == "auto":  # the NLP package decides (nlp/device.py)
            self.threads: int | None = None
        else:
            self.threads = (s.getint("NLP_WORKER_THREADS", 0) or get_settings().torch_threads
                            or default_worker_threads(self.processes))
        self.restarts_left = max(0, s.getint("NLP_WORKER_RESTARTS", 2))
        self.timeout_s = max(0.1, s.getfloat("NLP_WORKER_TIMEOUT", 300.0))
        self.start_timeout_s = max(0.1, s.getfloat("NLP_WORKER_START_TIMEOUT", 600.0))
        self.workers: list[_Worker] = []  # live ones: starting or ready
        self.started = 0  # workers started so far (replacements included)
        self.start_hung = False  # a start timed out: start no more workers (they would likely hang too)
        self.analyzer = None  # in-process mode
        self.available = True
        self.terms: list[str] = []
        self.worker_cpu: dict[int, float] = {}  # worker seq -> its CPU seconds so far (start-up included)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("NLP_ENABLED", True) or not get_settings().nlp_enabled:
            raise NotConfigured("NLP disabled (OPMON_NLP_ENABLED=false)")
        return cls(crawler)

    @property
    def pool(self) -> ProcessPoolExecutor | None:
        """The first live worker's pool (None when none is left): for probes and tests."""
        return self.workers[0].pool if self.workers else None

    async def open_spider(self):
        self.terms = brand_terms()
        if self.processes:
            # Wait for the model, as in-process loading would: the crawl's clock (start_time) and its
            # first batch then see a ready worker, and an unloadable model is reported up front. The
            # wait is bounded: NLP_WORKER_START_TIMEOUT kills a worker that never gets ready. With
            # several workers the crawl starts when the first is ready; the others join when they are.
            for _ in range(self.processes):
                self._start_worker()
            await self._next_worker()
            return
        try:
            from nlp.analyzer import Analyzer

            self.analyzer = Analyzer.from_settings(get_settings())
        except Exception as exc:  # ImportError, ModelError, a broken checkpoint...
            self._unavailable(f"{type(exc).__name__}: {exc}")
            return
        if self.terms and hasattr(self.analyzer, "add_terms"):
            self.analyzer.add_terms(self.terms)

    # -- the worker processes --------------------------------------------------------------------
    def _start_worker(self) -> _Worker:
        """Start one worker process, which loads the model (`ready` resolves when it has, or is
        cancelled when it has not within `start_timeout_s`)."""
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=nlp_worker.init, initargs=(self.threads, self.terms))
        self.started += 1
        worker = _Worker(self.started, pool, asyncio.wrap_future(pool.submit(nlp_worker.status)),
                         self.start_timeout_s)
        self.workers.append(worker)
        worker.ready.add_done_callback(lambda fut: self._worker_status(worker, fut))
        worker.start_timer = asyncio.get_running_loop().call_later(
            worker.start_limit_s, self._start_timed_out, worker)
        return worker

    def _start_timed_out(self, worker: _Worker) -> None:
        """The worker has not reported ready within NLP_WORKER_START_TIMEOUT: kill it. With other
        workers left they score on; with none, the crawl goes on unscored, as when the model cannot
        be loaded. Not retried, and no worker is started after it: what hung (a stuck disk, a
        deadlocked import) would most likely hang the next one too, and batches would wait for it."""
        worker.start_timer = None
        if worker not in self.workers or worker.ready.done():
            return
        self.stats.inc_value("pipeline/nlp/worker_start_timeout")
        self.start_hung = True
        self._retire(worker, kill=True)
        took = time.monotonic() - worker.started_at
        stuck = "is the model load stuck (a slow or hung filesystem, a deadlocked import)?"
        if self.workers:
            logger.error("NLP worker %d was not ready after %.1f s (NLP_WORKER_START_TIMEOUT=%g s), killed it; %s "
                         "Going on with %d other worker(s)", worker.seq, took, worker.start_limit_s, stuck,
                         len(self.workers))
        else:
            self._unavailable(f"the NLP worker was not ready after {took:.1f} s "
                              f"(NLP_WORKER_START_TIMEOUT={worker.start_limit_s:g} s), killed it; {stuck} "
                              "`opmon score --store` can score the mentions later")
        worker.ready.cancel()  # releases open_spider and the batches waiting for a ready worker

    def _worker_status(self, worker: _Worker, fut: asyncio.Future) -> None:
        if worker.start_timer is not None:
            worker.start_timer.cancel()
            worker.start_timer = None
        if fut.cancelled():  # start-up timed out (reported by _start_timed_out), or closing
            return
        exc = fut.exception()
        if exc is not None:
            if isinstance(exc, BrokenProcessPool):  # died while starting: as a dead worker
                self._worker_died(worker, exc)
                return
            logger.error("NLP worker failed to start: %s: %s", type(exc).__name__, exc)
            self._retire(worker, kill=True)
            if not self.workers:
                self._unavailable(f"the NLP worker failed to start ({type(exc).__name__}: {exc})")
            return
        model, error, start_cpu = fut.result()
        # spawn + imports + model load: with worker_cpu_ms (scoring) and worker_total_cpu_ms it says
        # where the workers' CPU went
        self.stats.inc_value("pipeline/nlp/worker_start_cpu_ms", round(start_cpu * 1000))
        self.worker_cpu[worker.seq] = start_cpu
        if error:
            self._unavailable(error)
        else:
            worker.ok = True
            worker.progress_at = time.monotonic()
            logger.info("NLP worker ready: model %s, torch threads %s, %d process(es) (worker %d)", model,
                        self.threads or "auto", self.processes, worker.seq)

    def _unavailable(self, why: str) -> None:
        if self.available:
            logger.error("NLP unavailable, storing mentions unscored: %s", why)
        self.available = False
        self.stats.set_value("pipeline/nlp/unavailable", 1)

    def _retire(self, worker: _Worker, *, kill: bool = False) -> None:
        """Take the worker out of service; its queued batches are cancelled (and go on unscored)."""
        if worker in self.workers:
            self.workers.remove(worker)
        if worker.start_timer is not None:
            worker.start_timer.cancel()
            worker.start_timer = None
        if kill:
            self._kill(worker.pool)
        worker.pool.shutdown(wait=False, cancel_futures=True)

    def _worker_died(self, worker: _Worker, exc: BaseException) -> None:
        if worker not in self.workers:  # another batch of the same dead worker already reported it
            return
        self.stats.inc_value("pipeline/nlp/worker_died")
        self._retire(worker)
        others = f"; scoring goes on with {len(self.workers)} other worker(s)" if self.workers else ""
        if self.start_hung:
            logger.error("NLP worker process died (%s); not replaced: a worker's start-up timed out "
                         "earlier%s", exc, others)
        elif self.restarts_left > 0:
            self.restarts_left -= 1
            logger.error("NLP worker process died (%s); its batches go on unscored, starting a new one", exc)
            self._start_worker()
        else:
            logger.error("NLP worker process died (%s) and no restarts are left%s", exc, others)
        if not self.workers:
            self._unavailable("the NLP worker process kept dying" if not self.start_hung else
                              "the NLP worker process died and a worker's start-up had timed out")

    async def _next_worker(self) -> _Worker | None:
        """The ready worker with the fewest batches in flight. While none is ready yet, waits for the
        starting ones (each bounded by NLP_WORKER_START_TIMEOUT): a worker still loading (or stuck
        loading) never gets a batch while another one is ready. None when no worker is left."""
        while self.available:
            ready = [w for w in self.workers if w.ok]
            if ready:
                return min(ready, key=lambda w: w.inflight)
            starting = [w.ready for w in self.workers if not w.ready.done()]
            if not starting:
                return None
            # a start that ends runs _worker_status (registered first) before this wait returns
            await asyncio.wait(starting, return_when=asyncio.FIRST_COMPLETED)
        return None

    async def run_batch(self, items: list):
        if not self.processes:
            return await super().run_batch(items)
        worker = await self._next_worker()
        if worker is None:  # no worker left, or the model did not load (reported once)
            return items, {"unscored": len(items)}
        try:
            scored = await self._answer(worker, asyncio.wrap_future(worker.pool.submit(nlp_worker.analyze, items)))
        except BrokenProcessPool as exc:
            self._worker_died(worker, exc)
            return items, {"unscored": len(items)}
        except TimeoutError:
            self._worker_hung(worker, len(items))
            return items, {"unscored": len(items)}
        if scored is None:  # the model did not load in the worker (reported by _worker_status)
            return items, {"unscored": len(items)}
        rows, cpu_s, _pid, total_s = scored
        worker.batches += 1
        self.worker_cpu[worker.seq] = total_s
        # the worker's CPU time: with the crawl's elapsed time it tells whether the model is the limit
        return nlp_worker.decode(items, rows), {"scored": len(rows), "worker_cpu_ms": round(cpu_s * 1000)}

    async def _answer(self, worker: _Worker, fut: asyncio.Future):
        """The worker's answer to one batch; TimeoutError when the worker has answered nothing for
        `timeout_s` while this batch waited. Batches queue in order behind each other, so the clock
        is the worker's progress, not this batch's age: a long queue of healthy batches never times out.
        Start-up (spawn, imports, model load) is not counted: batches go only to ready workers (start-up
        has its own limit, `start_timeout_s`)."""
        if worker.inflight == 0:
            worker.progress_at = time.monotonic()
        worker.inflight += 1
        try:
            while True:
                left = worker.progress_at + self.timeout_s - time.monotonic()
                if left <= 0 and worker in self.workers:
                    fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # it fails when killed
                    raise TimeoutError
                # wait() neither raises nor cancels fut on timeout: then another batch may have been
                # answered meanwhile, so check the progress clock again
                await asyncio.wait({fut}, timeout=max(left, 0.05))
                if fut.done():
                    if fut.cancelled():  # still queued when its pool was shut down (worker dead or killed)
                        raise BrokenProcessPool("the batch was cancelled with its worker")
                    return fut.result()
        finally:
            worker.inflight -= 1
            if fut.done():
                worker.progress_at = time.monotonic()

    def _worker_hung(self, worker: _Worker, n: int) -> None:
        if worker not in self.workers:
            return
        logger.error("NLP worker answered nothing for %.0f s (a batch of %d waiting); killing it",
                     self.timeout_s, n)
        self.stats.inc_value("pipeline/nlp/worker_hung")
        self._kill(worker.pool)
        self._worker_died(worker, TimeoutError(f"no answer in {self.timeout_s:.0f} s"))

    @staticmethod
    def _kill(pool: ProcessPoolExecutor) -> None:
        """SIGKILL the pool's processes (the executor has no kill()); a stopped process dies too."""
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()

    # -- in-process scoring (NLP_PROCESSES=0) ------------------------------------------------------
    def process_batch(self, items: list) -> list:
        if self.analyzer is None:
            return items, {"unscored": len(items)}
        scored = self.analyzer.analyze(items)
        return scored, {"scored": len(scored)}

    def batch_failed(self, items: list, exc: Exception) -> list:
        logger.error("NLP failed on a batch of %d; passing it on unscored: %s", len(items), exc, exc_info=exc)
        self.stats.inc_value("pipeline/nlp/failed_batches")
        self.stats.inc_value("pipeline/nlp/unscored", len(items))
        return items

    async def close_spider(self):
        if not any(w.ok for w in self.workers):
            # e.g. nothing scored yet: still say whether a worker loads (bounded by NLP_WORKER_START_TIMEOUT)
            starting = [w.ready for w in self.workers if not w.ready.done()]
            if starting:
                await asyncio.gather(*starting, return_exceptions=True)
        await super().close_spider()

    def on_close(self) -> None:
        if self.worker_cpu:  # every worker's CPU up to its last batch: start-up, scoring, batch transport
            self.stats.set_value("pipeline/nlp/worker_total_cpu_ms", round(sum(self.worker_cpu.values()) * 1000))
        now = time.monotonic()
        for worker in self.workers:
            if worker.start_timer is not None:
                worker.start_timer.cancel()
                worker.start_timer = None
            if not worker.ready.done():
                # Every batch is done, so nothing is left for a worker still starting (a stuck sibling
                # of those that scored, or a replacement started by the last batches): waiting out its
                # start-up limit would only hold the crawl's close.
                logger.warning("NLP worker %d was still not ready at close, %.1f s after it started "
                               "(NLP_WORKER_START_TIMEOUT=%g s); killed it", worker.seq,
                               now - worker.started_at, worker.start_limit_s)
                worker.ready.cancel()
                self._kill(worker.pool)
            worker.pool.shutdown(wait=True, cancel_futures=True)
        self.workers = []
