"""Small pure parts of the middlewares: URL rewriting, cookie files, proxy lists."""

from __future__ import annotations

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings

from core.errors import ConfigError
from crawlers.middlewares.base_url import normalise_base_url, rewrite_url
from crawlers.middlewares.cookies import load_site_cookies, parse_cookie_text
from crawlers.middlewares.proxies import read_proxy_list


def test_rewrite_keeps_path_and_query():
    base = normalise_base_url("http://127.0.0.1:8080/")
    url = "https://m.weibo.cn/api/container/getIndex?containerid=100103type%3D1%26q%3D%E5%B0%8F&page=2"
    assert rewrite_url(url, base) == ("http://127.0.0.1:8080/api/container/getIndex?"
                                      "containerid=100103type%3D1%26q%3D%E5%B0%8F&page=2")
    assert rewrite_url("https://s.weibo.com/weibo?q=x", "http://mirror:1/prefix") == "http://mirror:1/prefix/weibo?q=x"
    assert rewrite_url(rewrite_url(url, base), base) == rewrite_url(url, base)  # idempotent
    assert rewrite_url("data:text/html,hi", base) == "data:text/html,hi"
    assert rewrite_url(url, None) == url
    with pytest.raises(NotConfigured):
        normalise_base_url("localhost:8080")


def test_cookie_formats(tmp_path):
    assert parse_cookie_text("SUB=abc; SUBP=def;  _T_WM=1") == {"SUB": "abc", "SUBP": "def", "_T_WM": "1"}
    assert parse_cookie_text('{"SUB": "abc"}') == {"SUB": "abc"}
    assert parse_cookie_text('[{"name": "SUB", "value": "abc", "domain": ".weibo.cn"}]') == {"SUB": "abc"}
    netscape = "# Netscape HTTP Cookie File\n.weibo.cn\tTRUE\t/\tTRUE\t1999999999\tSUB\tabc\n"
    assert parse_cookie_text(netscape) == {"SUB": "abc"}
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_cookie_text("{broken")


def test_cookie_sources_in_order(tmp_path, monkeypatch):
    f = tmp_path / "c.txt"
    f.write_text("SUB=from-file", encoding="utf-8")
    monkeypatch.setenv("OPMON_COOKIE_FILE_TIEBA", str(f))
    assert load_site_cookies("tieba") == ({"SUB": "from-file"}, f"OPMON_COOKIE_FILE_TIEBA={f}")
    monkeypatch.setenv("OPMON_COOKIE_TIEBA", "BDUSS=env")
    assert load_site_cookies("tieba")[0] == {"BDUSS": "env"}
    assert load_site_cookies("tieba", Settings({"OPMON_COOKIE_TIEBA": "BDUSS=setting"}))[0] == {"BDUSS": "setting"}
    monkeypatch.delenv("OPMON_COOKIE_TIEBA")
    monkeypatch.setenv("OPMON_COOKIE_FILE_TIEBA", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot read cookie file"):
        load_site_cookies("tieba")
    assert load_site_cookies("jd") == ({}, None)


def test_proxy_list_sources(tmp_path, monkeypatch):
    f = tmp_path / "proxies.txt"
    f.write_text("# office\n10.0.0.1:3128\nhttp://u:p@10.0.0.2:8080\n\n", encoding="utf-8")
    assert read_proxy_list(Settings({"OPMON_PROXIES": "h1:1, http://h2:2", "OPMON_PROXY_FILE": str(f)})) == [
        "http://h1:1", "http://h2:2", "http://10.0.0.1:3128", "http://u:p@10.0.0.2:8080"]
    monkeypatch.delenv("OPMON_PROXIES", raising=False)
    assert read_proxy_list(Settings()) == []


def test_site_cookies_go_only_to_the_sites_own_domains():
    from scrapy import Request
    from scrapy.utils.test import get_crawler

    from crawlers.middlewares.cookies import SiteCookiesMiddleware
    from crawlers.spiders.dianping import DianpingSpider

    crawler = get_crawler(DianpingSpider, {"OPMON_COOKIE_DIANPING": "_lxsdk=abc; dper=secret"})
    crawler.spider = DianpingSpider.from_crawler(crawler, shop_id="H2noKWCDigM0H9c1")
    mw = SiteCookiesMiddleware.from_crawler(crawler)

    page = Request("https://www.dianping.com/shop/H2noKWCDigM0H9c1/review_all")
    cdn = Request("https://s3plus.meituan.net/v1/mss_0a06/svgtextcss/abc.css")
    mirrored_cdn = Request("http://127.0.0.1:9/v1/x.css", meta={"original_url": cdn.url})
    for req in (page, cdn, mirrored_cdn):
        mw.process_request(req)
    assert b"dper=secret" in page.headers.get(b"Cookie")
    assert b"Cookie" not in cdn.headers
    assert b"Cookie" not in mirrored_cdn.headers
