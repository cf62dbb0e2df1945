"""HTML post bodies to plain text: emoticons, @nick, #topic#, 全文/展开 links, <br>, icon glyphs."""

from __future__ import annotations

import json

from crawl_testkit import PAGES
from parsel import Selector

from crawlers.parsing.text import element_to_text, html_to_text


def test_m_weibo_text():
    html = ("买了<a href='/n/小米客服'>@小米客服</a> 的<span class=\"url-icon\"><img alt=[doge] "
            "src=\"//h5.sinaimg.cn/m/emoticon/icon/others/d_doge.png\" style=\"width:1em; height:1em;\" /></span>"
            "<br />第二行<a href=\"https://m.weibo.cn/search?containerid=231522\" data-hide=\"\">"
            "<span class=\"surl-text\">#小米15#</span></a> 不错...<a href=\"/status/4900000000000000\">全文</a>")
    assert html_to_text(html) == "买了@小米客服 的[doge]\n第二行#小米15# 不错..."


def test_location_link_keeps_the_place_and_drops_the_icon():
    html = ("打卡<a href=\"http://weibo.com/p/1001\"><span class='url-icon'><img style='width: 1rem' "
            "src='https://h5.sinaimg.cn/upload/timeline_card_small_location_default.png'></span>"
            "<span class=\"surl-text\">上海·外滩</span></a>")
    assert html_to_text(html) == "打卡上海·外滩"


def test_s_weibo_unfold_fold_and_icon_glyphs():
    sel = Selector(text=(
        '<p class="txt" node-type="feed_list_content_full">\u200b\u200b开头 <a href="//weibo.com/p/1">'
        '<i class="wbicon">2</i>北京</a> 看<a href="http://t.cn/x"><i class="wbicon">O</i>文章</a>\ue627'
        '<a href="javascript:void(0);" action-type="fl_fold">收起全文<i class="wbicon">d</i></a></p>'))
    assert element_to_text(sel.css("p")[0]) == "开头 北京 看文章"
    sel = Selector(text='<p class="txt">短文...<a action-type="fl_unfold" href="#">展开<i class="wbicon">c</i></a></p>')
    assert element_to_text(sel.css("p")[0]) == "短文..."


def test_entities_whitespace_and_plain_text():
    assert html_to_text("a &amp; b&nbsp;&nbsp;c") == "a & b c"
    assert html_to_text("  纯文本\u200b  ") == "纯文本"
    assert html_to_text("<p>一</p><p>二</p><script>var x=1</script>") == "一\n\n二"
    assert html_to_text(None) == "" and html_to_text("") == ""
    assert html_to_text("<div>unclosed <b>bold") == "unclosed bold"


def _fixture_texts():
    texts = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "text" and isinstance(v, str):
                    texts.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in (PAGES / "weibo").glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return texts


def test_fast_path_agrees_with_the_lxml_reference():
    from crawlers.parsing.text import _fast_html_to_text, _lxml_html_to_text

    samples = _fixture_texts() + [
        "a<br>b<br/>c<br />d", "<a href='/n/x'>@x</a>:<a href=\"/status/1\">全文</a>",
        "<img alt=\"[笑cry]\" src=x>ok<img src=y>", "&lt;tag&gt; &amp;&#x4e2d;",
        "<a action-type=\"fl_unfold\">展开<i class=\"wbicon\">c</i></a>尾", "<span>一</span><p>二</p>三",
    ]
    assert len(samples) > 15
    for s in samples:
        assert _fast_html_to_text(s) == _lxml_html_to_text(s), s
