"""The config-driven `site` spider: the shipped configs crawled against saved pages, and bad configs."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from crawl_testkit import PAGES, REPO

from core.errors import ConfigError
from crawlers.sites_config import load_site_config

S = PAGES / "sites"
PHPBB = str(REPO / "sites" / "phpbb_board.yaml")
GBK_REVIEWS = str(REPO / "sites" / "phone_reviews_gbk.yaml")


def serve_phpbb(server) -> None:
    p = S / "phpbb"
    server.add("/viewforum.php", query={"f": "12", "start": "0"}, body=p / "viewforum_f12_start0.html")
    server.add("/viewforum.php", query={"f": "12", "start": "25"}, body=p / "viewforum_f12_start25.html")
    server.add("/viewtopic.php", query={"t": "4321", "start": "10"}, body=p / "viewtopic_t4321_start10.html")
    for t in ("4321", "4322", "4100"):
        server.add("/viewtopic.php", query={"t": t}, body=p / f"viewtopic_t{t}.html")


def test_phpbb_config_threads_posts_and_comments(replay_server, run_crawl):
    serve_phpbb(replay_server)
    run = run_crawl("site", {"config": PHPBB, "base_url": replay_server.url})
    assert run.returncode == 0, run.log[-3000:]
    assert run.finish_reason == "finished"
    items = run.by_id()
    assert set(items) == {f"router_community:{p}" for p in (1001, 1002, 1003, 1010, 900)}
    post = items["router_community:1001"]
    assert post["source"] == "router_community" and post["kind"] == "post"
    assert post["title"] == "Router drops Wi-Fi every night at 2am"
    assert post["text"] == ("Every night around 2am the Wi-Fi drops for ~5 minutes.\n"
                            "Support told me to factory reset, which did nothing.")  # no signature
    assert post["published_at"] == "2025-01-02T18:00:00+08:00"  # ISO UTC -> Shanghai
    assert post["author"]["id"] == "55" and post["author"]["name"] == "alice"
    assert post["url"] == "https://community.example-router.com/viewtopic.php?p=1001#p1001"
    reply = items["router_community:1002"]
    assert reply["kind"] == "comment" and reply["parent_id"] == "router_community:1001"
    assert reply["text"] == "That is the scheduled auto-update check. Turn it off under System > Updates."
    later = items["router_community:1003"]  # second page of the topic: still a comment on 1001
    assert later["parent_id"] == "router_community:1001"
    s = run.stats
    assert s["site/list_pages"] == 2 and s["site/detail_pages"] == 4
    assert s["site/stop_reason"] == "no next link on list page 2"
    assert replay_server.hits("/viewforum.php", start="50") == 0


def test_phpbb_since_skips_old_topics_by_their_last_post(replay_server, run_crawl):
    serve_phpbb(replay_server)
    run = run_crawl("site", {"config": PHPBB, "since": "2025-01-01", "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    assert "router_community:900" not in run.by_id() and "router_community:1003" in run.by_id()
    assert replay_server.hits("/viewtopic.php", t="4100") == 0
    assert run.stats["site/old_threads_skipped"] == 1
    assert run.stats["site/stop_reason"] == "list page 2 is older than 2025-01-01 00:00"


def test_gbk_review_config_paging_ratings_and_block_rule(replay_server, run_crawl):
    g = S / "gbk_reviews"
    for n in (1, 2, 3):
        replay_server.add(f"/product/2061234/reviews_{n}.html", body=g / f"reviews_{n}.html",
                          content_type="text/html")  # no charset in the header, gb2312 in <meta>
    run = run_crawl("site", {"config": GBK_REVIEWS, "base_url": replay_server.url})
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert len(items) == 5
    bad = items["phone_reviews:880002"]
    assert bad["kind"] == "review" and bad["metrics"]["rating"] == 2.0 and bad["metrics"]["likes"] == 41
    assert bad["text"] == "缺点：寄修两周，客服态度冷淡，螢幕還有划痕" and bad["author"]["name"] == "數碼迷"
    assert bad["published_at"] == "2024-07-30T09:05:00+08:00" and bad["location"] == "香港"
    assert bad["url"] == "https://kb.example-phones.cn/review/880002.html"
    stars_only = items["phone_reviews:880003"]
    assert stars_only["text"] == "" and stars_only["metrics"]["rating"] == 5.0
    assert run.stats["site/stop_reason"] == "nothing on list page 3"
    assert "site/malformed_pages" not in run.stats

    # the config's own block rule: "您的访问过于频繁" (GBK) ends the crawl blocked
    replay_server.routes.clear()
    replay_server.add("/product/2061234/reviews_1.html", body=g / "busy.html", content_type="text/html; charset=gbk")
    blocked = run_crawl("site", {"config": GBK_REVIEWS, "base_url": replay_server.url})
    assert blocked.finish_reason == "blocked", blocked.log[-3000:]
    assert blocked.stats["blocked/cfg_phone_reviews_too_frequent"] == 1


def write(tmp_path, body: str):
    path = tmp_path / "x.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


GOOD = """\
name: demo
base_url: https://demo.example.com
list: {url: "/list?page={page}"}
items:
  selector: div.item
  fields: {id: "::attr(data-id)", text: p.body, published_at: span.time::text}
"""


def test_shipped_configs_are_valid():
    for path in sorted((REPO / "sites").glob("*.yaml")):
        cfg = load_site_config(path)
        assert cfg.mention_source == cfg.source or cfg.name


@pytest.mark.parametrize(("change", "message"), [
    (("published_at: span.time::text", ""), "items.fields.published_at: field required"),
    (("p.body", "p..body"), "items.fields.text: invalid CSS selector 'p..body'"),
    (("selector: div.item", "selector: div.item\n  kindd: review"), "items.kindd: unknown field (typo?)"),
    (('url: "/list?page={page}"', 'url: "/list"'), "list: url needs {page} or {offset}"),
    (("name: demo", "name: jd"), "source 'jd' belongs to a built-in spider"),
    (("base_url: https://demo.example.com", "base_url: demo.example.com"), "base_url: 'demo.example.com' must look like"),
    (("name: demo", "name: demo\nencoding: gbkk"), "encoding: unknown encoding 'gbkk'"),
    (("selector: div.item", "selector: div.item\n  date_format: YYYY-MM-DD"), "items.date_format: 'YYYY-MM-DD' is not a strptime"),
])
def test_bad_config_names_the_field(tmp_path, change, message):
    old, new = change
    body = GOOD.replace(old, new) if new or old.startswith("published_at") is False else GOOD.replace(", " + old, "")
    with pytest.raises(ConfigError) as err:
        load_site_config(write(tmp_path, body))
    assert message in str(err.value) and "x.yaml" in str(err.value)


def test_bad_config_stops_the_crawl_with_the_field_named(tmp_path, run_crawl):
    path = write(tmp_path, GOOD.replace("p.body", "p..body"))
    run = run_crawl("site", {"config": str(path)})
    assert run.returncode != 0 and run.items == []
    assert "items.fields.text: invalid CSS selector" in run.log


def test_missing_config_file_or_argument():
    from crawlers.spiders.site import SiteSpider

    with pytest.raises(ConfigError, match="-a config=sites/NAME.yaml is required"):
        SiteSpider()
    with pytest.raises(ConfigError, match="cannot read site config .*nope.yaml"):
        SiteSpider(config="sites/nope.yaml")


JS_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>reviews</title></head><body>
<div id="app">loading…</div>
<script>
  var data = [{"id": 71, "user": "王女士", "text": "门店服务很好，耐心讲解", "t": "2024-09-01 10:00", "score": 9},
              {"id": 72, "user": "张先生", "text": "等了一个小时才轮到", "t": "2024-09-02 11:00", "score": 4}];
  document.getElementById('app').innerHTML = data.map(function (r) {
    return '<div class="rv" data-id="' + r.id + '"><b class="u">' + r.user + '</b><p>' + r.text +
           '</p><time>' + r.t + '</time><i class="s">' + r.score + '</i></div>'; }).join('');
</script></body></html>"""


@pytest.mark.playwright
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium not installed")
def test_browser_rendered_site(tmp_path, replay_server, run_crawl):
    replay_server.add("/stores/reviews", body=JS_PAGE)
    path = write(tmp_path, """\
        name: js_reviews
        base_url: https://reviews.example.com
        browser: true
        wait_for: div.rv
        list: {url: "/stores/reviews?page={page}", pages: 1}
        items:
          selector: div.rv
          kind: review
          rating_scale: 10
          fields: {id: "::attr(data-id)", text: p, published_at: time::text, author_name: b.u::text, rating: i.s::text}
        """)
    run = run_crawl("site", {"config": str(path), "base_url": replay_server.url}, timeout=120)
    assert run.finish_reason == "finished", run.log[-3000:]
    items = run.by_id()
    assert items["js_reviews:71"]["text"] == "门店服务很好，耐心讲解" and items["js_reviews:71"]["metrics"]["rating"] == 4.5
    assert items["js_reviews:72"]["metrics"]["rating"] == 2.0 and items["js_reviews:72"]["author"]["name"] == "张先生"
    assert run.stats["site/browser_pages_closed"] == 1
