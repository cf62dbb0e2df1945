"""Every documented Weibo block signal ends a real crawl `blocked`; transient blocks recover."""

from __future__ import annotations

import pytest
from crawl_testkit import PAGES

from crawlers import blocking

W = PAGES / "weibo"
JSON = "application/json; charset=utf-8"
SEARCH = "/api/container/getIndex"


def _home(server):
    server.add("/", body=W / "home.html")


@pytest.mark.parametrize(("signal", "route"), [
    ("weibo_http_432", {"status": 432, "body": W / "block_432.html", "content_type": "text/html"}),
    ("weibo_captcha", {"body": W / "captcha.json", "content_type": JSON}),
    ("http_418", {"status": 418, "body": "I'm a teapot"}),
    ("weibo_login_redirect", {"redirect": "https://passport.weibo.com/visitor/visitor?entry=miniblog&a=enter"}),
])
def test_persistent_block_ends_the_crawl_blocked(replay_server, run_crawl, signal, route):
    _home(replay_server)
    replay_server.add(SEARCH, **route)
    replay_server.add("/visitor/visitor", body=W / "visitor.html")
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"BLOCK_RETRY_TIMES": "2"})
    assert run.finish_reason == "blocked", run.log[-2000:]
    assert run.stats[f"blocked/{signal}"] == 1
    assert run.stats["opmon/outcome"] == "blocked"
    assert run.stats[f"blocked_responses/{signal}"] == 3  # first try + 2 retries
    assert replay_server.hits(SEARCH) == 3
    assert replay_server.hits("/visitor/visitor") == 0  # a login redirect is caught before it is followed
    assert run.items == []
    # the operator sees it in the CLI output alone
    assert f"CRAWL BLOCKED: signal={signal}" in run.log
    assert "Spider closed (blocked)" in run.log
    assert run.returncode == 3  # ...and in the exit status (crawlers/commands/crawl.py)
    assert f"outcome=blocked signal={signal}" in run.log


def test_error_page_on_detail_ends_blocked(replay_server, run_crawl):
    _home(replay_server)
    replay_server.add(SEARCH, query={"page": "1"}, body=W / "search_p1.json", content_type=JSON)
    replay_server.add(SEARCH, body=W / "search_empty.json", content_type=JSON)
    replay_server.add("/detail/5100000000000002", body=W / "error_page.html")
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"BLOCK_RETRY_TIMES": "1"})
    assert run.finish_reason == "blocked"
    assert run.stats["blocked/weibo_error_page"] == 1
    assert "出错了" in run.log


def test_transient_block_is_retried_and_recovers(replay_server, run_crawl):
    _home(replay_server)
    replay_server.add(SEARCH, query={"page": "1"}, status=432, body=W / "block_432.html", times=2)
    replay_server.add(SEARCH, query={"page": "1"}, body=W / "search_p2.json", content_type=JSON)
    replay_server.add(SEARCH, body=W / "search_empty.json", content_type=JSON)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"BLOCK_RETRY_TIMES": "3"})
    assert run.finish_reason == "finished", run.log[-2000:]
    assert run.returncode == 0
    assert run.stats["blocked_responses/weibo_http_432"] == 2
    assert not any(k.startswith("blocked/") for k in run.stats)
    assert len(run.items) == 4


class _Resp:
    def __init__(self, status=200, body=b"", url="https://m.weibo.cn/api/container/getIndex", headers=None):
        self.status, self.body, self.url, self.headers = status, body, url, headers or {}
        self.request = None


def test_registry_detectors_and_generic_signals():
    assert blocking.detect(_Resp(body=b'{"ok":1,"data":{"cards":[]}}'), ["weibo"]) is None
    assert blocking.detect(_Resp(body='{"ok":0,"msg":"这里还没有内容"}'.encode()), ["weibo"]) is None
    hit = blocking.detect(_Resp(status=429), ["tieba"])
    assert hit is not None and hit.signal == "http_429"
    # a site's detectors only run for spiders that declare the site
    assert blocking.detect(_Resp(status=432), ["tieba"]) is None


def test_registering_a_new_site_detector():
    @blocking.block_detector("testsite", "captcha", "test captcha page")
    def _det(response):
        return b"captcha" in response.body and "captcha page seen"

    hit = blocking.detect(_Resp(body=b"<html>captcha</html>"), ["testsite"])
    assert hit is not None and hit.signal == "testsite_captcha" and hit.detail == "captcha page seen"
    with pytest.raises(ValueError):
        blocking.register("Bad Site", "x", _det)


def test_a_broken_detector_is_not_a_block():
    @blocking.block_detector("brokensite", "boom")
    def _boom(response):
        raise RuntimeError("bug")

    assert blocking.detect(_Resp(), ["brokensite"]) is None


def test_redirect_loop_is_a_block_not_a_silent_drop(replay_server, run_crawl):
    _home(replay_server)
    replay_server.add(SEARCH, redirect="/api/container/getIndex?loop=1")
    replay_server.add(SEARCH, query={"loop": "1"}, redirect="/api/container/getIndex?loop=2")
    replay_server.add(SEARCH, query={"loop": "2"}, redirect="/api/container/getIndex?loop=1")
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"BLOCK_RETRY_TIMES": "1"})
    assert run.finish_reason == "blocked", run.log[-2000:]
    assert run.stats["blocked/redirect_loop"] == 1



def test_a_crawl_that_cannot_start_says_why_in_one_line(run_crawl):
    # A missing argument is the operator's to fix: one ERROR line and exit status 1, not asyncio's
    # "Task exception was never retrieved" with a traceback (crawlers/commands/crawl.py).
    run = run_crawl("weibo", {})
    assert run.returncode == 1
    assert "ERROR: the crawl could not start: weibo: -a keyword=K is required" in run.log
    assert "never retrieved" not in run.log and "Traceback" not in run.log
