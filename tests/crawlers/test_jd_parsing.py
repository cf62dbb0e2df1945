"""JD comment JSONP parser (crawlers/parsing/jd.py)."""

from __future__ import annotations

import pytest
from crawl_testkit import PAGES

from core.errors import InvalidInput
from core.mention import Mention
from crawlers.parsing import jd
from crawlers.spiders.jd import decode_body

J = PAGES / "jd"


def test_saved_page_is_gbk_jsonp():
    raw = (J / "comments_100012043978_page0.jsonp").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    page = jd.parse_comments(decode_body(raw), "100012043978")
    assert page.max_page == 2 and len(page.mentions) == 3
    for m in page.mentions:
        Mention.model_validate(m)  # including the empty-text, rated review


@pytest.mark.parametrize("text", [
    'fetchJSON_comment98({"maxPage":1,"comments":[]});',
    'fetchJSON_comment98({"maxPage":1,"comments":[]})',
    '  jQuery123_456({"maxPage":1,"comments":[]});\n',
    '{"maxPage":1,"comments":[]}',
])
def test_jsonp_wrappers(text):
    assert jd.unwrap_jsonp(text) == {"maxPage": 1, "comments": []}


def test_not_json_is_invalid_input():
    with pytest.raises(InvalidInput):
        jd.unwrap_jsonp("<html>error</html>")
    with pytest.raises(InvalidInput):
        jd.parse_comments('fetchJSON_comment98({"maxPage":1});', "1")


def test_scores_and_placeholders():
    body = ('{"maxPage":1,"comments":['
            '{"id":1,"content":"此用户未填写评价内容","creationTime":"2024-01-01 00:00:00","score":0},'
            '{"id":2,"content":"此用户未填写评价内容","creationTime":"2024-01-01 00:00:00","score":3},'
            '{"id":3,"content":"好","creationTime":"2024-01-01 00:00:00","score":9},'
            '{"id":4,"content":"好","creationTime":"yesterday-ish","score":5},'
            '{"content":"no id"}]}')
    page = jd.parse_comments(body, "1")
    assert [(m["id"], m["text"], m["metrics"]["rating"]) for m in page.mentions] == [("jd:2", "", 3.0), ("jd:3", "好", None)]
    assert len(page.problems) == 3  # no text and no rating; a bad date; no id


def test_block_detectors_fire_on_blocks_only():
    from scrapy.http import Request, TextResponse

    from crawlers import blocking
    from crawlers.spiders import jd as jd_spider  # noqa: F401  (registers the detectors)

    url = "https://club.jd.com/comment/productPageComments.action?page=0"
    for page in sorted(J.glob("comments_*.jsonp")):  # including a product with no reviews at all
        assert blocking.detect(TextResponse(url, body=page.read_bytes()), ["jd"]) is None
    for body in (b"{}", b"fetchJSON_comment98({});"):
        assert blocking.detect(TextResponse(url, body=body), ["jd"]).signal == "jd_empty_json"
    login = TextResponse("http://127.0.0.1:1/new/login.aspx", body=b"<html/>",
                         request=Request(url, meta={"original_url": "https://passport.jd.com/new/login.aspx"}))
    assert blocking.detect(login, ["jd"]).signal == "jd_login_redirect"
