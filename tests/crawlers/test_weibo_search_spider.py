"""The `weibo_search` spider (s.weibo.com HTML) against saved pages: cards, full text, pager, slicing."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from crawl_testkit import PAGES

from core.mention import SHANGHAI

W = PAGES / "weibo"


def test_cards_full_text_retweets_and_pager(replay_server, run_crawl):
    ts = "custom:2026-11-21-0:2026-11-22-0"
    replay_server.add("/weibo", query={"timescope": ts, "page": "1"}, body=W / "search_p1.html")
    replay_server.add("/weibo", query={"timescope": ts, "page": "2"}, body=W / "search_p2.html")
    replay_server.add("/weibo", query={"timescope": ts, "page": "3"}, body=W / "search_no_result.html")
    run = run_crawl("weibo_search", {"keyword": "小米", "start": "2026-11-21-0", "end": "2026-11-22-0",
                                     "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert set(items) == {"weibo:5200000000000001", "weibo:5200000000000002", "weibo:5200000000000003",
                          "weibo:5200000000000004", "weibo:3501756485200075"}
    full = items["weibo:5200000000000001"]
    assert full["text"] == "刚买的@小米客服 手机屏幕就坏了[怒]\n售后说要等两周 #小米售后# 北京·中关村"
    assert full["source"] == "weibo" and full["url"] == "https://m.weibo.cn/detail/5200000000000001"
    assert full["author"]["id"] == "1700000001" and full["author"]["verified"] is True
    assert full["metrics"]["reposts"] == 12 and full["metrics"]["comments"] is None
    assert full["metrics"]["likes"] == 32_000
    assert full["published_at"].endswith("09:29:00+08:00")
    repost = items["weibo:5200000000000002"]
    assert repost["text"] == "转发理由：确实网页链接"
    assert repost["metrics"] == {"reposts": None, "comments": 3, "likes": None, "rating": None}
    original = items["weibo:3501756485200075"]  # mid decoded from the base62 bid z0JH2lOMb
    assert original["text"] == "小米客服态度很好，一天就帮我换了新机[赞]"
    assert original["published_at"] == "2023-11-22T10:00:00+08:00"
    assert original["metrics"]["likes"] == 12_000 and original["author"]["name"] == "原博主"
    assert items["weibo:5200000000000004"]["published_at"] == "2026-11-21T08:00:00+08:00"
    assert run.stats["weibo_search/duplicate_mids"] == 1
    assert run.stats["weibo_search/empty_pages"] == 1  # card-no-result on page 3 is empty, not an error
    assert not any(k.startswith("blocked") for k in run.stats)


def test_busy_ranges_are_split_into_days_then_hours(replay_server, run_crawl):
    busy = W / "search_busy.html"
    replay_server.add("/weibo", query={"timescope": "custom:2026-11-20-0:2026-11-22-0"}, body=busy)
    replay_server.add("/weibo", query={"timescope": "custom:2026-11-20-0:2026-11-21-0"}, body=busy)
    replay_server.add("/weibo", query={"timescope": "custom:2026-11-21-0:2026-11-22-0", "page": "1"},
                      body=W / "search_p1.html")
    replay_server.add("/weibo", query={"timescope": "custom:2026-11-21-0:2026-11-22-0"},
                      body=W / "search_p2.html")
    replay_server.add("/weibo", body=W / "search_hour.html")  # every hour slice of the 20th
    run = run_crawl("weibo_search", {"keyword": "小米", "start": "2026-11-20-0", "end": "2026-11-22-0",
                                     "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    scopes = [r.query["timescope"] for r in replay_server.requests if r.path == "/weibo"]
    parents = {"custom:2026-11-20-0:2026-11-21-0", "custom:2026-11-20-0:2026-11-22-0"}
    hours = {s for s in scopes if s.startswith("custom:2026-11-20-") and s not in parents}
    assert len(hours) == 24 and "custom:2026-11-20-23:2026-11-21-0" in hours
    assert "custom:2026-11-20-5:2026-11-20-6" in hours  # hour unpadded
    assert run.stats["weibo_search/splits/days"] == 1 and run.stats["weibo_search/splits/hours"] == 1
    ids = {i["id"] for i in run.items}
    # the busy page's post (seen twice), one hour post (seen 24 times), day two's posts: each once
    assert {"weibo:5200000000000005", "weibo:5200000000000006", "weibo:5200000000000004"} <= ids
    assert len(run.items) == len(ids)
    assert run.stats["weibo_search/duplicate_mids"] >= 23


def test_login_redirect_on_search_is_blocked(replay_server, run_crawl):
    replay_server.add("/weibo", redirect="https://weibo.com/login.php?url=https%3A%2F%2Fs.weibo.com%2Fweibo")
    replay_server.add("/login.php", body="<html><title>登录</title></html>")
    run = run_crawl("weibo_search", {"keyword": "小米", "start": "2026-11-21-0", "end": "2026-11-22-0",
                                     "base_url": replay_server.url}, settings={"BLOCK_RETRY_TIMES": "1"})
    assert run.finish_reason == "blocked"
    assert run.stats["blocked/weibo_login_redirect"] == 1
    assert "no cookies configured for weibo" in run.log


def test_no_result_is_empty(replay_server, run_crawl):
    replay_server.add("/weibo", body=W / "search_no_result.html")
    run = run_crawl("weibo_search", {"keyword": "无结果", "start": "2026-11-21-0", "end": "2026-11-22-0",
                                     "base_url": replay_server.url})
    assert run.finish_reason == "finished" and run.items == []
    assert run.stats["opmon/outcome"] == "empty" and run.stats["weibo_search/empty_slices"] == 1


def test_cookie_header_carries_only_sub(replay_server, run_crawl, tmp_path):
    replay_server.add("/weibo", body=W / "search_no_result.html")
    cookie_file = tmp_path / "weibo.cookies"
    cookie_file.write_text("SUB=_2A25secret; SSOLoginState=1700000000; SUBP=0033abc", encoding="utf-8")
    run = run_crawl("weibo_search", {"keyword": "小米", "start": "2026-11-21-0", "end": "2026-11-22-0",
                                     "base_url": replay_server.url},
                    env={"OPMON_COOKIE_FILE_WEIBO": str(cookie_file)})
    assert run.finish_reason == "finished"
    assert {r.headers.get("Cookie") for r in replay_server.requests} == {"SUB=_2A25secret"}
    assert "_2A25secret" not in run.log  # names are logged, values never
    assert "sending SUB" in run.log


def test_repeat_run_starts_at_the_newest_stored_hour(replay_server, run_crawl, tmp_path):
    replay_server.add("/weibo", query={"page": "1"}, body=W / "search_p1.html")
    replay_server.add("/weibo", body=W / "search_no_result.html")
    args = {"keyword": "小米", "base_url": replay_server.url}  # no start: the rolling window
    env = {"OPMON_DATA_DIR": str(tmp_path / "data")}
    first = run_crawl("weibo_search", args, env=env)
    assert first.finish_reason == "finished" and len(first.items) == 4
    with sqlite3.connect(tmp_path / "data" / "mentions.db") as db:
        state = json.loads(db.execute("SELECT state FROM crawl_state").fetchone()[0])
    newest = datetime.fromisoformat(state["newest_published_at"])
    again = run_crawl("weibo_search", args, env=env)
    assert again.finish_reason == "finished"
    scopes = [r.query["timescope"] for r in replay_server.requests if r.path == "/weibo"]
    # "今天09:29" on the saved page is in the future before 09:29 Shanghai time; the spider then
    # still crawls the current hour (a window never starts after its end)
    hour = min(newest, datetime.now(SHANGHAI)).replace(minute=0, second=0, microsecond=0)
    assert scopes[-1].startswith(f"custom:{hour:%Y-%m-%d}-{hour.hour}:")
    # an explicit range is a backfill: crawled as asked, whatever is stored
    run_crawl("weibo_search", {**args, "start": "2026-11-20-0", "end": "2026-11-21-0"}, env=env)
    assert [r.query["timescope"] for r in replay_server.requests if r.path == "/weibo"][-1] == (
        "custom:2026-11-20-0:2026-11-21-0")
