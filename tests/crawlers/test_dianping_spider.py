"""The `dianping` spider, crawled for real through Chromium (scrapy-playwright) against saved pages.

The pages' review text is obfuscated with <svgmtsi> elements; the CSS and both SVG sprite layouts
are served by the replay server and fetched by the spider over plain HTTP.
"""

from __future__ import annotations

import shutil

import pytest
from crawl_testkit import PAGES

D = PAGES / "dianping"
PATHS = dict(line.split(" ", 1) for line in (D / "paths.txt").read_text(encoding="utf-8").splitlines())
SHOP = PATHS["shop"]

pytestmark = [
    pytest.mark.playwright,
    pytest.mark.skipif(not shutil.which("chromium") and not shutil.which("/usr/bin/chromium"),
                       reason="Debian chromium not installed (apt-get install -y chromium)"),
]


def serve_shop(server) -> None:
    server.add(f"/shop/{SHOP}/review_all", body=D / "review_all.html")
    server.add(f"/shop/{SHOP}/review_all/p2", body=D / "review_all_p2.html")
    server.add(PATHS["css"], body=D / "review_svgtextcss.css", content_type="text/css")
    server.add(PATHS["svg_a"], body=D / "sprite_a.svg", content_type="image/svg+xml")
    server.add(PATHS["svg_b"], body=D / "sprite_b.svg", content_type="image/svg+xml")
    server.add(PATHS["font_css"], body=D / "review_font.css", content_type="text/css")
    server.add(PATHS["font"], body=D / "font_review_p2.woff", content_type="font/woff")


def test_reviews_decoded_through_chromium(replay_server, run_crawl):
    serve_shop(replay_server)
    run = run_crawl("dianping", {"shop_id": SHOP, "base_url": replay_server.url},
                    env={"OPMON_DIANPING_FONT_REFERENCE": str(D / "font_reference")}, timeout=120)
    assert run.returncode == 0, run.log[-3000:]
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert set(items) == {f"dianping:123456789{n}" for n in range(4)}
    a = items["dianping:1234567890"]
    # every obfuscated character decoded through the CSS offsets into the right sprite
    assert a["text"] == "服务很热情，排队一个小时，毛肚新鲜，就是有点贵。"
    assert items["dianping:1234567891"]["text"] == "上菜太慢了，等了四十分钟，服务员态度也不好。"
    assert items["dianping:1234567892"]["text"] == "环境干净，推荐！锅底辣度适中，下次还来"  # textPath sprite
    # page 2 uses a per-load WOFF font instead (review, address and num classes), matched by outline
    assert items["dianping:1234567893"]["text"] == "味道一般，性价比不高。店在南京路8号。"
    assert a["metrics"] == {"likes": 12, "reposts": None, "comments": 3, "rating": 4.0}
    assert items["dianping:1234567893"]["metrics"]["rating"] == 3.5
    assert a["author"]["id"] == "98765001" and a["author"]["name"] == "吃货小王"
    assert a["published_at"] == "2024-05-01T12:30:00+08:00"
    assert items["dianping:1234567891"]["published_at"] == "2024-04-28T19:02:00+08:00"  # not the 更新于 date
    assert a["url"] == "https://www.dianping.com/review/1234567890" and a["title"] == "海底捞火锅(五角场店)"
    assert [(x["touchpoint"], x["sentiment"]) for x in items["dianping:1234567891"]["aspects"]] == [
        ("口味", "neutral"), ("环境", "neutral"), ("服务", "negative")]
    s = run.stats
    assert s["dianping/review_pages"] == 2 and s["dianping/stop_reason"] == "last page (2)"
    assert "dianping/undecoded_chars" not in s and s["dianping/decoded_chars"] > 50
    assert s["dianping/pages_opened"] == s["dianping/pages_closed"] == 2
    # CSS and sprites fetched once each, over plain HTTP (no browser UA hint needed); no /p1 ever
    assert replay_server.hits(PATHS["css"]) == 1 and replay_server.hits(PATHS["svg_a"]) == 1
    assert replay_server.hits(f"/shop/{SHOP}/review_all/p1") == 0
    # in the browser, every image and stylesheet was aborted; only the two documents got answers
    assert s["playwright/request_count/resource_type/image"] >= 5
    assert s["playwright/request_count/aborted"] == (s["playwright/request_count/resource_type/image"]
                                                     + s["playwright/request_count/resource_type/stylesheet"])
    assert s["playwright/response_count"] == 2


def test_verify_redirect_ends_blocked_and_closes_pages(replay_server, run_crawl):
    replay_server.add(f"/shop/{SHOP}/review_all",
                      redirect="/v2/web/general_page?action=spiderindefence&requestCode=3c2f9a&platform=1000"
                               "&adaptor=auto&succCallbackUrl=https%3A%2F%2Foptimus-mtsi.meituan.com")
    replay_server.add("/v2/web/general_page", body=D / "verify.html")
    run = run_crawl("dianping", {"shop_id": SHOP, "base_url": replay_server.url},
                    settings={"BLOCK_RETRY_TIMES": "1"}, timeout=120)
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/dianping_verify"] == 1 and run.items == []
    assert run.stats["dianping/pages_opened"] == run.stats["dianping/pages_closed"] == 1
    assert "dianping/page_errors" in run.stats


def test_page_without_svgtextcss_means_cookie_dead(replay_server, run_crawl):
    replay_server.add(f"/shop/{SHOP}/review_all", body=D / "review_all_nocss.html")
    run = run_crawl("dianping", {"shop_id": SHOP, "base_url": replay_server.url},
                    settings={"BLOCK_RETRY_TIMES": "0"}, timeout=120)
    assert run.finish_reason == "blocked", run.log[-3000:]
    assert run.stats["blocked/dianping_cookie_dead"] == 1
    assert run.stats["dianping/pages_opened"] == run.stats["dianping/pages_closed"] == 1
