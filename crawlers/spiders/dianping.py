"""`scrapy crawl dianping -a shop_id=S [-a pages=N]`

Dianping shop reviews (site-formats §3.7): `/shop/{S}/review_all`, then `/shop/{S}/review_all/p{n}`
(page 1 never gets an explicit `/p1`: that triggers a captcha). Review pages are rendered by a real
Chromium through scrapy-playwright (per request, `meta["playwright"]`); everything else (the
obfuscation CSS and its SVG sprites) is plain HTTP, fetched once per URL and cached for the crawl.

Review text is obfuscated: `<svgmtsi class="...">` elements whose CSS `background:-Xpx -Ypx` indexes
a character in an SVG text sprite, or private-use characters drawn by a per-load WOFF font
(`<svgmtsi class="review">&#xe1f3;</svgmtsi>`, `<e class="address">`, `<d class="num">`);
`crawlers.dianping_decoder` decodes both. Fonts are matched by glyph outline against a reference font
whose map an operator captured once (DIANPING_FONT_REFERENCE / OPMON_DIANPING_FONT_REFERENCE: a folder
with reference.woff + reference.json). Stars from `sml-strNN` (NN/10) become
`metrics.rating`; sub-scores (口味/环境/服务: 1-5) become `aspects` with a label from the score
(>= 4 positive, < 3 negative); likes and replies from `.actions`; ids `dianping:{review id}`
from `.actions a[data-id]`. Characters no decoder knows become U+FFFD and are counted
(`dianping/undecoded_chars`).

Browser hygiene: every page is closed, in the callback and in the errback (stats
`dianping/pages_opened` == `dianping/pages_closed`); images, media, fonts and stylesheets are aborted
in the browser (PLAYWRIGHT_ABORT_REQUEST). Chromium: `/usr/bin/chromium` (Debian), or
`OPMON_CHROMIUM_PATH`.

Block signals: a redirect to `verify.meituan.com/v2/web/general_page?action=spiderindefence`,
HTTP 403 (account banned), a review page without the `s3plus` svgtextcss link (cookie dead).
Dianping shows little to guests: set `OPMON_COOKIE_DIANPING` and keep the pace slow.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from scrapy import Request

from core.errors import ConfigError
from core.settings import get_settings
from crawlers.blocking import block_detector
from crawlers.browser import abort_request, launch_options
from crawlers.dianping_decoder import (
    DecodeError,
    FontMapDecoder,
    GlyphDecoder,
    GlyphMatcher,
    SvgSpriteDecoder,
    parse_css,
    parse_font_css,
    parse_sprite,
)
from crawlers.middlewares.base_url import rewrite_url
from crawlers.parsing import dianping as dp
from crawlers.spiders.base import OpmonSpider

logger = logging.getLogger(__name__)

SCORED_ASPECTS = ("口味", "环境", "服务", "效果", "设施", "性价比")


def _urls(response) -> list[str]:
    request = getattr(response, "request", None)
    meta = request.meta if request is not None else {}
    return [response.url, str(meta.get("original_url") or ""), *(meta.get("redirect_urls") or [])]


@block_detector("dianping", "verify", "redirect to verify.meituan.com ... action=spiderindefence")
def dianping_verify(response) -> str | None:
    for url in _urls(response):
        parts = urlsplit(url)
        if parts.hostname == "verify.meituan.com" or "spiderindefence" in parts.query:
            return f"verification page {url}"
    if 300 <= response.status < 400:
        target = (response.headers.get(b"Location") or b"").decode("latin-1")
        if "verify.meituan.com" in target or "spiderindefence" in target:
            return f"redirect to {target}"
    return None


@block_detector("dianping", "http_403", "HTTP 403 (account banned)")
def dianping_http_403(response) -> str | None:
    return "HTTP 403" if response.status == 403 else None


@block_detector("dianping", "cookie_dead", "review page without the s3plus svgtextcss stylesheet")
def dianping_cookie_dead(response) -> str | None:
    if response.status != 200 or "/review_all" not in urlsplit(response.url).path:
        return None
    if b"svgtextcss" in response.body[:131072]:
        return None
    return "no svgtextcss stylesheet on the review page (cookie expired or not logged in)"


def aspects_from_scores(scores: dict[str, str]) -> list[dict]:
    out = []
    for name, value in scores.items():
        m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*$", value)
        if name not in SCORED_ASPECTS or not m:
            continue  # 人均 (price per head) is not a judgement
        score = float(m.group(1))
        label = "positive" if score >= 4 else "negative" if score < 3 else "neutral"
        out.append({"touchpoint": name, "sentiment": label, "text": f"{name}：{value}"})
    return out


class DianpingSpider(OpmonSpider):
    name = "dianping"
    source = "dianping"
    block_sites = ("dianping",)
    cookie_site = "dianping"
    cookie_domains = ("dianping.com",)  # never send the site's cookies to CDNs or third parties
    default_pages = 5
    custom_settings = {
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(),
        "PLAYWRIGHT_ABORT_REQUEST": abort_request,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 30_000,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 5.0,
        "AUTOTHROTTLE_START_DELAY": 5.0,
        "USER_AGENT": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0.0.0 Safari/537.36"),
    }

    def __init__(self, shop_id: str | None = None, **kwargs):
        super().__init__(**kwargs)
        shop_id = str(shop_id or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9]{4,32}", shop_id):
            raise ConfigError(f"dianping: -a shop_id=S (e.g. H2noKWCDigM0H9c1 from /shop/S) is required, got {shop_id!r}")
        self.shop_id = shop_id
        self.css_cache: dict[str, str | None] = {}
        self.sprite_cache: dict[str, object] = {}
        self.font_cache: dict[str, dict[str, str] | None] = {}
        self.font_matcher: GlyphMatcher | None = None
        self.extra_decoders: list[GlyphDecoder] = []  # any other GlyphDecoder an operator plugs in

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        reference = (crawler.settings.get("DIANPING_FONT_REFERENCE")
                     or get_settings().dianping_font_reference)
        if reference:
            try:
                spider.font_matcher = GlyphMatcher.from_dir(reference)
            except DecodeError as exc:
                raise ConfigError(f"DIANPING_FONT_REFERENCE: {exc}") from exc
        return spider

    def state_key(self) -> str:
        return f"shop={self.shop_id}"

    def page_request(self, page: int) -> Request:
        return Request(dp.review_url(self.shop_id, page), callback=self.parse_reviews, errback=self.page_failed,
                       meta={"page": page, "playwright": True, "playwright_include_page": True},
                       headers={"Referer": f"{dp.SITE}/shop/{self.shop_id}"})

    async def start(self):
        yield self.page_request(1)

    async def _close(self, page) -> None:
        if page is None:
            return
        try:
            await page.close()
        finally:
            self.count("pages_closed")

    async def page_failed(self, failure):
        page = failure.request.meta.get("playwright_page")
        if page is not None:
            self.count("pages_opened")
        await self._close(page)
        self.count("page_errors")
        logger.warning("dianping %s: %s failed: %s", self.shop_id, failure.request.url, failure.value)

    # -- plain-HTTP resources the decoder needs --------------------------------------------------
    async def _fetch(self, url: str) -> bytes | None:
        try:
            response = await self.crawler.engine.download_async(
                Request(rewrite_url(url, self.base_url), meta={"original_url": url}, dont_filter=True))
        except Exception as exc:  # network error, IgnoreRequest: decode what we can, count the rest
            logger.error("dianping: fetching %s failed: %s: %s", url, type(exc).__name__, exc)
            return None
        if response.status != 200:
            logger.error("dianping: %s answered HTTP %d", url, response.status)
            return None
        return response.body

    async def _css_text(self, url: str) -> str | None:
        if url not in self.css_cache:
            body = await self._fetch(url)
            self.css_cache[url] = body.decode("utf-8", "replace") if body else None
        return self.css_cache[url]

    async def _sprite(self, url: str):
        if url not in self.sprite_cache:
            body = await self._fetch(url)
            try:
                self.sprite_cache[url] = parse_sprite(body) if body else None
            except DecodeError as exc:
                logger.error("dianping: sprite %s: %s", url, exc)
                self.sprite_cache[url] = None
        return self.sprite_cache[url]

    async def _font_map(self, url: str) -> dict[str, str] | None:
        if url not in self.font_cache:
            if self.font_matcher is None:
                self.count("fonts_without_reference")
                logger.error("dianping: text drawn by the per-load font %s cannot be decoded: set "
                             "DIANPING_FONT_REFERENCE (or OPMON_DIANPING_FONT_REFERENCE) to a folder with "
                             "reference.woff + reference.json (see docs/crawling.md)", url)
                self.font_cache[url] = None
            else:
                body = await self._fetch(url)
                try:
                    self.font_cache[url] = self.font_matcher.font_map(body) if body else None
                except DecodeError as exc:
                    logger.error("dianping: font %s: %s", url, exc)
                    self.font_cache[url] = None
        return self.font_cache[url]

    async def decoders_for(self, css_urls: list[str]) -> list[GlyphDecoder]:
        """SVG-sprite and per-load-font decoders for the stylesheets a page links to (cached per URL)."""
        decoders: list[GlyphDecoder] = []
        for css_url in css_urls:
            text = await self._css_text(css_url)
            if not text:
                continue
            fonts = parse_font_css(text, css_url)
            try:
                css = parse_css(text, css_url)
            except DecodeError as exc:
                if not fonts:
                    logger.error("dianping: stylesheet %s: %s", css_url, exc)
                css = None
            if css is not None:
                sprites = {}
                for url in set(css.prefixes.values()):
                    sprite = await self._sprite(url)
                    if sprite is not None:
                        sprites[url] = sprite
                decoders.append(SvgSpriteDecoder(css, sprites))
            for font_url in dict.fromkeys(fonts.values()):
                mapping = await self._font_map(font_url)
                if mapping:
                    decoders.append(FontMapDecoder(mapping, [c for c, u in fonts.items() if u == font_url]))
        return [*decoders, *self.extra_decoders]

    # -- review pages --------------------------------------------------------------------------
    async def parse_reviews(self, response):
        page_no = response.meta["page"]
        page = response.meta.get("playwright_page")
        if page is not None:
            self.count("pages_opened")
        try:
            html = response.text  # the DOM as rendered by Chromium
        finally:
            await self._close(page)
        self.count("review_pages")
        css_urls = dp.stylesheet_urls(html, response.meta.get("original_url") or response.url)
        decoders = await self.decoders_for(css_urls)
        result = dp.parse_review_page(html, response.url, self.shop_id, decoders)
        if result.decode.decoded:
            self.count("decoded_chars", result.decode.decoded)
        if result.decode.undecoded:
            self.count("undecoded_chars", result.decode.undecoded)
            logger.error("dianping %s page %d: %d obfuscated characters could not be decoded (shown as U+FFFD)",
                         self.shop_id, page_no, result.decode.undecoded)
        for problem in result.problems:
            self.count("unreadable_reviews")
            logger.warning("dianping %s page %d: %s", self.shop_id, page_no, problem)
        if not result.mentions and not result.problems:
            self.malformed(response, "no .reviews-items .main-review on a review page")
            return
        for mention in result.mentions:
            rid = mention["id"].split(":", 1)[1]
            mention["aspects"] = aspects_from_scores(result.sub_scores.get(rid, {}))
            yield mention
        if self.page_is_old(m["published_at"] for m in result.mentions):
            self.crawler.stats.set_value("dianping/stop_reason", f"page {page_no} older than the cutoff")
        elif not result.next_url:
            self.crawler.stats.set_value("dianping/stop_reason", f"last page ({page_no})")
        elif page_no >= self.max_pages:
            self.crawler.stats.set_value("dianping/stop_reason", f"pages={self.max_pages} reached")
        else:
            yield self.page_request(page_no + 1)
