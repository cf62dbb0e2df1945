"""Bulk import of JSONL mentions (`opmon ingest`): preparer processes feed one SQLite writer.

SQLite takes one writer at a time, and in one process the Python work around it (JSON parsing,
validation, the JSON body, CJK tokens, rollup deltas) costs as much CPU as SQLite itself. So the
reading process only cuts the file into batches of lines and writes; preparer processes
(`store.sqlite_rows.prepare_lines`) turn each batch into plain row tuples, returned in file order.
Threads would not help: `executemany` takes the GIL back for every row.

Guarantees (the same as `Store.upsert` in a loop): each batch is one transaction, written in file
order, so a kill leaves whole batches and a re-run completes the import (upsert by id). A preparer
that dies or fails is an error that stops the import after the last committed batch, never a
silently skipped batch. Other backends (Elasticsearch) parse in-process and call `upsert`.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

from core.errors import StoreError
from store.base import Store
from store.sqlite_rows import Prepared, gc_paused, parse_line, prepare_lines, prepare_lines_packed, unpack

BATCH = 50_000  # lines per transaction: bigger ones merge more rollup rows and FTS segments
CHUNK = 50_000  # most lines per preparer task (a bigger transaction takes several, in order)
PARALLEL_MIN_LINES = 20_000  # smaller inputs are prepared in-process (no process start-up)

Reject = Callable[[int, str], None]
_DIED = "a preparer process died; every batch before it is stored, re-run the same import to complete it"


@dataclass
class IngestResult:
    inserted: int = 0
    updated: int = 0
    rejected: int = 0

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated


def default_workers() -> int:
    """Preparer processes: one per core. With two cores the writer and two preparers share
    them; the scheduler gives the writer whatever the preparers leave."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _chunks(stream: BinaryIO, size: int) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, lines) per `size` lines."""
    first = 1
    it = iter(stream)
    while True:
        lines = list(islice(it, size))
        if not lines:
            return
        yield first, lines
        first += len(lines)


def ingest_jsonl(store: Store, stream: BinaryIO, *, batch: int = BATCH, workers: int | None = None,
                 on_reject: Reject | None = None, parallel_min_lines: int = PARALLEL_MIN_LINES,
                 result: IngestResult | None = None, start_method: str | None = None) -> IngestResult:
    """Validate and upsert every line of `stream`, `batch` lines per transaction;
    `on_reject(line number, reason)` per bad line.

    `workers`: preparer processes (None = one per core; 0 = prepare in this process). Inputs
    shorter than `parallel_min_lines` lines are prepared in this process (no start-up cost).
    `start_method`: how preparers start (None: "fork" when this process has no other thread,
    else "forkserver").
    Raises StoreError when the store fails or a preparer dies; committed batches stay (and are
    counted in `result`, when the caller passes one)."""
    result = result if result is not None else IngestResult()
    write = getattr(store, "write_prepared", None)
    if write is None:  # a backend without prepared rows (Elasticsearch)
        for first, lines in _chunks(stream, batch):
            _upsert_lines(store, first, lines, result, on_reject)
        return result
    per_tx = -(-batch // CHUNK)  # chunks per transaction
    chunks = _chunks(stream, -(-batch // per_tx))
    workers = default_workers() if workers is None else workers
    head: list[tuple[int, list[bytes]]] = []
    seen = 0
    for item in chunks:  # read ahead until the input is known to be big enough
        head.append(item)
        seen += len(item[1])
        if seen >= parallel_min_lines:
            break
    everything = _chain(head, chunks)
    with store.deferred_indexes():
        if workers <= 0 or seen < parallel_min_lines:
            prepared = (prepare_lines(lines, first) for first, lines in everything)
            _write_all(write, prepared, per_tx, result, on_reject)
        else:
            _parallel(write, everything, workers, per_tx, result, on_reject, start_method)
    return result


def _chain(head: list, rest: Iterator) -> Iterator:
    yield from head
    yield from rest


def _write_all(write: Callable[..., object], prepared: Iterator[Prepared], per_tx: int, result: IngestResult,
               on_reject: Reject | None) -> None:
    """Write prepared chunks in order, `per_tx` per transaction."""
    group: list[Prepared] = []
    for p in prepared:
        group.append(p)
        if len(group) == per_tx:
            _write(write, group, result, on_reject)
            group = []
    if group:
        _write(write, group, result, on_reject)


def _write(write: Callable[..., object], group: list[Prepared], result: IngestResult,
           on_reject: Reject | None) -> None:
    for p in group:
        for no, reason in p.rejected:
            _reject(result, on_reject, no, reason)
    res = write(*group)
    result.inserted += res.inserted
    result.updated += res.updated


PREPARER_NICE = 10  # added to the preparers' nice value (see _preparer_init)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt() parameters


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (musl)
        return None


def _keep_heap(keep: bool) -> None:
    """keep=True: glibc serves big blocks (a batch's lines, its pickled rows: tens of MB) from
    the heap instead of fresh mmaps, and keeps freed memory instead of returning it, so each
    batch reuses the pages of the last one instead of faulting in new ones: a third fewer page
    faults in the preparers and 4-8 us less CPU per mention over the import (A/B, 400k lines). keep=False: glibc's
    default limits again (fixed at 128 KiB; they were adaptive) and the memory is returned."""
    libc = _glibc()
    if libc is None:
        return
    if keep:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    else:
        libc.mallopt(_M_MMAP_MAX, 65536)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)


def _parallel(write, chunks: Iterator[tuple[int, list[bytes]]], workers: int, per_tx: int, result: IngestResult,
              on_reject: Reject | None, start_method: str | None) -> None:
    # fork starts at once and needs no importable __main__; but a process with other threads
    # (a server) could fork one mid-lock, so those use a forkserver.
    if start_method is None:
        fork_ok = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        start_method = "fork" if fork_ok else "forkserver"
    ctx = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(["store.sqlite_rows"])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_preparer_init,
                               initargs=(os.getpid(),))
    window = per_tx + workers  # chunks in flight: every preparer busy, bounded memory
    pending: deque[Future] = deque()

    def results() -> Iterator[Prepared]:
        for first, lines in chunks:
            try:
                pending.append(pool.submit(prepare_lines_packed, lines, first))
            except BrokenProcessPool as exc:
                raise StoreError(_DIED) from exc
            if len(pending) >= window:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())

    ok = False
    _keep_heap(True)
    try:
        with gc_paused():  # process-wide: also while the pool's thread unpickles results
            _write_all(write, results(), per_tx, result, on_reject)
        ok = True
    finally:
        if not ok:
            for f in pending:
                f.cancel()
        pool.shutdown(wait=True, cancel_futures=not ok)
        _keep_heap(False)


def _result(f: Future) -> Prepared:
    try:
        return unpack(f.result())
    except BrokenProcessPool as exc:
        raise StoreError(_DIED) from exc
    except Exception as exc:  # a bug in preparation: stop rather than skip a batch
        raise StoreError(f"preparing a batch failed: {exc!r}; every batch before it is stored") from exc


def _preparer_init(parent: int) -> None:
    """No cyclic GC (preparing makes no cycles; a forked copy of the parent's heap would be
    rescanned and copied page by page), no SIGINT, and exit when the importing process is gone:
    killed with SIGKILL, it cannot stop us, and a preparer waiting on its queue would live forever."""
    gc.disable()
    _keep_heap(True)  # a preparer lives for one import: its memory goes back when it exits
    # Ctrl-C reaches the whole process group: the importer handles it (stops after the current
    # batch, shuts the pool down); preparers finish their chunk instead of printing tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The single writer is the import's critical path; three processes sharing two cores gave it
    # two thirds of one. Preparers one step down the scheduler's order let it run whenever it can,
    # and they fill the other core: 48.5-49.6 s -> 46.3-47.8 s for 1M lines (A/B, 2 cores).
    with contextlib.suppress(OSError):
        os.nice(PREPARER_NICE)
    ppid = os.getppid()  # the importer (fork) or the forkserver, which exits with it

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            if os.getppid() != ppid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _upsert_lines(store: Store, first: int, lines: list[bytes], result: IngestResult,
                  on_reject: Reject | None) -> None:
    good = []
    for no, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        m, reason = parse_line(line)
        if m is None:
            _reject(result, on_reject, no, reason)
        else:
            good.append(m)
    if good:
        res = store.upsert(good)
        result.inserted += res.inserted
        result.updated += res.updated


def _reject(result: IngestResult, on_reject: Reject | None, no: int, reason: str) -> None:
    result.rejected += 1
    if on_reject is not None:
        on_reject(no, reason)
