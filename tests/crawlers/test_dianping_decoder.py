"""Dianping de-obfuscation (crawlers/dianping_decoder.py) and review-page parsing."""

from __future__ import annotations

import lxml.html
from crawl_testkit import PAGES

from crawlers.dianping_decoder import (
    DecodeStats,
    FontMapDecoder,
    SvgSpriteDecoder,
    decode_element,
    decode_html,
    parse_css,
    parse_sprite,
)
from crawlers.parsing import dianping as dp

D = PAGES / "dianping"
CSS_URL = "https://s3plus.meituan.net/v1/mss_x/svgtextcss/a.css"

TEXT_SVG = """<?xml version="1.0" encoding="UTF-8"?><svg xmlns="http://www.w3.org/2000/svg">
<style>text {font-family:x;font-size:12px;fill:#333;}</style>
<text x="0 12 24" y="30">甲乙丙</text><text x="0 12 24" y="60">丁戊己</text></svg>"""
PATH_SVG = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
<style>text {font-size:14px}</style><defs><path id="1" d="M0 38 H600"/><path id="2" d="M0 78 H600"/></defs>
<text lengthAdjust="spacing"><textPath xlink:href="#1" textLength="28">天地</textPath></text>
<text lengthAdjust="spacing"><textPath xlink:href="#2" textLength="28">玄黄</textPath></text></svg>"""
CSS = """svgmtsi[class^="ab"]{width:12px;background-image: url(//s3plus.meituan.net/v1/mss_x/svgtextcss/t.svg);}
svgmtsi[class^="cd"]{width:14px;background-image:url('//s3plus.meituan.net/v1/mss_x/svgtextcss/p.svg');}
.ab1{background:-24.0px -45.0px;}
.ab2{background:-0.0px -7.0px;}
.cd1{background:-14.0px -60.0px;}
.cd2{background:-0px -20px;}"""


def decoder() -> SvgSpriteDecoder:
    css = parse_css(CSS, CSS_URL)
    return SvgSpriteDecoder(css, {css.prefixes["ab"]: parse_sprite(TEXT_SVG), css.prefixes["cd"]: parse_sprite(PATH_SVG)})


def test_css_offsets_and_sprite_prefixes():
    css = parse_css(CSS, CSS_URL)
    assert css.prefixes == {"ab": "https://s3plus.meituan.net/v1/mss_x/svgtextcss/t.svg",
                            "cd": "https://s3plus.meituan.net/v1/mss_x/svgtextcss/p.svg"}
    assert css.offsets["ab1"] == (-24.0, -45.0) and css.tags["cd"] == "svgmtsi"


def test_both_sprite_layouts_and_row_choice():
    sprite = parse_sprite(TEXT_SVG)
    assert sprite.font_size == 12
    assert sprite.char_at(-24, -45) == "己"   # first row whose baseline y >= 45 is y=60
    assert sprite.char_at(0, -7) == "甲"
    assert sprite.char_at(0, -61) is None     # below every row
    path = parse_sprite(PATH_SVG)
    assert path.char_at(-14, -60) == "黄" and path.char_at(0, -20) == "天"


def test_decode_html_replaces_only_obfuscated_elements():
    html = '<div class="review-words">好<svgmtsi class="ab1"></svgmtsi>与<svgmtsi class="cd1"></svgmtsi><b>!</b></div>'
    stats = DecodeStats()
    out = decode_html(html, [decoder()], stats)
    assert lxml.html.fromstring(out).text_content() == "好己与黄!"
    assert (stats.decoded, stats.undecoded) == (2, 0)


def test_unknown_glyph_is_visible_and_counted():
    root = lxml.html.fromstring('<div>a<svgmtsi class="zz9"></svgmtsi>b<e>plain e</e></div>')
    stats = DecodeStats()
    decode_element(root, [decoder()], stats)
    assert root.text_content() == "a\ufffdbplain e" and stats.undecoded == 1


def test_woff_font_decoder_plugs_in_next_to_the_svg_one():
    html = '<div>地址：<e class="address">\ue101\ue102</e>路<svgmtsi class="ab2"></svgmtsi><d class="num">\ue200</d>号</div>'
    fonts = FontMapDecoder({"\ue101": "南", "\ue102": "京", "\ue200": "8"})
    out = decode_html(html, [decoder(), fonts])
    assert lxml.html.fromstring(out).text_content() == "地址：南京路甲8号"


def test_saved_page_decodes_fully():
    css = parse_css((D / "review_svgtextcss.css").read_text(encoding="utf-8"), CSS_URL)
    sprites = {url: parse_sprite((D / ("sprite_a.svg" if url.endswith("5e1b7f3c.svg") else "sprite_b.svg")).read_bytes())
               for url in css.prefixes.values()}
    html = (D / "review_all.html").read_text(encoding="utf-8")
    page = dp.parse_review_page(html, dp.review_url("H2noKWCDigM0H9c1"), "H2noKWCDigM0H9c1",
                                [SvgSpriteDecoder(css, sprites)])
    assert page.decode.undecoded == 0
    assert [m["text"] for m in page.mentions][0] == "服务很热情，排队一个小时，毛肚新鲜，就是有点贵。"
    assert page.sub_scores["1234567890"] == {"口味": "4.5", "环境": "4", "服务": "5", "人均": "88元"}
    assert page.next_url == "https://www.dianping.com/shop/H2noKWCDigM0H9c1/review_all/p2"
    assert dp.stylesheet_urls(html, "https://www.dianping.com/shop/x/review_all") == [
        "https://s3plus.meituan.net/v1/mss_0a06a471f9514fc79c981b5466f56b91/svgtextcss/8c4f0e2a9b3d.css"]


def test_stars():
    assert dp.stars_to_rating("sml-rank-stars sml-str45 star") == 4.5
    assert dp.stars_to_rating("sml-rank-stars sml-str0") is None
    assert dp.stars_to_rating("") is None


def test_block_detectors_fire_on_blocks_only():
    from scrapy.http import HtmlResponse, Request

    from crawlers import blocking
    from crawlers.spiders import dianping  # noqa: F401  (registers the detectors)

    url = "https://www.dianping.com/shop/H2noKWCDigM0H9c1/review_all"
    for name in ("review_all.html", "review_all_p2.html"):
        assert blocking.detect(HtmlResponse(url, body=(D / name).read_bytes()), ["dianping"]) is None
    css = HtmlResponse(CSS_URL, body=(D / "review_svgtextcss.css").read_bytes())
    assert blocking.detect(css, ["dianping"]) is None  # no "svgtextcss" check outside review pages
    nocss = HtmlResponse(url, body=(D / "review_all_nocss.html").read_bytes())
    assert blocking.detect(nocss, ["dianping"]).signal == "dianping_cookie_dead"
    verify = "https://verify.meituan.com/v2/web/general_page?action=spiderindefence&requestCode=1"
    redirected = HtmlResponse(verify, body=b"<html/>", request=Request(verify, meta={"redirect_urls": [url]}))
    assert blocking.detect(redirected, ["dianping"]).signal == "dianping_verify"
    assert blocking.detect(HtmlResponse(url, status=403, body=b""), ["dianping"]).signal == "dianping_http_403"


def test_per_load_font_matched_by_glyph_outline():
    import json

    from crawlers.dianping_decoder import GlyphMatcher, parse_font_css

    fonts = parse_font_css((D / "review_font.css").read_text(encoding="utf-8"), CSS_URL)
    woff = "https://s3plus.meituan.net/v1/mss_73a511b8f91f43d0bdae92584ea6330b/font/7d3c9e1a.woff"
    assert fonts == {"review": woff, "address": woff, "num": woff}  # the .woff, not the .eot
    matcher = GlyphMatcher.from_dir(D / "font_reference")
    mapping = matcher.font_map((D / "font_review_p2.woff").read_bytes())
    truth = {chr(int(k, 16)): v for k, v in json.loads((D / "font_load_map.json").read_text(encoding="utf-8")).items()}
    assert mapping == truth and len(mapping) == 14  # different code points, same outlines
    html = (D / "review_all_p2.html").read_text(encoding="utf-8")
    page = dp.parse_review_page(html, dp.review_url("H2noKWCDigM0H9c1", 2), "H2noKWCDigM0H9c1",
                                [FontMapDecoder(mapping, fonts)])
    assert page.mentions[0]["text"] == "味道一般，性价比不高。店在南京路8号。" and page.decode.undecoded == 0
    # without the font's map the glyphs are visible as U+FFFD and counted, never silently dropped
    bare = dp.parse_review_page(html, dp.review_url("H2noKWCDigM0H9c1", 2), "H2noKWCDigM0H9c1", [])
    assert bare.decode.undecoded == 14 and bare.mentions[0]["text"].count("\ufffd") == 14


def test_broken_font_and_reference_are_clear_errors(tmp_path):
    import pytest

    from crawlers.dianping_decoder import DecodeError, GlyphMatcher, glyph_shapes

    with pytest.raises(DecodeError, match="cannot read font"):
        glyph_shapes(b"not a font")
    with pytest.raises(DecodeError, match="needs reference.woff and reference.json"):
        GlyphMatcher.from_dir(tmp_path)
