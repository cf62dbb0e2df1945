"""The `tieba` spider, crawled for real (scrapy subprocess) against saved Tieba PC pages."""

from __future__ import annotations

import pytest
from crawl_testkit import PAGES

T = PAGES / "tieba"
THREADS = ("9100000001", "9100000002", "9100000003", "9100000004")


def serve_forum(server) -> None:
    server.add("/f", query={"kw": "小米", "pn": "0"}, body=T / "forum_xiaomi_pn0.html")
    server.add("/f", query={"kw": "小米", "pn": "50"}, body=T / "forum_xiaomi_pn50.html")
    for tid in THREADS:
        server.add(f"/p/{tid}", body=T / f"thread_{tid}.html")
    server.add("/p/9100000002", query={"pn": "2"}, body=T / "thread_9100000002_pn2.html")


def test_forum_crawl_yields_posts_and_comments(replay_server, run_crawl):
    serve_forum(replay_server)
    run = run_crawl("tieba", {"forum": "小米", "base_url": replay_server.url})
    assert run.returncode == 0, run.log[-3000:]
    assert run.finish_reason == "finished"
    items = run.by_id()
    assert set(items) == {f"tieba:{pid}" for pid in (
        150000000001, 150000000101, 150000000102, 150000000103, 150000000104, 150000000105,
        150000000201, 150000000301, 150000000302)}
    post = items["tieba:150000000101"]
    assert post["kind"] == "post" and post["parent_id"] is None
    assert post["title"] == "小米14充电发烫，售后说正常？"
    assert post["text"] == '买了三个月，充电的时候背面烫手。\n售后说"正常现象"，真的正常吗？'
    assert post["author"] == {"id": "2001", "name": "爱吃鱼的猫", "followers": None, "verified": None}
    assert post["published_at"] == "2024-08-05T16:56:00+08:00"
    assert post["location"] == "广东" and post["metrics"]["comments"] == 4
    assert post["url"] == "https://tieba.baidu.com/p/9100000002"
    # later floors, including those on ?pn=2, are comments on the first floor
    for pid in (150000000102, 150000000103, 150000000104, 150000000105):
        c = items[f"tieba:{pid}"]
        assert c["kind"] == "comment" and c["parent_id"] == "tieba:150000000101" and c["title"] is None
    assert items["tieba:150000000103"]["metrics"]["comments"] == 1
    # an old floor without IP属地 keeps its date and has no location
    old = items["tieba:150000000105"]
    assert old["location"] is None and old["published_at"] == "2021-03-02T08:15:00+08:00"
    assert items["tieba:150000000201"]["text"] == "更新完续航多了两个小时\n\n点赞！"
    assert items["tieba:150000000201"]["author"]["name"] == "路过的网友"
    s = run.stats
    assert s["tieba/list_pages"] == 2 and s["tieba/thread_pages"] == 5
    assert s["tieba/stop_reason"] == "last list page (2)"
    assert replay_server.hits("/f", pn="100") == 0
    # the ad floor between real floors is skipped silently, not counted as malformed
    assert "tieba/malformed_pages" not in s and "tieba/unreadable_floors" not in s


def test_pages_limit_thread_pages_and_floor_replies(replay_server, run_crawl):
    serve_forum(replay_server)
    for pid in ("150000000101", "150000000103"):
        replay_server.add("/p/comment", query={"tid": "9100000002", "pid": pid, "fid": "52", "pn": "1"},
                          body=T / f"floor_replies_{pid}_pn1.html")
    run = run_crawl("tieba", {"forum": "小米", "pages": "1", "thread_pages": "1", "replies": "1",
                              "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert "tieba:150000000301" not in items  # list page 2 not fetched
    assert "tieba:150000000104" not in items  # thread page 2 not fetched
    assert run.stats["tieba/stop_reason"] == "pages=1 reached"
    assert run.stats["tieba/threads_truncated"] == 1
    # 楼中楼: comments on the floor they sit in, not on the thread's first floor
    lzl = items["tieba:150000100002"]
    assert lzl["kind"] == "comment" and lzl["parent_id"] == "tieba:150000000101"
    assert lzl["text"] == "回复 爱吃鱼的猫 :您好，已私信您处理" and lzl["author"]["name"] == "小米客服"
    assert lzl["published_at"] == "2024-08-06T22:11:00+08:00"
    assert items["tieba:150000100003"]["parent_id"] == "tieba:150000000103"
    assert run.stats["tieba/reply_pages"] == 2  # only the floors whose comment_num > 0


def test_keyword_search(replay_server, run_crawl):
    replay_server.add("/f/search/res", query={"qw": "小米 客服", "pn": "1"}, body=T / "search_xiaomi_kefu_pn1.html")
    replay_server.add("/f/search/res", query={"qw": "小米 客服", "pn": "2"}, body=T / "search_xiaomi_kefu_pn2.html")
    run = run_crawl("tieba", {"keyword": "小米 客服", "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert set(items) == {"tieba:150000000103", "tieba:150000000301", "tieba:150000000901"}
    reply = items["tieba:150000000103"]
    assert reply["kind"] == "comment" and reply["keyword"] == "小米 客服"
    assert reply["text"].startswith("您好，充电时温度在45℃以内")
    hit = items["tieba:150000000301"]
    assert hit["kind"] == "post" and hit["title"] == "小米客服态度太差了"
    assert hit["text"] == "打了三次电话都没解决，客服只会说抱歉。"
    assert hit["url"] == "https://tieba.baidu.com/p/9100000004?pid=150000000301#150000000301"
    assert run.stats["tieba/stop_reason"] == "last search page (2)"


def test_since_stops_search_paging(replay_server, run_crawl):
    replay_server.add("/f/search/res", query={"pn": "1"}, body=T / "search_xiaomi_kefu_pn1.html")
    replay_server.add("/f/search/res", query={"pn": "2"}, body=T / "search_xiaomi_kefu_pn2.html")
    run = run_crawl("tieba", {"keyword": "客服", "since": "2024-08-12", "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    assert run.items == []
    assert replay_server.hits("/f/search/res", pn="2") == 0
    assert run.stats["tieba/stop_reason"].startswith("search page 1 is older than 2024-08-12")


def test_security_check_403_ends_blocked(replay_server, run_crawl):
    replay_server.add("/f", status=403, body=T / "blocked_anquan.html")
    run = run_crawl("tieba", {"forum": "小米", "base_url": replay_server.url})
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/tieba_security_check"] == 1
    assert "CRAWL BLOCKED: signal=tieba_security_check" in run.log
    assert replay_server.hits("/f") == 4  # first try + BLOCK_RETRY_TIMES (3)


def test_wappass_captcha_redirect_ends_blocked(replay_server, run_crawl):
    replay_server.add("/p/9100000003", redirect="https://wappass.baidu.com/static/captcha/tuxing.html?"
                                                "ak=2ef521ec36290baed33d66de9b16f625&backurl=https%3A%2F%2Ftieba.baidu.com%2Fp%2F9100000003")
    serve_forum(replay_server)  # added after: the first matching route wins
    run = run_crawl("tieba", {"forum": "小米", "pages": "1", "base_url": replay_server.url})
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/tieba_captcha_redirect"] == 1
    assert "tieba:150000000201" not in run.by_id()


def test_empty_body_is_a_block_not_an_empty_forum(replay_server, run_crawl):
    replay_server.add("/f", body=b"")
    run = run_crawl("tieba", {"forum": "小米", "base_url": replay_server.url})
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/tieba_empty_body"] == 1


def test_missing_or_conflicting_arguments_are_a_clear_error():
    from core.errors import ConfigError
    from crawlers.spiders.tieba import TiebaSpider

    for kwargs in ({}, {"forum": "小米", "keyword": "客服"}, {"forum": "  "}):
        with pytest.raises(ConfigError, match="give exactly one of -a forum=NAME"):
            TiebaSpider(**kwargs)
    with pytest.raises(ConfigError, match="thread_pages"):
        TiebaSpider(forum="小米", thread_pages="0")
