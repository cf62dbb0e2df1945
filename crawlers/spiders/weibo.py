"""`scrapy crawl weibo -a keyword=K [-a pages=N] [-a comments=1] [-a since=YYYY-MM-DD]`

m.weibo.cn search (site-formats §1.1, §3.1-3.2): result pages from
`/api/container/getIndex?containerid=100103type%3D1%26q%3D{K}&page_type=searchall&page={n}`; posts sit
in `card_type` 11 `card_group`s or flat `card_type` 9 cards (card_type may be a string); other cards
(headers, user rows) are skipped. Long posts (`isLongText`) get their full text from
`/detail/{mid}` (`var $render_data = [...][0] || {};`). With comments=1, comments come from
`/comments/hotflow?id={mid}&mid={mid}&max_id_type=0`, following `max_id` until it is 0 / "0".

Paging stops at the first empty page (`{"ok":0,"msg":"这里还没有内容"}` is empty, not blocked), at
`pages`, or when a whole page is older than `since` / what the last crawl already stored.
Also: `comment_pages=N` (max hotflow pages per post, default 20), `type=1|61|60|64` (1 = all,
61 = real-time, 60 = popular, 64 = video).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from urllib.parse import quote

from scrapy import Request

from core.errors import ConfigError, InvalidInput
from crawlers.blocking import block_detector, is_json_body, looks_like_login_url
from crawlers.parsing.counts import parse_count
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.parsing.text import clean_location, html_to_text
from crawlers.spiders.base import OpmonSpider, as_bool, as_int

logger = logging.getLogger(__name__)

M_WEIBO = "https://m.weibo.cn"
_RENDER_DATA = re.compile(r"var\s+\$render_data\s*=\s*(\[.*?\])\s*\[0\]\s*\|\|\s*\{\}\s*;", re.S)
SEARCH_TYPES = {"1", "61", "60", "64"}


# ---- block signals (site-formats §2) ----------------------------------------------------------

@block_detector("weibo", "http_432", "HTTP 432: risk control / polluted cookie")
def weibo_432(response) -> str | None:
    if response.status != 432:
        return None
    return "HTTP 432 with a JSON body" if is_json_body(response) else "HTTP 432 with a non-JSON body"


@block_detector("weibo", "captcha", '{"ok":-100,...,"url":".../captcha..."}')
def weibo_captcha(response) -> str | None:
    if len(response.body) > 16384 or not is_json_body(response):
        return None
    try:
        data = json.loads(response.body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    url = str(data.get("url") or "")
    if str(data.get("ok")) == "-100" or str(data.get("errno")) == "-100" or "captcha" in url:
        return f"ok={data.get('ok')} captcha url {url or '(none)'}"
    return None


@block_detector("weibo", "login_redirect", "302 to a login or visitor page")
def weibo_login_redirect(response) -> str | None:
    if 300 <= response.status < 400:
        target = (response.headers.get(b"Location") or b"").decode("latin-1")
        return f"redirect to {target}" if looks_like_login_url(target) else None
    if looks_like_login_url(response.url):
        request = getattr(response, "request", None)
        hops = (request.meta.get("redirect_urls") if request is not None else None) or []
        return f"redirected from {hops[0]} to {response.url}" if hops else f"login page {response.url}"
    return None


@block_detector("weibo", "error_page", 'm.weibo.cn h5 error page <p class="h5-4con">出错了...')
def weibo_error_page(response) -> str | None:
    head = response.body[:32768]
    if b"h5-4con" in head:
        m = re.search(rb'class="h5-4con"[^>]*>([^<]{0,80})<', head)
        return "error page: " + (m.group(1).decode("utf-8", "replace") if m else "h5-4con")
    return None


# ---- parsing helpers shared with weibo_search ---------------------------------------------------

def iter_mblogs(cards: list) -> tuple[list[dict], int]:
    """(mblogs, skipped card count) from getIndex `cards` (card_type int or str)."""
    out: list[dict] = []
    skipped = 0
    for card in cards or []:
        if not isinstance(card, dict):
            skipped += 1
            continue
        ctype = str(card.get("card_type"))
        if ctype == "9" and isinstance(card.get("mblog"), dict):
            out.append(card["mblog"])
        elif ctype == "11":
            for sub in card.get("card_group") or []:
                if isinstance(sub, dict) and str(sub.get("card_type")) == "9" and isinstance(sub.get("mblog"), dict):
                    out.append(sub["mblog"])
                else:
                    skipped += 1
        else:
            skipped += 1
    return out, skipped


def mblog_mid(mblog: dict) -> str | None:
    mid = mblog.get("mid") or mblog.get("idstr") or mblog.get("id")
    return str(mid) if mid not in (None, "") else None


def author_of(user: dict | None) -> dict:
    user = user if isinstance(user, dict) else {}
    return {
        "id": str(user["id"]) if user.get("id") not in (None, "") else None,
        "name": user.get("screen_name"),
        "followers": parse_count(user.get("followers_count")),
        "verified": bool(user.get("verified")) if "verified" in user else None,
    }


def mblog_item(mblog: dict, keyword: str | None, text: str | None = None,
               published: datetime | None = None) -> dict:
    """A mention dict from an m.weibo.cn mblog; raises InvalidInput when id or date is unusable.
    `published`: its `created_at`, when the caller has parsed it already."""
    mid = mblog_mid(mblog)
    if not mid:
        raise InvalidInput("mblog without mid/id")
    if published is None:
        published = parse_cn_datetime(mblog.get("created_at"))
    return {
        "id": f"weibo:{mid}",
        "source": "weibo",
        "kind": "post",
        "url": f"{M_WEIBO}/detail/{mid}",
        "text": text if text is not None else html_to_text(mblog.get("text")),
        "author": author_of(mblog.get("user")),
        "published_at": published.isoformat(),
        "metrics": {
            "likes": parse_count(mblog.get("attitudes_count")),
            "reposts": parse_count(mblog.get("reposts_count")),
            "comments": parse_count(mblog.get("comments_count")),
        },
        "location": clean_location(mblog.get("region_name")),
        "keyword": keyword,
    }


def comment_item(c: dict, post_mid: str, keyword: str | None) -> dict:
    cid = c.get("id") or c.get("idstr") or c.get("mid")
    if cid in (None, ""):
        raise InvalidInput("comment without id")
    return {
        "id": f"weibo:{cid}",
        "source": "weibo",
        "kind": "comment",
        "parent_id": f"weibo:{post_mid}",
        "url": f"{M_WEIBO}/detail/{post_mid}",
        "text": html_to_text(c.get("text") if c.get("text") is not None else c.get("text_raw")),
        "author": author_of(c.get("user")),
        "published_at": parse_cn_datetime(c.get("created_at")).isoformat(),
        "metrics": {"likes": parse_count(c.get("like_count", c.get("like_counts")))},
        "location": clean_location(c.get("source")),
        "keyword": keyword,
    }


def render_data_status(html: str) -> dict | None:
    m = _RENDER_DATA.search(html)
    if not m:
        return None
    data = json.loads(m.group(1))
    first = data[0] if isinstance(data, list) and data else {}
    status = first.get("status") if isinstance(first, dict) else None
    return status if isinstance(status, dict) else None


class WeiboSpider(OpmonSpider):
    name = "weibo"
    source = "weibo"
    block_sites = ("weibo",)
    cookie_site = "weibo"
    cookie_domains = ("weibo.cn", "weibo.com")  # never send the site's cookies to CDNs or third parties
    cookie_keep = ("SUB",)  # weibo-crawler PR #582: SUB alone avoids the "polluted cookie" 432
    default_pages = 50
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 3.0,
        "AUTOTHROTTLE_START_DELAY": 3.0,
        "COOKIES_ENABLED": False,
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "application/json, text/plain, */*",
            "Accept-Language": "zh-CN,zh;q=0.9",
            "Referer": f"{M_WEIBO}/",
            "MWeibo-Pwa": "1",
            "X-Requested-With": "XMLHttpRequest",
        },
    }

    def __init__(self, keyword: str | None = None, comments: str | None = None,
                 comment_pages: str | None = None, type: str = "1", **kwargs):  # noqa: A002
        super().__init__(**kwargs)
        if not keyword or not keyword.strip():
            raise ConfigError("weibo: -a keyword=K is required")
        if str(type) not in SEARCH_TYPES:
            raise ConfigError(f"weibo: -a type={type} must be one of {sorted(SEARCH_TYPES)}")
        self.keyword = keyword.strip()
        self.search_type = str(type)
        self.comments = as_bool(comments)
        self.comment_pages = as_int(comment_pages, 20, "comment_pages")
        self.stopped = False

    def state_key(self) -> str:
        return f"type={self.search_type}&q={self.keyword}"

    def search_url(self, page: int) -> str:
        cid = quote(f"100103type={self.search_type}&q={self.keyword}", safe="")
        return f"{M_WEIBO}/api/container/getIndex?containerid={cid}&page_type=searchall&page={page}"

    def page_request(self, page: int) -> Request:
        # An explicit m.weibo.cn Referer: RefererMiddleware would otherwise send the previous page's
        # URL (a mirror's, under base_url).
        return Request(self.search_url(page), callback=self.parse_search, meta={"page": page},
                       headers={"Referer": f"{M_WEIBO}/"}, priority=-page)

    async def start(self):
        # Warm-up: land on m.weibo.cn like a browser first (weibo-crawler PR #582).
        yield Request(f"{M_WEIBO}/", callback=self.after_warmup, errback=self.after_warmup,
                      headers={"Accept": "text/html,application/xhtml+xml"}, dont_filter=True, priority=100)

    def after_warmup(self, response_or_failure):
        lookahead = max(1, self.settings.getint("PAGE_LOOKAHEAD", 1))
        for page in range(1, min(lookahead, self.max_pages) + 1):
            yield self.page_request(page)

    def stop(self, page: int, why: str) -> None:
        if not self.stopped:
            self.stopped = True
            logger.info("weibo %r: stop paging at page %d (%s)", self.keyword, page, why)
            self.crawler.stats.set_value("weibo/stop_reason", why)

    def next_page(self, page: int):
        lookahead = max(1, self.settings.getint("PAGE_LOOKAHEAD", 1))
        nxt = page + lookahead
        if not self.stopped and nxt <= self.max_pages:
            yield self.page_request(nxt)
        elif not self.stopped and page >= self.max_pages:
            self.stop(page, f"pages={self.max_pages} reached")

    def parse_search(self, response):
        page = response.meta["page"]
        self.count("pages")
        try:
            data = response.json()
        except ValueError:
            self.malformed(response, "search page is not JSON")
            return
        if not isinstance(data, dict):
            self.malformed(response, "search page JSON is not an object")
            return
        if str(data.get("ok")) == "0":
            self.count("empty_pages")
            self.stop(page, f"no results: {data.get('msg') or 'ok=0'}")
            return
        if str(data.get("ok")) != "1":
            self.malformed(response, f"unexpected ok={data.get('ok')!r} msg={data.get('msg')!r}")
            return
        body = data.get("data") if isinstance(data.get("data"), dict) else {}
        mblogs, skipped = iter_mblogs(body.get("cards") or [])
        if skipped:
            self.count("skipped_cards", skipped)
        if not mblogs:
            self.count("empty_pages")
            self.stop(page, "empty page")
            return
        dates = []
        for mblog in mblogs:
            try:
                published = parse_cn_datetime(mblog.get("created_at"))
            except InvalidInput:
                published = None  # mblog_item says why
            yield from self.handle_mblog(mblog, response, published)
            if published is not None and str(mblog.get("mblogtype")) != "2":  # pinned posts are old by design
                dates.append(published)
        if self.page_is_old(dates):
            self.stop(page, "reached mentions older than since / the last crawl")
        yield from self.next_page(page)

    def handle_mblog(self, mblog: dict, response, published: datetime | None = None):
        try:
            item = mblog_item(mblog, self.keyword, published=published)
        except InvalidInput as exc:
            self.count("malformed_posts")
            logger.warning("skipping a post on %s: %s", response.url, exc)
            return
        mid = item["id"].split(":", 1)[1]
        retweeted = mblog.get("retweeted_status")
        if isinstance(retweeted, dict) and retweeted.get("user"):  # deleted originals have no user
            try:
                yield mblog_item(retweeted, self.keyword)
                self.count("retweeted_originals")
            except InvalidInput:
                self.count("malformed_posts")
        if as_bool(mblog.get("isLongText")):
            yield Request(f"{M_WEIBO}/detail/{mid}", callback=self.parse_detail, errback=self.detail_failed,
                          headers={"Accept": "text/html,application/xhtml+xml", "Referer": f"{M_WEIBO}/"},
                          meta={"item": item})
        else:
            yield item
        if self.comments and (parse_count(mblog.get("comments_count")) or 0) > 0:
            yield self.comments_request(mid, None, 1)

    def parse_detail(self, response):
        item = response.meta["item"]
        try:
            status = render_data_status(response.text)
        except ValueError:
            status = None
        if status and status.get("text"):
            item["text"] = html_to_text(status["text"])
            self.count("long_texts")
        else:
            self.malformed(response, "detail page without $render_data status; keeping the truncated text")
            self.count("long_text_fallbacks")
        yield item

    def detail_failed(self, failure):
        item = failure.request.meta["item"]
        self.count("long_text_fallbacks")
        logger.warning("full text of %s unavailable (%s); keeping the truncated text", item["id"],
                       failure.getErrorMessage())
        yield item

    def comments_request(self, mid: str, max_id, page: int, max_id_type=0) -> Request:
        url = f"{M_WEIBO}/comments/hotflow?id={mid}&mid={mid}&max_id_type={max_id_type}"
        if max_id not in (None, 0, "0", ""):
            url += f"&max_id={max_id}"
        return Request(url, callback=self.parse_comments, meta={"mid": mid, "cpage": page},
                       headers={"Referer": f"{M_WEIBO}/detail/{mid}"})

    def parse_comments(self, response):
        mid, page = response.meta["mid"], response.meta["cpage"]
        self.count("comment_pages")
        try:
            data = response.json()
        except ValueError:
            self.malformed(response, "comment page is not JSON")
            return
        if not isinstance(data, dict) or str(data.get("ok")) != "1":
            self.count("comment_pages_empty")  # {"ok":0,"msg":"快来发表你的评论吧"} etc.
            return
        body = data.get("data") if isinstance(data.get("data"), dict) else {}
        for c in body.get("data") or []:
            if not isinstance(c, dict):
                continue
            replies = c.get("comments") if isinstance(c.get("comments"), list) else []  # may be false
            for one in [c, *replies]:
                try:
                    yield comment_item(one, mid, self.keyword)
                    self.count("comments")
                except InvalidInput as exc:
                    self.count("malformed_comments")
                    logger.warning("skipping a comment on %s: %s", response.url, exc)
        max_id = body.get("max_id")
        if max_id not in (None, 0, "0", "") and page < self.comment_pages:
            yield self.comments_request(mid, max_id, page + 1, body.get("max_id_type", 0))
