"""`scrapy crawl discuz -a base_url=URL -a fid=N [-a pages=N] [-a site=NAME]`

Any Discuz! X board (site-formats §3.5). `base_url` is the board's root (`https://bbs.example.com`
or `https://example.com/bbs`); the spider reads `forum.php?mod=forumdisplay&fid=N&page=n`
(`tbody#stickthread_{tid}` / `tbody#normalthread_{tid}`), then each thread page by page, following
whatever link style the board uses (`forum.php?mod=viewthread&tid=T&page=n` or the rewritten
`thread-T-P-1.html`). Posts `table#pid{pid}`, body `td.t_f`, time `em#authorposton{pid}`
(`发表于 2024-1-2 10:00`, or `<span title="2024-1-2 10:00">3 天前</span>` for recent posts).

Ids `discuz:{site}:{pid}`; `site` defaults to the board's host name. Floor 1 is the `post`, later
floors `comment`s on it. Quotes of other posts and edit stamps are not part of the text.

Arguments: fid=N (required), pages=N list pages (default 5), thread_pages=N (default 20),
site=NAME, encoding=gbk (only for boards that mislabel their charset), plus since and full.

Reported, not fatal: posts locked or hidden for guests (`div.locked`: stats
`discuz/locked_posts`, `discuz/hidden_content`), threads and boards that need a login or a higher
read permission (`discuz/login_required`, `discuz/thread_login_required`; an ERROR line names the
board). Set `OPMON_COOKIE_DISCUZ` to crawl as a member. Blocks: the anti-CC page
("访问本站速度过快...刷新间隔时间小于两秒") and firewall pages (403/503 from 安全狗/创宇盾-style WAFs).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from parsel import Selector
from scrapy import Request

from core.errors import ConfigError, InvalidInput
from crawlers.blocking import block_detector
from crawlers.parsing import discuz as dz
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.spiders.base import OpmonSpider, as_int

logger = logging.getLogger(__name__)


def _contains(head: bytes, *phrases: str) -> bool:
    """Discuz boards are GBK or UTF-8: look for the phrase in both encodings."""
    return any(p.encode(enc) in head for p in phrases for enc in ("utf-8", "gbk"))


@block_detector("discuz", "anti_cc", "Discuz anti-CC page: 访问本站速度过快/刷新间隔时间小于两秒")
def discuz_anti_cc(response) -> str | None:
    head = response.body[:8192]
    if _contains(head, "刷新间隔时间小于两秒", "访问本站速度过快", "刷新过于频繁"):
        return f"HTTP {response.status} anti-CC (refresh too fast) page"
    return None


@block_detector("discuz", "firewall", "403/503 from a web application firewall (安全狗, 创宇盾, 云锁...)")
def discuz_firewall(response) -> str | None:
    if response.status not in (403, 405, 503):
        return None
    head = response.body[:8192]
    if _contains(head, "防火墙", "安全狗", "创宇盾", "云锁", "访问被拦截", "网站防火墙") or b"waf" in head.lower():
        return f"HTTP {response.status} firewall page"
    return None


class DiscuzSpider(OpmonSpider):
    name = "discuz"
    source = "discuz"
    block_sites = ("discuz",)
    cookie_site = "discuz"   # OPMON_COOKIE_DISCUZ: a member's cookie for login-gated boards
    default_pages = 5
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 2.0,
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "zh-CN,zh;q=0.9",
        },
        "USER_AGENT": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0.0.0 Safari/537.36"),
    }

    def __init__(self, fid: str | None = None, site: str | None = None, thread_pages: str | None = None,
                 encoding: str | None = None, **kwargs):
        if not kwargs.get("base_url"):
            raise ConfigError("discuz: -a base_url=URL (the board's root, e.g. https://bbs.example.com) is required")
        super().__init__(**kwargs)
        if not fid or not str(fid).strip().isdigit():
            raise ConfigError(f"discuz: -a fid=N (the board's numeric forum id) is required, got {fid!r}")
        self.fid = str(fid).strip()
        host = urlsplit(self.base_url).hostname or ""
        self.site = (site or host).strip().lower()
        if not re.fullmatch(r"[\w.\-]{1,64}", self.site):
            raise ConfigError(f"discuz: -a site={self.site!r} must be 1-64 letters, digits, '.', '-' or '_'")
        self.thread_pages = as_int(thread_pages, 20, "thread_pages")
        if encoding:
            try:
                "".encode(encoding)
            except LookupError:
                raise ConfigError(f"discuz: -a encoding={encoding!r} is not a known encoding") from None
        self.force_encoding = encoding
        self.gated = False

    def state_key(self) -> str:
        return f"{self.site}/fid={self.fid}"

    def _text(self, response) -> str:
        if self.force_encoding:
            return response.body.decode(self.force_encoding, errors="replace")
        return response.text

    async def start(self):
        yield Request(dz.forum_url(self.base_url, self.fid, 1), callback=self.parse_forum, meta={"page": 1})

    def _stop(self, why: str) -> None:
        logger.info("discuz %s fid=%s: stop paging (%s)", self.site, self.fid, why)
        self.crawler.stats.set_value("discuz/stop_reason", why)

    def parse_forum(self, response):
        page = response.meta["page"]
        self.count("list_pages")
        html = self._text(response)
        listing = dz.parse_forum_page(html, response.url)
        if listing.gated:
            self.count("login_required")
            logger.error("discuz %s: board fid=%s needs a login or a higher permission (%r); set "
                         "OPMON_COOKIE_DISCUZ to a member's cookie to crawl it", self.site, self.fid, listing.gated)
            self._stop(f"board needs login: {listing.gated}")
            return
        if not listing.threads:
            if not listing.empty:
                self.malformed(response, "no tbody#normalthread_/stickthread_ rows and no empty-board notice")
            self._stop(f"no threads on list page {page}")
            return
        for ref in listing.threads:
            yield Request(ref.url, callback=self.parse_thread, meta={"tid": ref.tid, "tpage": 1})
        if self.page_is_old(self._last_post_dates(html)):
            self._stop(f"list page {page} has no posts after {self.cutoff:%Y-%m-%d %H:%M}")
        elif not listing.next_url:
            self._stop(f"last list page ({page})")
        elif page >= self.max_pages:
            self._stop(f"pages={self.max_pages} reached")
        else:
            yield Request(listing.next_url, callback=self.parse_forum, meta={"page": page + 1})

    @staticmethod
    def _last_post_dates(html: str):
        out = []
        for tbody in Selector(text=html).css("tbody[id^=normalthread_]"):
            em = tbody.css("td.by")[-1:].css("em")
            text = (em.css("span::attr(title)").get() or em.xpath("string(.)").get("")).strip() if em else ""
            try:
                out.append(parse_cn_datetime(text))
            except InvalidInput:
                continue
        return out

    def parse_thread(self, response):
        tid, tpage = response.meta["tid"], response.meta["tpage"]
        self.count("thread_pages")
        page = dz.parse_thread_page(self._text(response), response.url, site=self.site,
                                    canonical_base=self.base_url, first_pid=response.meta.get("first_pid"))
        if page.gated:
            self.count("thread_login_required")
            logger.warning("discuz %s: thread %s needs a login or permission (%s)", self.site, tid, page.gated)
            return
        for pid in page.locked:
            self.count("locked_posts")
            logger.info("discuz %s: post %s in thread %s is locked/hidden for us (div.locked)", self.site, pid, tid)
        for pid in page.hidden:
            self.count("hidden_content")
            logger.info("discuz %s: post %s in thread %s has hidden content (reply/pay to see); kept the "
                        "visible part", self.site, pid, tid)
        for problem in page.problems:
            self.count("unreadable_posts")
            logger.warning("discuz %s thread %s page %d: %s", self.site, tid, tpage, problem)
        if not page.mentions and not page.locked and not page.problems:
            self.malformed(response, "no posts (table#pid...) on a thread page")
            return
        yield from page.mentions
        if page.next_url and tpage < self.thread_pages:
            yield Request(page.next_url, callback=self.parse_thread,
                          meta={"tid": tid, "tpage": tpage + 1, "first_pid": page.first_pid})
        elif page.next_url:
            self.count("threads_truncated")
