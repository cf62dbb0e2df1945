"""`scrapy crawl tieba -a forum=NAME [-a pages=N]` or `scrapy crawl tieba -a keyword=K [-a pages=N]`

Baidu Tieba PC pages (site-formats §3.4):
- forum mode: the list `/f?kw={NAME}&ie=utf-8&pn={0,50,100,...}` (the thread list hides in an HTML
  comment inside `code.pagelet_html`), then every thread `/p/{tid}` and its `?pn=2...` pages. The
  first floor is the `post` (with the thread title); later floors are `comment`s whose `parent_id`
  is the first floor. Ids `tieba:{pid}`.
- keyword mode: the old search `/f/search/res?qw=K&...&sm=1` (newest first); each hit is one post
  with the abstract Baidu shows (use forum mode for whole threads).

Arguments: pages=N list/search pages (default 10), thread_pages=N pages per thread (default 20),
replies=1 to also fetch 楼中楼 (replies inside a floor, `/p/comment?tid=&pid=&fid=&pn=`: comments
whose parent is that floor; at most reply_pages=N pages per floor, default 5), plus the common
base_url, since, full. Paging stops at the last page, at `pages`, or when a whole list
page was last replied to before `since` / the previous crawl (sticky threads do not count).

Block signals: 403 `<title>百度安全验证</title>`, a redirect to the wappass captcha
(`wappass.baidu.com/static/captcha/tuxing.html`), an empty or `blocked` body.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

from scrapy import Request

from core.errors import ConfigError, InvalidInput
from crawlers.blocking import block_detector
from crawlers.parsing import tieba as tp
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.spiders.base import OpmonSpider, as_bool, as_int

logger = logging.getLogger(__name__)
_DAY_ONLY = re.compile(r"^\d{1,2}-\d{1,2}$")
_SECURITY_TITLE = re.compile("<title>\\s*百度安全验证\\s*</title>".encode(), re.I)


# ---- block signals (site-formats §2) ----------------------------------------------------------

def _original_url(response) -> str:
    request = getattr(response, "request", None)
    meta = request.meta if request is not None else {}
    return str(meta.get("original_url") or "")


@block_detector("tieba", "security_check", "403 with <title>百度安全验证</title>")
def tieba_security_check(response) -> str | None:
    if _SECURITY_TITLE.search(response.body[:8192]):
        return f"HTTP {response.status} 百度安全验证 page"
    return None


@block_detector("tieba", "captcha_redirect", "302 to wappass.baidu.com captcha (tuxing.html)")
def tieba_captcha_redirect(response) -> str | None:
    if 300 <= response.status < 400:
        target = (response.headers.get(b"Location") or b"").decode("latin-1")
        return f"redirect to {target}" if "wappass.baidu.com" in target or "/captcha/" in target else None
    for url in (response.url, _original_url(response)):
        parts = urlsplit(url)
        if parts.hostname == "wappass.baidu.com" or "/static/captcha/" in parts.path:
            return f"captcha page {url}"
    return None


@block_detector("tieba", "empty_body", 'HTTP 200 with an empty or "blocked" body')
def tieba_empty_body(response) -> str | None:
    if response.status == 200 and response.body.strip() in (b"", b'""', b"blocked"):
        return f"body {response.body.strip()[:10]!r}"
    return None


class TiebaSpider(OpmonSpider):
    name = "tieba"
    source = "tieba"
    block_sites = ("tieba",)
    cookie_site = "tieba"   # OPMON_COOKIE_TIEBA="BDUSS=...; STOKEN=..." (optional: guests can read)
    cookie_domains = ("baidu.com",)  # never send the site's cookies to CDNs or third parties
    default_pages = 10
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 2.0,
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "zh-CN,zh;q=0.9",
            "Referer": f"{tp.SITE}/",
        },
        # The PC site serves the thread list only to desktop browsers.
        "USER_AGENT": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0.0.0 Safari/537.36"),
    }

    def __init__(self, forum: str | None = None, keyword: str | None = None,
                 thread_pages: str | None = None, replies: str | None = None, reply_pages: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        forum = (forum or "").strip()
        keyword = (keyword or "").strip()
        if bool(forum) == bool(keyword):
            raise ConfigError("tieba: give exactly one of -a forum=NAME (a 吧 name) or -a keyword=K")
        self.forum = forum or None
        self.keyword = keyword or None
        self.thread_pages = as_int(thread_pages, 20, "thread_pages")
        self.replies = as_bool(replies)
        self.reply_pages = as_int(reply_pages, 5, "reply_pages")
        self.seen_threads: set[str] = set()

    def state_key(self) -> str:
        return f"forum={self.forum}" if self.forum else f"search={self.keyword}"

    async def start(self):
        if self.forum:
            yield Request(tp.forum_url(self.forum, 1), callback=self.parse_forum, meta={"page": 1})
        else:
            yield Request(tp.search_url(self.keyword, 1), callback=self.parse_search, meta={"page": 1})

    def _stop(self, why: str) -> None:
        logger.info("tieba %s: stop paging (%s)", self.state_key(), why)
        self.crawler.stats.set_value("tieba/stop_reason", why)

    # -- forum mode ---------------------------------------------------------------------------
    def parse_forum(self, response):
        page = response.meta["page"]
        self.count("list_pages")
        listing = tp.parse_forum_page(response.text)
        if not listing.found_list:
            self.malformed(response, "no thread list (neither code.pagelet_html nor ul#thread_list)")
            return
        for ref in listing.threads:
            if ref.tid in self.seen_threads:
                continue
            self.seen_threads.add(ref.tid)
            yield Request(tp.thread_url(ref.tid), callback=self.parse_thread,
                          meta={"tid": ref.tid, "tpage": 1, "first_pid": ref.first_post_id})
        dates = self._last_reply_dates(response, listing)
        if not listing.threads:
            self._stop(f"no threads on list page {page}")
        elif self.page_is_old(dates):
            self._stop(f"list page {page} has no replies after {self.cutoff:%Y-%m-%d %H:%M}")
        elif not listing.has_next:
            self._stop(f"last list page ({page})")
        elif page >= self.max_pages:
            self._stop(f"pages={self.max_pages} reached")
        else:
            yield Request(tp.forum_url(self.forum, page + 1), callback=self.parse_forum, meta={"page": page + 1})

    def _last_reply_dates(self, response, listing):
        from parsel import Selector

        inner = tp.thread_list_html(response.text) or response.text
        sel = Selector(text=inner)
        out = []
        for li in sel.css("li.j_thread_list"):
            if li.css(".thread_top, i.icon-top") or "thread_top" in li.attrib.get("class", ""):
                continue
            text = li.css("span.threadlist_reply_date::text").get("").strip()
            if not text:
                continue
            try:
                when = parse_cn_datetime(text)
            except InvalidInput:
                continue
            if _DAY_ONLY.match(text):  # "8-7": any time that day; count it as the day's end
                when += timedelta(days=1, seconds=-1)
            out.append(when)
        return out

    def parse_thread(self, response):
        tid, tpage = response.meta["tid"], response.meta["tpage"]
        self.count("thread_pages")
        page = tp.parse_thread_page(response.text, tid, tpage, first_pid=response.meta.get("first_pid"),
                                    keyword=self.keyword)
        for problem in page.problems:
            self.count("unreadable_floors")
            logger.warning("tieba thread %s page %d: %s", tid, tpage, problem)
        if not page.mentions and not page.problems:
            self.malformed(response, "no floors (div.l_post) on a thread page")
            return
        yield from page.mentions
        if self.replies and page.forum_id:
            for pid in page.with_replies:
                yield self.replies_request(tid, pid, page.forum_id, 1)
        if tpage == 1:
            last = min(page.total_pages, self.thread_pages)
            if page.total_pages > self.thread_pages:
                self.count("threads_truncated")
            for n in range(2, last + 1):
                yield Request(tp.thread_url(tid, n), callback=self.parse_thread,
                              meta={"tid": tid, "tpage": n, "first_pid": page.first_pid})

    def replies_request(self, tid: str, pid: str, fid: str, n: int) -> Request:
        return Request(tp.floor_replies_url(tid, pid, fid, n), callback=self.parse_replies,
                       meta={"tid": tid, "pid": pid, "fid": fid, "rpage": n},
                       headers={"Referer": tp.thread_url(tid), "X-Requested-With": "XMLHttpRequest"})

    def parse_replies(self, response):
        tid, pid, n = response.meta["tid"], response.meta["pid"], response.meta["rpage"]
        self.count("reply_pages")
        result = tp.parse_floor_replies(response.text, tid, pid, keyword=self.keyword)
        for problem in result.problems:
            self.count("unreadable_replies")
            logger.warning("tieba thread %s floor %s replies page %d: %s", tid, pid, n, problem)
        yield from result.mentions
        if result.mentions and n < min(result.total_pages, self.reply_pages):
            yield self.replies_request(tid, pid, response.meta["fid"], n + 1)

    # -- keyword mode -------------------------------------------------------------------------
    def parse_search(self, response):
        page = response.meta["page"]
        self.count("search_pages")
        result = tp.parse_search_page(response.text, self.keyword)
        for problem in result.problems:
            self.count("unreadable_hits")
            logger.warning("tieba search page %d: %s", page, problem)
        yield from result.mentions
        if not result.mentions:
            self._stop(f"no hits on search page {page}")
        elif self.page_is_old([m["published_at"] for m in result.mentions]):
            self._stop(f"search page {page} is older than {self.cutoff:%Y-%m-%d %H:%M}")
        elif not result.has_next:
            self._stop(f"last search page ({page})")
        elif page >= self.max_pages:
            self._stop(f"pages={self.max_pages} reached")
        else:
            yield Request(tp.search_url(self.keyword, page + 1), callback=self.parse_search,
                          meta={"page": page + 1})
