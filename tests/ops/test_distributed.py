"""Distributed crawling on scrapy-redis: two crawler processes split one crawl of the replay site
through a real redis-server. Every page is fetched once, every mention stored once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.replay.content import TIEBA_FORUM
from ops.replay.server import REPLAY_CRAWL_SETTINGS, ReplaySite
from store.base import Filters

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _worker(base_url: str, log: Path, out: Path, env: dict) -> subprocess.Popen:
    sets = {**REPLAY_CRAWL_SETTINGS, "CONCURRENT_REQUESTS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "2", "LOG_LEVEL": "DEBUG",
            "LOG_FILE": str(log)}
    cmd = [sys.executable, "-m", "scrapy", "crawl", "tieba", "-a", f"forum={TIEBA_FORUM}", "-a",
           f"base_url={base_url}", "-o", f"{out}:jsonlines"]
    for k, v in sets.items():
        cmd += ["-s", f"{k}={v}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_two_workers_split_one_crawl(tmp_path, redis_server, monkeypatch):
    import redis

    env = {**os.environ, "OPMON_DISTRIBUTED": "true", "OPMON_REDIS_URL": redis_server,
           "OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(tmp_path / "data")}
    # 1 s per page keeps A busy for ~20 s, so B (started later, slow to import on a busy machine) gets a share
    with ReplaySite(scale=3, delay_s=1.0) as site:
        threads = site.app.world.tieba[TIEBA_FORUM]
        floors = sum(len(t.floors) for t in threads)
        base = site.base_urls()["tieba"]
        a = _worker(base, tmp_path / "a.log", tmp_path / "a.jsonl", env)
        # B joins once A has queued the thread pages in Redis: it takes its share from the same queue
        r = redis.Redis.from_url(redis_server)
        deadline = time.monotonic() + 60
        while not any(r.zcard(k) for k in r.keys("*requests*")) and time.monotonic() < deadline:
            assert a.poll() is None, "worker A ended before queueing anything"
            time.sleep(0.05)
        b = _worker(base, tmp_path / "b.log", tmp_path / "b.jsonl", env)
        assert a.wait(timeout=180) == 0 and b.wait(timeout=180) == 0
        fetched = site.fetches("/tieba.baidu.com")

    # every page fetched exactly once, across both workers
    assert fetched and all(n == 1 for n in fetched.values()), {k: n for k, n in fetched.items() if n != 1}
    pages = {"/tieba.baidu.com/p/" + t.tid for t in threads}
    assert {re.sub(r"\?.*", "", k) for k in fetched if "/p/" in k} == pages
    crawled = {w: len(re.findall(r"Crawled \(200\)", (tmp_path / f"{w}.log").read_text())) for w in "ab"}
    assert crawled["a"] > 0 and crawled["b"] > 0, crawled  # both did part of the work
    assert crawled["a"] + crawled["b"] == sum(fetched.values())

    # every mention emitted once and stored once
    ids = [json.loads(line)["id"] for w in "ab" for line in (tmp_path / f"{w}.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == floors
    monkeypatch.setenv("OPMON_DATA_DIR", str(tmp_path / "data"))
    from core.settings import get_settings
    from store.factory import open_store

    get_settings.cache_clear()
    store = open_store(get_settings())
    try:
        assert store.count(Filters(sources=["tieba"])) == floors
    finally:
        store.close()


def test_scheduler_dispatches_to_redis_workers(tmp_path, redis_server):
    """`scheduler --dispatch redis` + two `scheduler --worker`s: jobs run on the workers, outcomes come
    back into the scheduler's job table, and a second round crawls again (per-run dupefilter keys)."""
    import random
    import threading

    from core.brands import Brand, BrandRepo
    from core.settings import Settings
    from ops.config import ScheduleConfig
    from ops.dispatch import RedisDispatchRunner, run_worker
    from ops.jobs import JobStore
    from ops.replay.content import PHONE_KEYWORD
    from ops.scheduler import Scheduler
    from store.sqlite_db import StateDB

    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_server, nlp_enabled=False)
    os.environ["OPMON_NLP_ENABLED"] = "false"
    state = StateDB(settings.state_db)
    BrandRepo(state).upsert(Brand(name="澜鲸", keywords=[PHONE_KEYWORD], sources=["weibo", "tieba"],
                                  targets={"tieba": [TIEBA_FORUM]}))
    stop = threading.Event()
    with ReplaySite() as site:
        workers = [threading.Thread(target=run_worker, args=(settings, stop),
                                    kwargs={"extra_settings": REPLAY_CRAWL_SETTINGS}) for _ in range(2)]
        for w in workers:
            w.start()
        try:
            runner = RedisDispatchRunner(redis_server, base_urls=site.base_urls(), timeout_s=120)
            sched = Scheduler(jobs=JobStore(state), runner=runner, config=ScheduleConfig(max_total=4),
                              brands=lambda: BrandRepo(state).list(), rng=random.Random(1))
            first = {j.key: r for j, r in sched.run_round(deadline_s=180)}
            fetched_once = sum(site.fetches("/tieba.baidu.com/").values())
            second = {j.key: r for j, r in sched.run_round(deadline_s=180)}
            fetched_twice = sum(site.fetches("/tieba.baidu.com/").values())
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=60)
    posts = len(site.app.world.weibo[PHONE_KEYWORD])
    floors = sum(len(t.floors) for t in site.app.world.tieba[TIEBA_FORUM])
    assert first[f"weibo:keyword={PHONE_KEYWORD}"].items == posts
    assert first[f"tieba:forum={TIEBA_FORUM}"].items == floors
    # the repeat run is incremental (the spiders stop at what they stored) but it did crawl: its
    # requests were not filtered by the first run's dupefilter
    assert all(r.outcome == "finished" for r in [*first.values(), *second.values()])
    assert all(r.pages >= 1 for r in second.values())
    assert fetched_twice > fetched_once
    jobs = {j.key: j for j in JobStore(state).all()}
    assert all(j.runs == 2 and j.last_outcome == "finished" for j in jobs.values())
    import redis

    assert not [k for k in redis.Redis.from_url(redis_server).keys("opmon:run:*")]  # per-run keys cleaned up
