"""The `jd` spider, crawled for real against saved GBK JSONP comment pages."""

from __future__ import annotations

from crawl_testkit import PAGES

J = PAGES / "jd"
PATH = "/comment/productPageComments.action"
GBK_JS = "text/html;charset=GBK"


def serve(server, product: str, pages: int) -> None:
    for n in range(pages):
        server.add(PATH, query={"productId": product, "page": str(n)}, body=J / f"comments_{product}_page{n}.jsonp",
                   content_type=GBK_JS)


def test_reviews_ratings_placeholder_and_maxpage(replay_server, run_crawl):
    serve(replay_server, "100012043978", 2)
    run = run_crawl("jd", {"product_id": "100012043978", "base_url": replay_server.url})
    assert run.returncode == 0, run.log[-3000:]
    assert run.finish_reason == "finished"
    items = run.by_id()
    assert set(items) == {f"jd:13303226{n}" for n in (25, 26, 27, 28, 29)}
    a = items["jd:1330322625"]
    assert a["kind"] == "review" and a["text"] == "物流很快，第二天就到了。屏幕显示效果很好……拍照也清晰！"
    assert a["metrics"] == {"likes": 12, "reposts": None, "comments": 1, "rating": 5.0}
    assert a["published_at"] == "2024-08-01T12:43:52+08:00"
    assert a["author"]["name"] == "我***猪" and a["location"] == "广东"
    assert a["title"] == "小米14 徕卡光学镜头 12GB+256GB 曜石黑"
    assert a["url"] == "https://item.jd.com/100012043978.html#comment"
    stars_only = items["jd:1330322626"]  # 此用户未填写评价内容: not text, but the rating stays
    assert stars_only["text"] == "" and stars_only["metrics"]["rating"] == 4.0
    assert items["jd:1330322627"]["metrics"]["rating"] == 1.0 and items["jd:1330322627"]["location"] is None
    s = run.stats
    assert s["jd/stop_reason"] == "maxPage=2 reached" and s["jd/pages"] == 2 and s["jd/placeholder_texts"] == 1
    # the request is the documented one, 0-based pages, page 2 never asked for
    reqs = [r for r in replay_server.requests if r.path == PATH]
    assert [r.query["page"] for r in reqs] == ["0", "1"]
    assert reqs[0].query == {"callback": "fetchJSON_comment98", "productId": "100012043978", "score": "0",
                             "sortType": "5", "page": "0", "pageSize": "10", "isShadowSku": "0", "fold": "1"}


def test_pages_limit_and_no_reviews(replay_server, run_crawl):
    serve(replay_server, "100012043978", 2)
    serve(replay_server, "300000000001", 1)
    run = run_crawl("jd", {"product_id": "100012043978", "pages": "1", "base_url": replay_server.url})
    assert len(run.items) == 3 and run.stats["jd/stop_reason"] == "pages=1 reached", run.log[-3000:]
    empty = run_crawl("jd", {"product_id": "300000000001", "base_url": replay_server.url})
    assert empty.finish_reason == "finished" and empty.items == []
    assert empty.stats["opmon/outcome"] == "empty" and empty.stats["jd/stop_reason"] == "no reviews on page 0"


def test_403_ends_blocked(replay_server, run_crawl):
    replay_server.add(PATH, status=403, body=J / "blocked_403.html")
    run = run_crawl("jd", {"product_id": "100012043978", "base_url": replay_server.url})
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/jd_http_403"] == 1 and run.items == []


def test_empty_object_without_cookie_ends_blocked(replay_server, run_crawl):
    replay_server.add(PATH, body=J / "blocked_empty.json", content_type="application/json")
    run = run_crawl("jd", {"product_id": "100012043978", "base_url": replay_server.url})
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/jd_empty_json"] == 1
    assert "CRAWL BLOCKED: signal=jd_empty_json" in run.log


def test_incremental_rerun_stops_at_known_reviews(replay_server, run_crawl):
    serve(replay_server, "100012043978", 2)
    args = {"product_id": "100012043978", "sort_type": "6", "base_url": replay_server.url}
    first = run_crawl("jd", args)
    assert first.finish_reason == "finished" and len(first.items) == 5, first.log[-3000:]
    before = replay_server.hits(PATH, page="1")
    second = run_crawl("jd", args)  # same data dir: the store holds the first run's state
    assert second.finish_reason == "finished", second.log[-3000:]
    assert second.stats["jd/stop_reason"].startswith("page 0 is older than 2024-08-03 21:15")
    assert replay_server.hits(PATH, page="1") == before  # page 1 not fetched again
