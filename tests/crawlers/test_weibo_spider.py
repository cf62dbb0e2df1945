"""The `weibo` spider, crawled for real (scrapy subprocess) against saved m.weibo.cn pages."""

from __future__ import annotations

import json
import sqlite3

from crawl_testkit import PAGES

W = PAGES / "weibo"
JSON = "application/json; charset=utf-8"
SEARCH = "/api/container/getIndex"


def serve_search(server, pages: list[str], keyword: str = "小米") -> None:
    server.add("/", body=W / "home.html")
    cid = f"100103type=1&q={keyword}"
    for n, name in enumerate(pages, start=1):
        server.add(SEARCH, query={"containerid": cid, "page": str(n)}, body=W / name, content_type=JSON)
    server.add(SEARCH, query={"containerid": cid}, body=W / "search_empty.json", content_type=JSON)


def test_search_pages_yield_clean_mentions(replay_server, run_crawl):
    serve_search(replay_server, ["search_p1.json", "search_p2.json"])
    replay_server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url})
    assert run.returncode == 0, run.log[-3000:]
    assert run.finish_reason == "finished"
    items = run.by_id()
    # 4 + 1 retweeted original on page 1, 4 valid (one repeated id) on page 2; the dated-less post dropped
    assert set(items) == {
        "weibo:5100000000000001", "weibo:5100000000000002", "weibo:5100000000000003",
        "weibo:5100000000000004", "weibo:5099999999999999", "weibo:5100000000000005",
        "weibo:5100000000000006", "weibo:5100000000000007",
    }
    a = items["weibo:5100000000000001"]
    assert a["text"] == "刚买的@小米客服 手机屏幕就坏了[怒]\n售后还说要等两周#小米售后# [doge] 北京·中关村"
    assert a["published_at"] == "2026-11-21T10:00:00+08:00"
    assert a["metrics"] == {"likes": 1_000_000, "reposts": 12_000, "comments": 2, "rating": None}
    assert a["author"] == {"id": "1700000001", "name": "数码老王", "followers": 362_000, "verified": True}
    assert a["location"] == "北京" and a["kind"] == "post" and a["keyword"] == "小米"
    assert a["url"] == "https://m.weibo.cn/detail/5100000000000001"
    long = items["weibo:5100000000000002"]
    assert long["text"].endswith("应用商店广告太多[允悲]\n\n总体还是推荐，期待下个版本修复。")
    assert "全文" not in long["text"]
    original = items["weibo:5099999999999999"]
    assert original["metrics"]["likes"] == 120_000_000 and original["text"].endswith("[赞]")
    # relative dates resolve in Shanghai time
    assert items["weibo:5100000000000005"]["published_at"].endswith("10:00:00+08:00")
    assert items["weibo:5100000000000007"]["published_at"].startswith("2026-06-27T00:00:00")
    # near-duplicate spam marked, not dropped; the first copy is the original
    assert items["weibo:5100000000000006"]["dup_of"] == "weibo:5100000000000005"
    assert items["weibo:5100000000000005"]["dup_of"] is None
    s = run.stats
    assert s["pipeline/dedupe/dropped/duplicate_id"] == 1
    assert s["weibo/malformed_posts"] == 1  # no created_at: skipped by the spider
    assert s["pipeline/validate/dropped/invalid"] == 1  # picture-only post, no text: dropped, counted
    assert s["weibo/skipped_cards"] == 2  # the type-42 header and the type-30 user row
    assert s["weibo/stop_reason"].startswith("no results")
    assert s["opmon/outcome"] == "finished"
    # requests carried the mobile Referer; the warm-up came first
    assert replay_server.requests[0].path == "/"
    api = [r for r in replay_server.requests if r.path == SEARCH]
    assert all(r.headers.get("Referer") == "https://m.weibo.cn/" for r in api)
    assert [r.query["page"] for r in api] == ["1", "2", "3"]


def test_comments_follow_max_id_until_zero(replay_server, run_crawl):
    serve_search(replay_server, ["search_p1.json"])
    replay_server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")
    replay_server.add("/comments/hotflow", query={"id": "5100000000000001", "max_id": "138900000000000"},
                      body=W / "hotflow_5100000000000001_p2.json", content_type=JSON)
    replay_server.add("/comments/hotflow", query={"id": "5100000000000001"},
                      body=W / "hotflow_5100000000000001_p1.json", content_type=JSON)
    replay_server.add("/comments/hotflow", query={"id": "5100000000000003"},
                      body=W / "hotflow_empty.json", content_type=JSON)
    run = run_crawl("weibo", {"keyword": "小米", "comments": "1", "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    c1, reply, c3 = (items[f"weibo:51000000001000{n:02d}"] for n in (1, 2, 3))
    assert c1["kind"] == "comment" and c1["parent_id"] == "weibo:5100000000000001"
    assert c1["text"] == "同款问题[泪]" and c1["location"] == "北京" and c1["metrics"]["likes"] == 12
    assert reply["parent_id"] == "weibo:5100000000000001" and reply["text"] == "回复@评论者一:去售后换了吗"
    assert c3["metrics"]["likes"] == 11_000 and c3["location"] == "广东"
    hot = [r for r in replay_server.requests if r.path == "/comments/hotflow"]
    assert sum(1 for r in hot if r.query["id"] == "5100000000000001") == 2  # stopped at max_id "0"
    assert all(r.headers.get("Referer") == f"https://m.weibo.cn/detail/{r.query['id']}" for r in hot)
    assert run.stats["weibo/comment_pages_empty"] == 1


def test_nothing_found_is_finished_empty_not_blocked(replay_server, run_crawl):
    serve_search(replay_server, [])
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url})
    assert run.returncode == 0
    assert run.finish_reason == "finished" and run.items == []
    assert run.stats["opmon/outcome"] == "empty"
    assert not any(k.startswith("blocked") for k in run.stats)
    assert "outcome=empty" in run.log and "CRAWL BLOCKED" not in run.log


def test_incremental_second_run_stops_at_known_mentions(replay_server, run_crawl, tmp_path):
    serve_search(replay_server, ["search_p1.json", "search_p1.json", "search_p1.json"])
    replay_server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")
    env = {"OPMON_DATA_DIR": str(tmp_path / "data")}
    first = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url}, env=env)
    assert first.finish_reason == "finished" and len(first.items) == 5
    assert first.stats["pipeline/store/inserted"] == 5
    with sqlite3.connect(tmp_path / "data" / "mentions.db") as db:
        state = json.loads(db.execute("SELECT state FROM crawl_state").fetchone()[0])
    assert state["newest_published_at"] == "2026-11-21T10:00:00+08:00"
    before = replay_server.hits(SEARCH)
    second = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url}, env=env)
    assert second.finish_reason == "finished"
    assert replay_server.hits(SEARCH) - before == 1  # page 1 is all known: no page 2
    assert second.stats["weibo/stop_reason"].startswith("reached")
    full = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url, "full": "1"}, env=env)
    assert replay_server.hits(SEARCH) - before == 1 + 4  # pages 1-3 and the empty page 4
    assert full.stats["pipeline/store/updated"] >= 5


def test_since_bounds_the_crawl(replay_server, run_crawl):
    serve_search(replay_server, ["search_p1.json", "search_p2.json"])
    replay_server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url, "since": "2026-11-21"})
    dates = [i["published_at"] for i in run.items]
    assert dates and all(d >= "2026-11-21" for d in dates)
    assert run.stats["pipeline/validate/dropped/before_since"] >= 2
