"""The NLP stage inside a real crawl: one batched model call per batch, or a clean fallback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from crawl_testkit import PAGES
from scrapy.utils.test import get_crawler

from core.mention import Mention
from core.settings import get_settings
from crawlers.pipelines.nlp import NlpPipeline

W = PAGES / "weibo"
JSON = "application/json; charset=utf-8"


def _serve(server):
    server.add("/", body=W / "home.html")
    server.add("/api/container/getIndex", query={"page": "1"}, body=W / "search_p1.json", content_type=JSON)
    server.add("/api/container/getIndex", query={"page": "2"}, body=W / "search_p2.json", content_type=JSON)
    server.add("/api/container/getIndex", body=W / "search_empty.json", content_type=JSON)
    server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")


@pytest.mark.slow
def test_nlp_scores_every_mention_in_batches(replay_server, run_crawl, tiny_model):
    _serve(replay_server)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"NLP_BATCH_SIZE": "4"},
                    env={"OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tiny_model), "OPMON_DEVICE": "cpu"})
    assert run.finish_reason == "finished", run.log[-3000:]
    assert len(run.items) == 8
    for item in run.items:
        assert item["sentiment"]["label"] in {"negative", "neutral", "positive"}
        assert abs(sum(item["sentiment"]["probs"].values()) - 1) < 1e-3
        assert item["lang"] == "zh"
    assert run.stats["pipeline/nlp/scored"] == 8
    assert run.stats["pipeline/nlp/batches"] >= 2  # 8 mentions, batches of at most 4
    assert "NLP worker ready" in run.log  # scored in the worker process (NLP_PROCESSES=1, the default)
    assert run.stats["pipeline/nlp/worker_cpu_ms"] >= 0
    # the worker's start-up (spawn, imports, model load) and its whole CPU up to the last batch
    assert 0 < run.stats["pipeline/nlp/worker_start_cpu_ms"] <= run.stats["pipeline/nlp/worker_total_cpu_ms"]
    assert "pipeline/nlp/worker_died" not in run.stats and "pipeline/nlp/unscored" not in run.stats


@pytest.mark.slow
def test_nlp_in_process_mode_still_scores(replay_server, run_crawl, tiny_model):
    _serve(replay_server)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"NLP_BATCH_SIZE": "4", "NLP_PROCESSES": "0"},
                    env={"OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tiny_model), "OPMON_DEVICE": "cpu"})
    assert run.finish_reason == "finished", run.log[-3000:]
    assert len(run.items) == 8 and all(i["sentiment"] is not None for i in run.items)
    assert run.stats["pipeline/nlp/scored"] == 8
    assert "NLP worker ready" not in run.log


def _mentions(start: int, n: int) -> list[Mention]:
    return [Mention.model_validate({"id": f"weibo:{i}", "source": "weibo", "kind": "post",
                                    "text": f"小米手机屏幕坏了售后太差{i}", "published_at": "2026-11-21T10:00:00+08:00"})
            for i in range(start, start + n)]


def _worker_crawler(tiny_model, monkeypatch, **settings):
    """A crawler for driving the NLP stage directly: the tiny model, batches of 4, one restart."""
    monkeypatch.setenv("OPMON_NLP_ENABLED", "true")
    monkeypatch.setenv("OPMON_MODEL", str(tiny_model))
    monkeypatch.setenv("OPMON_DEVICE", "cpu")
    get_settings.cache_clear()
    return get_crawler(settings_dict={"NLP_BATCH_SIZE": 4, "BATCH_IDLE_FLUSH": 0.01, "NLP_WORKER_RESTARTS": 1,
                                      "NLP_WORKER_THREADS": 1, **settings})


async def batch(stage, mentions):
    return await asyncio.wait_for(asyncio.gather(*[stage.process_item(m) for m in mentions]), timeout=120)


@pytest.mark.slow
def test_a_dead_worker_is_counted_its_batch_goes_on_unscored_and_a_new_worker_scores_the_rest(
        tiny_model, monkeypatch, caplog):
    """A real worker process killed with SIGKILL between batches: nothing hangs, nothing is lost."""
    crawler = _worker_crawler(tiny_model, monkeypatch)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        await stage.open_spider()
        first = await batch(stage, _mentions(0, 4))
        pid = await asyncio.wrap_future(stage.pool.submit(os.getpid))
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        second = await batch(stage, _mentions(4, 4))
        third = await batch(stage, _mentions(8, 4))  # a fresh worker (one restart allowed)
        os.kill(await asyncio.wrap_future(stage.pool.submit(os.getpid)), signal.SIGKILL)
        fourth = await batch(stage, _mentions(12, 4))  # no restarts left: stored unscored
        fifth = await batch(stage, _mentions(16, 4))
        await asyncio.wait_for(stage.close_spider(), timeout=60)
        return first, second, third, fourth, fifth

    first, second, third, fourth, fifth = asyncio.run(main())
    assert all(m.sentiment is not None for m in first + third)
    assert [m.id for m in second] == [f"weibo:{i}" for i in range(4, 8)]  # passed on, in order
    assert all(m.sentiment is None for m in second + fourth + fifth)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_died"] == 2
    assert stats["pipeline/nlp/scored"] == 8
    assert stats["pipeline/nlp/unscored"] == 12
    assert stats["pipeline/nlp/unavailable"] == 1
    assert "NLP worker process died" in caplog.text


def test_unloadable_model_stores_unscored_and_says_so(replay_server, run_crawl, tmp_path):
    _serve(replay_server)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    env={"OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tmp_path / "no-such-model")})
    assert run.finish_reason == "finished"
    assert run.stats["pipeline/nlp/unavailable"] == 1
    assert "NLP unavailable, storing mentions unscored" in run.log
    assert len(run.items) == 8 and all(i["sentiment"] is None for i in run.items)
    assert run.stats["pipeline/store/inserted"] == 8


_HOLDER = textwrap.dedent("""
    import asyncio, os, sys, time
    from scrapy.utils.test import get_crawler
    from crawlers.pipelines.nlp import NlpPipeline

    async def main():
        stage = NlpPipeline.from_crawler(get_crawler(settings_dict={"NLP_WORKER_THREADS": 1}))
        await stage.open_spider()
        print(await asyncio.wrap_future(stage.pool.submit(os.getpid)), flush=True)
        time.sleep(120)  # killed by the test long before

    asyncio.run(main())
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie has exited (its parent has not reaped it yet)
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:  # reaped in the meantime
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_exits_when_the_crawl_process_is_killed(tiny_model, tmp_path):
    env = {**os.environ, "OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tiny_model), "OPMON_DEVICE": "cpu",
           "PYTHONPATH": str(PAGES.parents[2])}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              text=True)
    try:
        worker = int(holder.stdout.readline())
        assert _alive(worker)
        holder.kill()  # SIGKILL: no close_spider, no pool shutdown
        holder.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the NLP worker outlived the crawl process"
    finally:
        holder.kill()


@pytest.mark.parametrize(("cpus", "settings", "threads"), [
    (2, {}, 1),  # the worker and the reactor share 2 cores: one torch thread, no overlapped linear half
    (1, {}, 1),
    (8, {}, None),  # enough cores: the NLP package decides
    (3, {"NLP_PROCESSES": 2}, 1),
    (8, {"NLP_PROCESSES": 2}, None),
    (2, {"NLP_WORKER_THREADS": "auto"}, None),
    (2, {"NLP_WORKER_THREADS": 3}, 3),
])
def test_worker_threads_default_to_one_when_the_worker_shares_the_cores_with_the_reactor(
        monkeypatch, cpus, settings, threads):
    from crawlers.pipelines import nlp as nlp_stage

    monkeypatch.setenv("OPMON_NLP_ENABLED", "true")
    monkeypatch.delenv("OPMON_TORCH_THREADS", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(nlp_stage.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    stage = nlp_stage.NlpPipeline.from_crawler(get_crawler(settings_dict=settings))
    assert stage.threads == threads


@pytest.mark.slow
def test_a_hung_worker_is_killed_after_the_timeout_and_a_new_one_scores_the_rest(tiny_model, monkeypatch, caplog):
    """A real worker process frozen with SIGSTOP (alive, answering nothing): its batch goes on unscored
    after NLP_WORKER_TIMEOUT, the worker is killed and replaced, and the next batch is scored."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_WORKER_TIMEOUT=2)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        await stage.open_spider()
        first = await batch(stage, _mentions(0, 4))
        frozen = await asyncio.wrap_future(stage.pool.submit(os.getpid))
        os.kill(frozen, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            second = await batch(stage, _mentions(4, 4))
            waited = time.monotonic() - t0
            third = await batch(stage, _mentions(8, 4))  # a fresh worker
        finally:
            left = _kill_all([frozen])
        await asyncio.wait_for(stage.close_spider(), timeout=60)
        return first, second, third, waited, left

    first, second, third, waited, left = asyncio.run(main())
    assert all(m.sentiment is not None for m in first + third)
    assert [m.id for m in second] == [f"weibo:{i}" for i in range(4, 8)] and all(m.sentiment is None for m in second)
    assert 2 <= waited < 60  # released by the timeout, not by anything else
    assert left == []  # killed, not left stopped
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_hung"] == 1 and stats["pipeline/nlp/worker_died"] == 1
    assert stats["pipeline/nlp/scored"] == 8 and stats["pipeline/nlp/unscored"] == 4
    assert "answered nothing for 2 s" in caplog.text


def _freeze_new_workers(stage, monkeypatch) -> list[int]:
    """From now on every worker process the stage starts is frozen with SIGSTOP right after it is spawned,
    before it has imported anything: a start-up that never ends. Returns the frozen pids (filled later)."""
    frozen: list[int] = []
    start = stage._start_worker

    def start_frozen():
        worker = start()
        for proc in worker.pool._processes.values():  # spawned by the submit in _start_worker
            os.kill(proc.pid, signal.SIGSTOP)
            frozen.append(proc.pid)
        return worker

    monkeypatch.setattr(stage, "_start_worker", start_frozen)
    return frozen


def _kill_all(pids: list[int], grace_s: float = 10.0) -> list[int]:
    """SIGKILL those of `pids` still alive after `grace_s`, and return them: the ones the stage left running.
    The grace: a process the stage has just killed can take a moment to be gone (a worker frozen right after
    its fork may still hold a copy of this big test process's memory, torn down on exit)."""
    deadline = time.monotonic() + grace_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_stuck_while_starting_is_killed_after_the_start_timeout_and_batches_go_on_unscored(
        tiny_model, monkeypatch, caplog):
    """The first worker never gets ready (frozen before its imports): open_spider gives up after
    NLP_WORKER_START_TIMEOUT instead of waiting for ever, kills it, and the crawl goes on unscored."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_WORKER_START_TIMEOUT=1)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        frozen = _freeze_new_workers(stage, monkeypatch)
        try:
            t0 = time.monotonic()
            await asyncio.wait_for(stage.open_spider(), timeout=60)
            waited = time.monotonic() - t0
            first = await batch(stage, _mentions(0, 4))
            second = await batch(stage, _mentions(4, 4))
            await asyncio.wait_for(stage.close_spider(), timeout=60)
        finally:
            left = _kill_all(frozen)
        return stage, frozen, left, waited, first + second

    stage, frozen, left, waited, out = asyncio.run(main())
    assert len(frozen) == 1 and left == []  # killed, not left stopped; never started again
    assert 1 <= waited < 60  # released by the start-up limit
    assert [m.id for m in out] == [f"weibo:{i}" for i in range(8)] and all(m.sentiment is None for m in out)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_start_timeout"] == 1 and stats["pipeline/nlp/unavailable"] == 1
    assert stats["pipeline/nlp/unscored"] == 8 and "pipeline/nlp/scored" not in stats
    assert "pipeline/nlp/worker_died" not in stats and "pipeline/nlp/worker_hung" not in stats
    assert "NLP unavailable, storing mentions unscored: the NLP worker was not ready after" in caplog.text
    assert "NLP_WORKER_START_TIMEOUT=1 s" in caplog.text
    assert stage.pool is None and stage.workers == []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_replacement_worker_stuck_while_starting_is_killed_and_not_retried(tiny_model, monkeypatch, caplog):
    """A worker dies mid-crawl and its replacement never gets ready: the replacement gets the same start-up
    limit, is killed, and is not started again although restarts are left; the rest goes on unscored."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_WORKER_RESTARTS=3)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        await stage.open_spider()  # a real worker, ready within the default limit
        first = await batch(stage, _mentions(0, 4))
        stage.start_timeout_s = 1.0  # as NLP_WORKER_START_TIMEOUT=1 would, without racing the first start
        frozen = _freeze_new_workers(stage, monkeypatch)
        try:
            os.kill(await asyncio.wrap_future(stage.pool.submit(os.getpid)), signal.SIGKILL)
            second = await batch(stage, _mentions(4, 4))  # the dead worker's batch; a frozen replacement starts
            third = await batch(stage, _mentions(8, 4))  # waits for the replacement until the start-up limit
            fourth = await batch(stage, _mentions(12, 4))  # no worker and no new start: unscored at once
            await asyncio.wait_for(stage.close_spider(), timeout=60)
        finally:
            left = _kill_all(frozen)
        return stage, frozen, left, first, second + third + fourth

    stage, frozen, left, first, rest = asyncio.run(main())
    assert all(m.sentiment is not None for m in first)
    assert [m.id for m in rest] == [f"weibo:{i}" for i in range(4, 16)] and all(m.sentiment is None for m in rest)
    assert len(frozen) == 1 and left == []
    assert stage.restarts_left == 2  # one restart used (the frozen one), none after the start-up timed out
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_died"] == 1 and stats["pipeline/nlp/worker_start_timeout"] == 1
    assert stats["pipeline/nlp/unavailable"] == 1
    assert stats["pipeline/nlp/scored"] == 4 and stats["pipeline/nlp/unscored"] == 12
    assert "NLP worker process died" in caplog.text and "NLP_WORKER_START_TIMEOUT=1 s" in caplog.text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_a_crawl_whose_model_load_hangs_still_finishes_and_stores_its_mentions_unscored(
        replay_server, run_crawl, tiny_model, tmp_path):
    """A real `scrapy crawl` whose worker blocks in its model load: the touchpoint taxonomy is a named pipe
    nobody writes to, so opening it blocks as a read from a hung network filesystem does. The crawl must
    not wait for ever: it ends, stores every mention unscored and says why."""
    _serve(replay_server)
    stuck = tmp_path / "stuck.yaml"
    os.mkfifo(stuck)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"NLP_WORKER_START_TIMEOUT": "2"}, timeout=60,
                    env={"OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tiny_model), "OPMON_DEVICE": "cpu",
                         "OPMON_TAXONOMY": str(stuck)})
    assert run.finish_reason == "finished", run.log[-3000:]
    assert run.stats["pipeline/nlp/worker_start_timeout"] == 1 and run.stats["pipeline/nlp/unavailable"] == 1
    assert "NLP unavailable, storing mentions unscored: the NLP worker was not ready after" in run.log
    assert "NLP_WORKER_START_TIMEOUT=2 s" in run.log
    assert "NLP worker ready" not in run.log and "NLP worker failed to start" not in run.log
    assert len(run.items) == 8 and all(i["sentiment"] is None for i in run.items)
    assert run.stats["pipeline/store/inserted"] == 8  # stored, for `opmon score --store` to score later
    with pytest.raises(OSError):  # ENXIO: no process has the pipe open for reading, the stuck worker is gone
        os.close(os.open(stuck, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.slow
def test_a_hung_worker_with_a_queue_of_batches_releases_every_batch(tiny_model, monkeypatch, caplog):
    """Several batches wait behind a frozen worker: when it is killed, those it never started are cancelled
    with its pool; they too must go on unscored (a cancelled batch that was never answered would leave
    its items waiting and the crawl would never close)."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_WORKER_TIMEOUT=1, NLP_WORKER_RESTARTS=0)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        await stage.open_spider()
        frozen = await asyncio.wrap_future(stage.pool.submit(os.getpid))
        os.kill(frozen, signal.SIGSTOP)
        try:
            out = await batch(stage, _mentions(0, 24))  # six batches of 4 queued at once
        finally:
            _kill_all([frozen])
        await asyncio.wait_for(stage.close_spider(), timeout=60)
        return out

    out = asyncio.run(main())
    assert [m.id for m in out] == [f"weibo:{i}" for i in range(24)] and all(m.sentiment is None for m in out)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_hung"] == 1 and stats["pipeline/nlp/unscored"] == 24
    assert stats["pipeline/nlp/batches"] == 6


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] == "T"


def _freeze_first_worker(stage, monkeypatch, limit_s: float) -> list[int]:
    """The first worker the stage starts is frozen with SIGSTOP right after it is spawned (a start-up that
    never ends), on a start-up limit of its own, `limit_s` (as NLP_WORKER_START_TIMEOUT would set it); the
    others start normally, on the stage's limit. Returns the frozen pid (filled when it is started)."""
    frozen: list[int] = []
    start = stage._start_worker

    def start_first_frozen():
        if frozen:
            return start()
        stage.start_timeout_s, normal = limit_s, stage.start_timeout_s
        try:
            worker = start()
        finally:
            stage.start_timeout_s = normal
        for proc in worker.pool._processes.values():
            os.kill(proc.pid, signal.SIGSTOP)
            frozen.append(proc.pid)
        return worker

    monkeypatch.setattr(stage, "_start_worker", start_first_frozen)
    return frozen


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_with_two_workers_one_stuck_while_starting_the_other_scores_and_the_stuck_one_is_killed(
        tiny_model, monkeypatch, caplog):
    """NLP_PROCESSES=2 and the first worker never gets ready (frozen before its imports): the crawl starts
    when the other one is ready, every batch goes to that one (none waits for the stuck worker), the stuck
    worker is killed at its start-up limit, counted, and not replaced; nothing goes unscored."""
    limit = 20.0  # the stuck worker's limit: long enough for the healthy one to load first on a busy machine
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_PROCESSES=2, NLP_WORKER_START_TIMEOUT=120,
                              NLP_WORKER_RESTARTS=2)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        frozen = _freeze_first_worker(stage, monkeypatch, limit)
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(stage.open_spider(), timeout=60)
            first = await batch(stage, _mentions(0, 12))  # three batches of 4
            during = time.monotonic() - t0, _alive(frozen[0]) and _stopped(frozen[0])
            serving = [(w.seq, w.ok, w.batches) for w in stage.workers]
            while _alive(frozen[0]) and time.monotonic() - t0 < 60:  # the crawl goes on: the limit passes
                await asyncio.sleep(0.2)
            second = await batch(stage, _mentions(12, 4))
            await asyncio.wait_for(stage.close_spider(), timeout=60)
        finally:
            left = _kill_all(frozen)
        return stage, frozen, left, first + second, during, serving

    stage, frozen, left, out, (elapsed, stuck_then), serving = asyncio.run(main())
    assert elapsed < limit, f"the healthy worker took {elapsed:.1f} s to load and score: too slow to test this"
    assert stuck_then  # the batches were scored while the other worker was still stuck starting
    assert serving == [(1, False, 0), (2, True, 3)]  # stuck worker 1 got no batch, worker 2 scored all three
    assert len(frozen) == 1 and left == []  # killed at its limit, not left stopped; never restarted
    assert [m.id for m in out] == [f"weibo:{i}" for i in range(16)] and all(m.sentiment is not None for m in out)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_start_timeout"] == 1 and stats["pipeline/nlp/scored"] == 16
    assert "pipeline/nlp/unscored" not in stats and "pipeline/nlp/unavailable" not in stats
    assert "pipeline/nlp/worker_died" not in stats and "pipeline/nlp/worker_hung" not in stats
    assert 0 < stats["pipeline/nlp/worker_start_cpu_ms"] <= stats["pipeline/nlp/worker_total_cpu_ms"]
    assert "NLP worker 1 was not ready after" in caplog.text and "NLP_WORKER_START_TIMEOUT=20 s" in caplog.text
    assert "Going on with 1 other worker(s)" in caplog.text and "NLP unavailable" not in caplog.text
    assert "still not ready at close" not in caplog.text
    assert stage.restarts_left == 2 and stage.started == 2 and stage.workers == []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_with_two_workers_the_close_does_not_wait_for_one_still_stuck_starting(tiny_model, monkeypatch, caplog):
    """A short crawl with NLP_PROCESSES=2 that ends while one worker is still stuck starting (its limit far
    off): every batch was scored by the other one, so the close kills the stuck one at once and says so."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_PROCESSES=2, NLP_WORKER_START_TIMEOUT=120)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        frozen = _freeze_first_worker(stage, monkeypatch, 120.0)
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(stage.open_spider(), timeout=60)
            out = await batch(stage, _mentions(0, 4))
            await asyncio.wait_for(stage.close_spider(), timeout=60)
            closed = time.monotonic() - t0
        finally:
            left = _kill_all(frozen)
        return frozen, left, out, closed

    frozen, left, out, closed = asyncio.run(main())
    assert closed < 60  # not the stuck worker's 120 s
    assert len(frozen) == 1 and left == []
    assert all(m.sentiment is not None for m in out)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/scored"] == 4 and "pipeline/nlp/unavailable" not in stats
    assert "pipeline/nlp/worker_start_timeout" not in stats  # its limit was never reached
    assert "NLP worker 1 was still not ready at close" in caplog.text and "NLP_WORKER_START_TIMEOUT=120 s" in caplog.text


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_with_two_workers_both_stuck_while_starting_the_crawl_goes_on_unscored(tiny_model, monkeypatch, caplog):
    """NLP_PROCESSES=2 and neither worker gets ready: both are killed at the start-up limit, each counted,
    and then (not before) the crawl goes on unscored, as with one stuck worker."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_PROCESSES=2, NLP_WORKER_START_TIMEOUT=1)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        frozen = _freeze_new_workers(stage, monkeypatch)
        try:
            t0 = time.monotonic()
            await asyncio.wait_for(stage.open_spider(), timeout=60)
            waited = time.monotonic() - t0
            out = await batch(stage, _mentions(0, 8))
            await asyncio.wait_for(stage.close_spider(), timeout=60)
        finally:
            left = _kill_all(frozen)
        return stage, frozen, left, waited, out

    stage, frozen, left, waited, out = asyncio.run(main())
    assert len(frozen) == 2 and left == []
    assert 1 <= waited < 60
    assert [m.id for m in out] == [f"weibo:{i}" for i in range(8)] and all(m.sentiment is None for m in out)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/worker_start_timeout"] == 2 and stats["pipeline/nlp/unavailable"] == 1
    assert stats["pipeline/nlp/unscored"] == 8 and "pipeline/nlp/scored" not in stats
    assert caplog.text.count("NLP unavailable, storing mentions unscored: the NLP worker was not ready after") == 1
    assert "Going on with 1 other worker(s)" in caplog.text  # the first of the two to time out
    assert stage.workers == []


@pytest.mark.slow
def test_with_two_healthy_workers_batches_are_spread_over_both(tiny_model, monkeypatch):
    """NLP_PROCESSES=2: both workers start when the crawl opens, batches in flight at once go to the one
    with fewer in flight, and both workers' start-up CPU is counted."""
    crawler = _worker_crawler(tiny_model, monkeypatch, NLP_PROCESSES=2)

    async def main():
        stage = NlpPipeline.from_crawler(crawler)
        await asyncio.wait_for(stage.open_spider(), timeout=120)
        await asyncio.wait_for(asyncio.gather(*[w.ready for w in stage.workers]), timeout=120)
        out = await batch(stage, _mentions(0, 16))  # four batches of 4, queued at once
        pids = {await asyncio.wrap_future(w.pool.submit(os.getpid)) for w in stage.workers}
        served = sorted(w.batches for w in stage.workers)
        await asyncio.wait_for(stage.close_spider(), timeout=60)
        return out, pids, served

    out, pids, served = asyncio.run(main())
    assert all(m.sentiment is not None for m in out) and len(pids) == 2
    assert served == [2, 2]
    stats = crawler.stats.get_stats()
    assert stats["pipeline/nlp/scored"] == 16 and "pipeline/nlp/unscored" not in stats
    assert 0 < stats["pipeline/nlp/worker_start_cpu_ms"] <= stats["pipeline/nlp/worker_total_cpu_ms"]
