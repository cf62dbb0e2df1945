"""Discuz! X parsers (crawlers/parsing/discuz.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from crawl_testkit import PAGES

from core.mention import SHANGHAI
from crawlers.parsing import discuz as dz

D = PAGES / "discuz"


def gbk(name: str) -> str:
    return (D / name).read_bytes().decode("gbk")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://b.cn/forum.php?mod=viewthread&tid=12&extra=page%3D1&page=3", ("12", 3)),
    ("https://b.cn/bbs/thread-12-2-1.html", ("12", 2)),
    ("https://b.cn/viewthread.php?tid=7", ("7", 1)),
    ("https://b.cn/forum.php?mod=forumdisplay&fid=2", (None, 1)),
])
def test_thread_ids_from_both_url_styles(url, expected):
    assert dz.thread_id_from_url(url) == expected


def test_board_root_and_urls():
    assert dz.board_root("https://x.cn/bbs") == "https://x.cn/bbs/"
    assert dz.board_root("https://x.cn/bbs/forum.php") == "https://x.cn/bbs/"
    assert dz.forum_url("https://x.cn/bbs", "2", 3) == "https://x.cn/bbs/forum.php?mod=forumdisplay&fid=2&page=3"
    assert dz.thread_url("https://x.cn", "9") == "https://x.cn/forum.php?mod=viewthread&tid=9"


def test_forum_list_sticky_and_normal_threads():
    page = dz.parse_forum_page(gbk("forumdisplay_fid2_page1.html"), "https://x.cn/forum.php?mod=forumdisplay&fid=2")
    assert [(t.tid, t.sticky) for t in page.threads] == [("1001", True), ("1002", False), ("1003", False)]
    assert page.next_url == "https://x.cn/forum.php?mod=forumdisplay&fid=2&page=2"
    assert not page.empty and page.gated is None


def test_empty_and_gated_boards_differ():
    empty = dz.parse_forum_page(gbk("forumdisplay_fid40_page1.html"), "https://x.cn/")
    gated = dz.parse_forum_page(gbk("forumdisplay_fid9_login.html"), "https://x.cn/")
    assert empty.empty and empty.gated is None
    assert not gated.empty and gated.gated == "抱歉，您需要登录后才能继续本操作"


def test_post_times_plain_and_span_title():
    page = dz.parse_thread_page(gbk("viewthread_tid1002_page1.html"), "https://x.cn/forum.php?mod=viewthread&tid=1002",
                                site="x")
    assert [m["published_at"] for m in page.mentions] == [
        datetime(2024, 1, 2, 10, 0, tzinfo=SHANGHAI), datetime(2024, 1, 3, 9, 15, tzinfo=SHANGHAI)]
    assert page.locked == ["2003"] and page.first_pid == "2001"
    assert page.next_url.endswith("tid=1002&extra=page%3D1&page=2")


def test_hidden_part_removed_tail_text_kept():
    html = """<span id="thread_subject">S</span><table id="pid5" class="plhin"><tr><td>
      <div class="authi"><a class="xw1" href="home.php?mod=space&amp;uid=3">u</a></div>
      <a id="postnum5"><em>1</em></a><em id="authorposton5">发表于 2024-2-3 04:05</em>
      <td class="t_f" id="postmessage_5">before<div class="locked">回复可见</div>after
      <div class="quote"><blockquote>quoted</blockquote></div>end</td></td></tr></table>"""
    page = dz.parse_thread_page(html, "https://x.cn/forum.php?mod=viewthread&tid=8", site="x")
    (m,) = page.mentions
    assert m["text"] == "beforeafter\nend" and m["kind"] == "post" and page.hidden == ["5"]
    assert m["author"] == {"id": "3", "name": "u"}


def test_no_permission_thread_is_gated():
    page = dz.parse_thread_page(gbk("viewthread_tid1004_nopermission.html"),
                                "https://x.cn/forum.php?mod=viewthread&tid=1004", site="x")
    assert page.mentions == [] and page.gated == "抱歉，本帖要求阅读权限高于 10 才能浏览"


def test_block_detectors_fire_on_blocks_only():
    from scrapy.http import HtmlResponse

    from crawlers import blocking
    from crawlers.spiders import discuz  # noqa: F401  (registers the detectors)

    for page in sorted(D.glob("*.html")):  # gated and empty boards are not blocks
        assert blocking.detect(HtmlResponse("https://b.cn/forum.php", body=page.read_bytes()), ["discuz"]) is None
    waf = HtmlResponse("https://b.cn/forum.php", status=403, body="<h1>网站防火墙</h1>您的请求带有不合法参数".encode("gbk"))
    assert blocking.detect(waf, ["discuz"]).signal == "discuz_firewall"
    plain_403 = HtmlResponse("https://b.cn/forum.php", status=403, body=b"<h1>Forbidden</h1>")
    assert blocking.detect(plain_403, ["discuz"]) is None
