"""Tieba page parsers (crawlers/parsing/tieba.py) on the saved pages and on the odd cases."""

from __future__ import annotations

from datetime import datetime

from crawl_testkit import PAGES

from core.mention import SHANGHAI, Mention
from crawlers.parsing import tieba as tp

T = PAGES / "tieba"


def test_thread_list_hidden_in_the_bigpipe_comment():
    html = (T / "forum_xiaomi_pn0.html").read_text(encoding="utf-8")
    # the list is not in the live DOM: only inside <code class="pagelet_html"><!-- ... --></code>
    assert "j_thread_list" in tp.thread_list_html(html)
    page = tp.parse_forum_page(html)
    assert [t.tid for t in page.threads] == ["9100000001", "9100000002", "9100000003"]
    top, second, _ = page.threads
    assert top.is_top and not second.is_top
    # data-field is entity-escaped JSON with \\u escapes
    assert second.first_post_id == "150000000101" and second.reply_num == 4 and second.author_name == "爱吃鱼的猫"
    assert second.title == "小米14充电发烫，售后说正常？"
    assert page.has_next and page.found_list
    assert not tp.parse_forum_page((T / "forum_xiaomi_pn50.html").read_text(encoding="utf-8")).has_next


def test_a_page_without_a_list_is_flagged():
    page = tp.parse_forum_page("<html><body><p>改版了</p></body></html>")
    assert page.threads == [] and not page.found_list


def test_floors_become_valid_mentions():
    html = (T / "thread_9100000002.html").read_text(encoding="utf-8")
    page = tp.parse_thread_page(html, "9100000002", 1)
    assert page.total_pages == 2 and page.reply_num == 4 and page.first_pid == "150000000101"
    assert [m["id"] for m in page.mentions] == ["tieba:150000000101", "tieba:150000000102", "tieba:150000000103"]
    for m in page.mentions:
        Mention.model_validate(m)
    assert page.mentions[0]["published_at"] == datetime(2024, 8, 5, 16, 56, tzinfo=SHANGHAI)


def test_floor_without_body_or_time_is_a_problem_not_a_crash():
    html = """<h3 class="core_title_txt" title="T">T</h3>
    <div class="l_post" data-pid="1" data-field='{"content":{"post_no":1}}'>
      <div class="post-tail-wrap"><span class="tail-info">1楼</span><span class="tail-info">2024-01-01 10:00</span></div></div>
    <div class="l_post" data-pid="2" data-field='{"content":{"post_no":2}}'>
      <div id="post_content_2">hi</div></div>
    <div class="l_post" data-field='{broken'>ad</div>"""
    page = tp.parse_thread_page(html, "9", 1)
    assert page.mentions == []
    assert page.problems == ["floor 1: no div#post_content_1", "floor 2: no time in the post tail"]


def test_later_page_without_known_first_floor_leaves_parent_empty():
    html = (T / "thread_9100000002_pn2.html").read_text(encoding="utf-8")
    page = tp.parse_thread_page(html, "9100000002", 2)
    assert all(m["kind"] == "comment" and m["parent_id"] is None for m in page.mentions)


def test_search_hits():
    page = tp.parse_search_page((T / "search_xiaomi_kefu_pn1.html").read_text(encoding="utf-8"), "客服")
    assert [m["id"] for m in page.mentions] == ["tieba:150000000103", "tieba:150000000301"]
    assert page.mentions[0]["kind"] == "comment" and page.mentions[0]["title"] is None
    assert page.mentions[1]["author"] == {"name": "数码小白"}
    assert page.has_next


def test_urls():
    assert tp.forum_url("小米", 3) == "https://tieba.baidu.com/f?kw=%E5%B0%8F%E7%B1%B3&ie=utf-8&pn=100"
    assert tp.thread_url("5", 2) == "https://tieba.baidu.com/p/5?pn=2"


def test_floor_replies_and_their_pager():
    html = """<ul><li class="lzl_single_post" data-field='{"spid":7,"showname":"甲","user_name":"a"}'>
      <div class="lzl_cnt"><a class="at j_user_card">甲</a>:&nbsp;<span class="lzl_content_main">第一条</span>
      <span class="lzl_time">2024-8-6 22:11</span></div></li>
      <li class="lzl_single_post" data-field='{"showname":"乙"}'><span class="lzl_content_main">no id</span></li>
      <li class="lzl_li_pager" data-field='{"total_num":16,"total_page":2}'></li></ul>"""
    page = tp.parse_floor_replies(html, "9", "5")
    assert page.total_pages == 2 and page.problems == ["floor reply without spid"]
    (m,) = page.mentions
    assert m["id"] == "tieba:7" and m["parent_id"] == "tieba:5" and m["text"] == "第一条"
    assert tp.floor_replies_url("9", "5", "52", 2) == "https://tieba.baidu.com/p/comment?tid=9&pid=5&fid=52&pn=2"


def _response(url, body: bytes, status=200, meta=None):
    from scrapy.http import HtmlResponse, Request

    return HtmlResponse(url, status=status, body=body, request=Request(url, meta=meta or {}))


def test_block_detectors_fire_on_blocks_only():
    from crawlers import blocking
    from crawlers.spiders import tieba  # noqa: F401  (registers the detectors)

    for page in sorted(T.glob("*.html")):
        hit = blocking.detect(_response("https://tieba.baidu.com/p/1", page.read_bytes()), ["tieba"])
        assert (hit is not None) == (page.name == "blocked_anquan.html"), page.name
    captcha = _response("http://127.0.0.1:1/static/captcha/tuxing.html?ak=1", b"<html></html>",
                        meta={"original_url": "https://wappass.baidu.com/static/captcha/tuxing.html?ak=1"})
    assert blocking.detect(captcha, ["tieba"]).signal == "tieba_captcha_redirect"
    assert blocking.detect(_response("https://tieba.baidu.com/f", b"blocked"), ["tieba"]).signal == "tieba_empty_body"
