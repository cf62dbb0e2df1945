"""The `discuz` spider, crawled for real against saved (GBK) Discuz! X pages."""

from __future__ import annotations

import pytest
from crawl_testkit import PAGES

D = PAGES / "discuz"
GBK = "text/html; charset=gbk"


def serve_board2(server, prefix: str = "/bbs", content_type: str = GBK) -> None:
    fp = f"{prefix}/forum.php"
    server.add(fp, query={"mod": "forumdisplay", "fid": "2", "page": "1"}, body=D / "forumdisplay_fid2_page1.html",
               content_type=content_type)
    server.add(fp, query={"mod": "forumdisplay", "fid": "2", "page": "2"}, body=D / "forumdisplay_fid2_page2.html",
               content_type=content_type)
    server.add(fp, query={"mod": "viewthread", "tid": "1001"}, body=D / "viewthread_tid1001_page1.html",
               content_type=content_type)
    server.add(fp, query={"mod": "viewthread", "tid": "1002", "page": "2"}, body=D / "viewthread_tid1002_page2.html",
               content_type=content_type)
    server.add(fp, query={"mod": "viewthread", "tid": "1002"}, body=D / "viewthread_tid1002_page1.html",
               content_type=content_type)
    server.add(fp, query={"mod": "viewthread", "tid": "1003"}, body=D / "viewthread_tid1003_page1.html",
               content_type=content_type)
    server.add(fp, query={"mod": "viewthread", "tid": "1004"}, body=D / "viewthread_tid1004_nopermission.html",
               content_type=content_type)


def test_board_crawl_gbk_posts_comments_locked_and_gated(replay_server, run_crawl):
    serve_board2(replay_server)
    run = run_crawl("discuz", {"base_url": f"{replay_server.url}/bbs", "fid": "2", "site": "sjzj"})
    assert run.returncode == 0, run.log[-3000:]
    assert run.finish_reason == "finished"
    items = run.by_id()
    assert set(items) == {"discuz:sjzj:1", "discuz:sjzj:2001", "discuz:sjzj:2002", "discuz:sjzj:2004",
                          "discuz:sjzj:3005"}
    post = items["discuz:sjzj:2001"]
    assert post["kind"] == "post" and post["title"] == "华为P60换电池被多收了钱"
    # GBK decoded; the edit stamp is not part of the text; the smiley image has no alt
    assert post["text"] == "官方说换电池299，结果结账收了399，说是“人工费”另算。\n\n大家遇到过吗？"
    assert post["author"]["name"] == "老张" and post["author"]["id"] == "35"
    assert post["published_at"] == "2024-01-02T10:00:00+08:00"
    assert post["url"] == f"{replay_server.url}/bbs/forum.php?mod=viewthread&tid=1002"
    reply = items["discuz:sjzj:2002"]
    # the recent-post form: the real time is the span's title, not "昨天 09:15"
    assert reply["published_at"] == "2024-01-03T09:15:00+08:00"
    assert reply["text"] == "去12315投诉，一投一个准。"  # the quoted post is dropped
    assert reply["kind"] == "comment" and reply["parent_id"] == "discuz:sjzj:2001"
    page2 = items["discuz:sjzj:2004"]  # on viewthread page 2, still parented to floor 1
    assert page2["parent_id"] == "discuz:sjzj:2001" and page2["published_at"] == "2024-01-05T21:03:00+08:00"
    hidden = items["discuz:sjzj:3005"]
    assert hidden["text"] == "刷机包下载地址如下：" and hidden["published_at"] == "2024-01-03T12:00:35+08:00"
    s = run.stats
    assert s["discuz/locked_posts"] == 1          # post 2003: author banned, content blocked
    assert s["discuz/hidden_content"] == 1        # post 3005: reply-to-see part
    assert s["discuz/thread_login_required"] == 1  # thread 1004
    assert s["discuz/list_pages"] == 2 and s["discuz/stop_reason"] == "last list page (2)"
    assert "discuz/malformed_pages" not in s


def test_rewritten_urls_and_charset_from_meta(replay_server, run_crawl):
    # URL rewriting on: the list links thread-T-P-1.html; no charset in the header, only <meta>.
    replay_server.add("/forum.php", query={"mod": "forumdisplay", "fid": "36"}, body=D / "forumdisplay_fid36_page1.html",
                      content_type="text/html")
    replay_server.add("/thread-3001-1-1.html", body=D / "thread-3001-1-1.html", content_type="text/html")
    replay_server.add("/thread-3001-2-1.html", body=D / "thread-3001-2-1.html", content_type="text/html")
    run = run_crawl("discuz", {"base_url": replay_server.url, "fid": "36"})
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert set(items) == {"discuz:127.0.0.1:5001", "discuz:127.0.0.1:5002", "discuz:127.0.0.1:5003"}
    assert items["discuz:127.0.0.1:5002"]["text"] == "我的也出現了，繁體字測試：螢幕綠線"
    assert items["discuz:127.0.0.1:5002"]["author"]["name"] == "數碼控"
    assert items["discuz:127.0.0.1:5003"]["parent_id"] == "discuz:127.0.0.1:5001"


def test_login_gated_board_is_reported(replay_server, run_crawl):
    replay_server.add("/forum.php", query={"mod": "forumdisplay", "fid": "9"}, body=D / "forumdisplay_fid9_login.html",
                      content_type=GBK)
    replay_server.add("/forum.php", query={"mod": "forumdisplay", "fid": "40"}, body=D / "forumdisplay_fid40_page1.html",
                      content_type=GBK)
    run = run_crawl("discuz", {"base_url": replay_server.url, "fid": "9", "site": "sjzj"})
    assert run.returncode == 0 and run.finish_reason == "finished", run.log[-3000:]
    assert run.items == [] and run.stats["discuz/login_required"] == 1
    assert "needs a login or a higher permission" in run.log and "OPMON_COOKIE_DISCUZ" in run.log
    # an empty board is simply empty: no login warning, nothing malformed
    empty = run_crawl("discuz", {"base_url": replay_server.url, "fid": "40"})
    assert empty.finish_reason == "finished" and empty.items == []
    assert "discuz/login_required" not in empty.stats and "discuz/malformed_pages" not in empty.stats
    assert empty.stats["opmon/outcome"] == "empty"


def test_anti_cc_page_ends_blocked(replay_server, run_crawl):
    page = ('<html><head><meta http-equiv="refresh" content="2"><meta http-equiv="Content-Type" content="text/html; '
            'charset=gbk" /></head><body>您访问本站速度过快或者刷新间隔时间小于两秒！请等待页面自动跳转 ...</body></html>')
    replay_server.add("/forum.php", body=page.encode("gbk"), content_type=GBK)
    run = run_crawl("discuz", {"base_url": replay_server.url, "fid": "2"})
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/discuz_anti_cc"] == 1


def test_bad_arguments_name_the_argument():
    from core.errors import ConfigError
    from crawlers.spiders.discuz import DiscuzSpider

    with pytest.raises(ConfigError, match="-a fid=N"):
        DiscuzSpider(base_url="http://127.0.0.1:9", fid="abc")
    with pytest.raises(ConfigError, match="-a base_url=URL"):
        DiscuzSpider(fid="2")
    with pytest.raises(ConfigError, match="-a encoding='latin-9x'"):
        DiscuzSpider(base_url="http://127.0.0.1:9", fid="2", encoding="latin-9x")
    assert DiscuzSpider(base_url="https://BBS.Example.com/bbs", fid="2").site == "bbs.example.com"
