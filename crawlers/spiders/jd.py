"""`scrapy crawl jd -a product_id=P [-a pages=N]`

JD product reviews (site-formats §1.6, §3.6): JSONP pages from
`club.jd.com/comment/productPageComments.action?callback=fetchJSON_comment98&productId=P&score=0&sortType=5&page={0-based}&pageSize=10&isShadowSku=0&fold=1`,
usually GBK. Paging stops at JD's `maxPage`, at `pages` (default 10; JD serves fewer than 100),
or at an empty page. `score` becomes `metrics.rating`; the placeholder `此用户未填写评价内容`
is not customer text: the review is kept with its rating and an empty text. Ids `jd:{comment id}`.

Also: score=0|1|2|3|5|7 (all / bad / medium / good / follow-up / video), sort_type=5|6
(5 = JD's recommended order, 6 = newest first; only 6 lets `since` and incremental runs stop early).

Block signals: HTTP 403 (the signed api.m.jd.com era), an empty `{}` answer (no login cookie),
a redirect to passport.jd.com. Set `OPMON_COOKIE_JD` to a logged-in cookie.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from scrapy import Request

from core.errors import ConfigError, InvalidInput
from crawlers.blocking import block_detector
from crawlers.parsing import jd
from crawlers.spiders.base import OpmonSpider

logger = logging.getLogger(__name__)

SCORES = {"0", "1", "2", "3", "5", "7"}
SORT_TYPES = {"5", "6"}


@block_detector("jd", "http_403", "HTTP 403 from JD (signature or cookie missing)")
def jd_http_403(response) -> str | None:
    return "HTTP 403" if response.status == 403 else None


@block_detector("jd", "empty_json", "an empty {} answer instead of comments (no login cookie)")
def jd_empty_json(response) -> str | None:
    body = response.body.strip()
    if len(body) > 64:
        return None
    if body == b"{}" or body.replace(b" ", b"").endswith(b"({});") or body.replace(b" ", b"").endswith(b"({})"):
        return f"body {body[:40]!r}"
    return None


@block_detector("jd", "login_redirect", "redirect to passport.jd.com")
def jd_login_redirect(response) -> str | None:
    request = getattr(response, "request", None)
    original = str(request.meta.get("original_url") or "") if request is not None else ""
    for url in (response.url, original):
        if urlsplit(url).hostname == "passport.jd.com":
            return f"login page {url}"
    return None


def decode_body(body: bytes) -> str:
    """JD labels its charset inconsistently: UTF-8 if the bytes are valid UTF-8, else GB18030 (⊃ GBK)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("gb18030", errors="replace")


class JdSpider(OpmonSpider):
    name = "jd"
    source = "jd"
    block_sites = ("jd",)
    cookie_site = "jd"
    cookie_domains = ("jd.com",)  # never send the site's cookies to CDNs or third parties
    default_pages = 10
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 3.0,
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "*/*",
            "Accept-Language": "zh-CN,zh;q=0.9",
        },
        "USER_AGENT": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0.0.0 Safari/537.36"),
    }

    def __init__(self, product_id: str | None = None, score: str = "0", sort_type: str = "5", **kwargs):
        super().__init__(**kwargs)
        product_id = str(product_id or "").strip()
        if not product_id.isdigit():
            raise ConfigError(f"jd: -a product_id=P (the number in item.jd.com/P.html) is required, got {product_id!r}")
        if str(score) not in SCORES:
            raise ConfigError(f"jd: -a score={score} must be one of {sorted(SCORES)}")
        if str(sort_type) not in SORT_TYPES:
            raise ConfigError(f"jd: -a sort_type={sort_type} must be one of {sorted(SORT_TYPES)}")
        self.product_id = product_id
        self.score = int(score)
        self.sort_type = int(sort_type)

    def state_key(self) -> str:
        return f"product={self.product_id}&score={self.score}"

    def page_request(self, page: int) -> Request:
        return Request(jd.comments_url(self.product_id, page, self.score, self.sort_type), callback=self.parse,
                       meta={"page": page},
                       headers={"Referer": f"https://item.jd.com/{self.product_id}.html"})

    async def start(self):
        yield self.page_request(0)

    def _stop(self, why: str) -> None:
        logger.info("jd product %s: stop paging (%s)", self.product_id, why)
        self.crawler.stats.set_value("jd/stop_reason", why)

    def parse(self, response):
        page = response.meta["page"]
        self.count("pages")
        try:
            result = jd.parse_comments(decode_body(response.body), self.product_id)
        except InvalidInput as exc:
            self.malformed(response, str(exc))
            return
        for problem in result.problems:
            self.count("unreadable_reviews")
            logger.warning("jd product %s page %d: %s", self.product_id, page, problem)
        self.count("placeholder_texts", sum(1 for m in result.mentions if not m["text"]))
        yield from result.mentions
        max_page = result.max_page if result.max_page is not None else self.max_pages
        if not result.mentions:
            self._stop(f"no reviews on page {page}")
        elif page + 1 >= max_page:
            self._stop(f"maxPage={max_page} reached")
        elif page + 1 >= self.max_pages:
            self._stop(f"pages={self.max_pages} reached")
        elif self.sort_type == 6 and self.page_is_old(m["published_at"] for m in result.mentions):
            self._stop(f"page {page} is older than {self.cutoff:%Y-%m-%d %H:%M}")
        else:
            yield self.page_request(page + 1)
