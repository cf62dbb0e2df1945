"""JOBDIR pause/resume, proxy rotation with benching, and the distributed-settings switch."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from crawl_testkit import FAST_SETTINGS, PAGES, REPO

W = PAGES / "weibo"
JSON = "application/json; charset=utf-8"
SEARCH = "/api/container/getIndex"


def _serve(server, pages):
    server.add("/", body=W / "home.html")
    for n, name in enumerate(pages, start=1):
        server.add(SEARCH, query={"page": str(n)}, body=W / name, content_type=JSON)
    server.add(SEARCH, body=W / "search_empty.json", content_type=JSON)
    server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")


def test_jobdir_resume_completes_without_duplicates(replay_server, run_crawl, tmp_path):
    _serve(replay_server, ["search_p1.json", "search_p2.json"])
    args = {"keyword": "小米", "base_url": replay_server.url}
    settings = {"JOBDIR": str(tmp_path / "job"), "CLOSESPIDER_PAGECOUNT": "2"}
    env = {"OPMON_DATA_DIR": str(tmp_path / "data")}
    first = run_crawl("weibo", args, settings=settings, env=env)
    assert first.finish_reason == "closespider_pagecount"
    assert replay_server.hits(SEARCH, page="2") == 0
    second = run_crawl("weibo", args, settings={"JOBDIR": str(tmp_path / "job")}, env=env)
    assert second.finish_reason == "finished", second.log[-2000:]
    assert replay_server.hits(SEARCH, page="1") == 1  # not fetched again after the resume
    assert replay_server.hits(SEARCH, page="2") == 1
    ids = {i["id"] for i in first.items + second.items}
    assert len(ids) == 8  # (page 2 repeats a page-1 post: the second run re-emits it as an update)
    with sqlite3.connect(tmp_path / "data" / "mentions.db") as db:
        assert db.execute("SELECT COUNT(*) FROM mentions").fetchone()[0] == 8


_OPINIONS = ["续航不错", "屏幕太暗了", "客服回复很慢", "拍照清晰", "发热严重", "物流很快", "系统卡顿", "性价比高"]


def _generated_page(n: int, per_page: int) -> bytes:
    """A getIndex page with `per_page` distinct posts, newest first across pages."""
    group = []
    for i in range(per_page):
        k = (n - 1) * per_page + i
        mid = str(5_200_000_000_000_000 + k)
        created = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=8))) - timedelta(minutes=k)
        text = f"第{k}位用户：小米手机{_OPINIONS[k % 8]}，{_OPINIONS[(k // 8) % 8]}，编号{k * 7919}"
        group.append({"card_type": 9, "mblog": {
            "created_at": created.strftime("%a %b %d %H:%M:%S +0800 %Y"), "id": mid, "mid": mid, "text": text,
            "user": {"id": 1000 + k, "screen_name": f"用户{k}"}, "reposts_count": 0, "comments_count": 0,
            "attitudes_count": 0}})
    body = {"ok": 1, "data": {"cards": [{"card_type": 11, "card_group": group}]}}
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.slow
def test_sigkill_then_resume_with_jobdir_loses_nothing(replay_server, run_crawl, tmp_path):
    # Scrapy flushes the seen-request fingerprints every ~200 requests but saves its queue's index only
    # on a clean close: killed after 260 pages, the JOBDIR holds "seen" for the start pages and no queue.
    # Resuming from that used to end "empty" at once, with 80 of 300 pages never crawled.
    pages, per_page, stall = 300, 2, 261
    replay_server.add("/", body=W / "home.html")
    stalled = []
    for n in range(1, pages + 1):
        route = replay_server.add(SEARCH, query={"page": str(n)}, body=_generated_page(n, per_page),
                                  content_type=JSON, delay=60 if n >= stall else 0)
        if n >= stall:
            stalled.append(route)
    replay_server.add(SEARCH, body=W / "search_empty.json", content_type=JSON)
    job, data = tmp_path / "job", tmp_path / "data"
    args = {"keyword": "小米", "pages": str(pages), "base_url": replay_server.url}
    settings = {"JOBDIR": str(job), "PAGE_LOOKAHEAD": "4", "CONCURRENT_REQUESTS": "4"}
    cmd = [sys.executable, "-m", "scrapy", "crawl", "weibo"]
    for k, v in args.items():
        cmd += ["-a", f"{k}={v}"]
    for k, v in {**FAST_SETTINGS, **settings, "LOG_FILE": str(tmp_path / "first.log")}.items():
        cmd += ["-s", f"{k}={v}"]
    env = {**os.environ, "OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(data)}
    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while replay_server.hits(SEARCH, page=str(stall)) == 0:
            assert first.poll() is None, "the crawl ended before it reached the stalled pages"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # the items of the pages before the stall reach the store
        # a second crawl on the same JOBDIR while the first runs is refused, and touches nothing
        rival = run_crawl("weibo", args, settings=settings, env={"OPMON_DATA_DIR": str(tmp_path / "rival")})
        assert rival.returncode != 0
        assert f"JOBDIR {job} is in use by another running crawl (running pid={first.pid}" in rival.log
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # no close, no flush
        first.wait()
    assert (job / "requests.seen").stat().st_size > 0
    assert not (job / "requests.queue" / "active.json").exists()
    for route in stalled:
        route.delay = 0

    second = run_crawl("weibo", args, settings=settings, env={"OPMON_DATA_DIR": str(data)}, timeout=120)
    assert second.finish_reason == "finished", second.log[-2000:]
    assert second.stats.get("jobdir/reset_unclean") == 1
    assert f"JOBDIR {job} was left by a crawl that did not stop cleanly" in second.log
    with sqlite3.connect(data / "mentions.db") as db:
        assert db.execute("SELECT COUNT(*) FROM mentions").fetchone()[0] == pages * per_page
    # a clean end leaves the JOBDIR resumable: the next run starts from it (no reset), finds every
    # page seen, and ends without fetching a search page again
    hits_before = replay_server.hits(SEARCH)
    third = run_crawl("weibo", args, settings=settings, env={"OPMON_DATA_DIR": str(data)})
    assert third.returncode == 0 and "jobdir/reset_unclean" not in third.stats
    assert replay_server.hits(SEARCH) == hits_before


def test_dead_proxy_is_benched_and_the_live_one_carries_the_crawl(replay_server, run_crawl):
    _serve(replay_server, ["search_p1.json"])
    port = replay_server.url.rsplit(":", 1)[1]
    # the replay server doubles as an HTTP proxy: it is sent absolute URIs and answers by path
    proxies = f"http://127.0.0.1:9,http://127.0.0.1:{port}"
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"PROXY_MAX_FAILURES": "1", "RETRY_TIMES": "3", "DOWNLOAD_TIMEOUT": "3"},
                    env={"OPMON_PROXIES": proxies})
    assert run.finish_reason == "finished", run.log[-2000:]
    assert run.stats["proxy/benched"] == 1
    assert run.stats["proxy/failures/http://127.0.0.1:9"] == 1
    assert len(run.items) == 5


def test_all_proxies_dead_ends_proxies_exhausted(replay_server, run_crawl):
    _serve(replay_server, ["search_p1.json"])
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"PROXY_MAX_FAILURES": "1", "RETRY_TIMES": "5", "DOWNLOAD_TIMEOUT": "3"},
                    env={"OPMON_PROXIES": "http://127.0.0.1:9,http://127.0.0.1:11"})
    assert run.finish_reason == "proxies_exhausted"
    assert "every proxy (2) is benched" in run.log
    assert replay_server.hits(SEARCH) == 0


def _project_settings(env: dict) -> subprocess.CompletedProcess:
    code = ("import json; from scrapy.utils.project import get_project_settings as g; s = g(); "
            "print(json.dumps({k: s.get(k) for k in ('SCHEDULER', 'DUPEFILTER_CLASS', 'REDIS_URL', "
            "'SCHEDULER_PERSIST')}))")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **env})


def test_distributed_switches_to_scrapy_redis():
    on = _project_settings({"OPMON_DISTRIBUTED": "true", "OPMON_REDIS_URL": "redis://127.0.0.1:6390/0"})
    assert on.returncode == 0, on.stderr
    got = json.loads(on.stdout)
    assert got == {"SCHEDULER": "scrapy_redis.scheduler.Scheduler",
                   "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
                   "REDIS_URL": "redis://127.0.0.1:6390/0", "SCHEDULER_PERSIST": True}
    off = json.loads(_project_settings({"OPMON_DISTRIBUTED": "false"}).stdout)
    assert off["SCHEDULER"] == "scrapy.core.scheduler.Scheduler"
    missing = _project_settings({"OPMON_DISTRIBUTED": "true", "OPMON_REDIS_URL": ""})
    assert missing.returncode != 0 and "OPMON_REDIS_URL" in missing.stderr
