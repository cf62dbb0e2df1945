"""JOBDIR pause/resume, proxy rotation with benching, and the distributed-settings switch."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from crawl_testkit import PAGES, REPO

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
