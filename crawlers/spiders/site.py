"""`scrapy crawl site -a config=sites/NAME.yaml [-a pages=N]`

A config-driven spider for the long tail of forums and review sites: the YAML (schema in
crawlers/sites_config.py, guide in docs/crawling.md) gives the list URL pattern and paging, optional
detail links (threads) with their own paging, the item selector, CSS/XPath selectors for each
mention field, the date format, the encoding, block signals, and whether pages need a browser.
A bad config stops the crawl before the first request with an error naming the field.

Ids are `{source}:{the site's id}`; `source` defaults to the config name. Common arguments
(base_url for replay/mirrors, since, full, pages) work as for every spider.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin

from parsel import Selector
from scrapy import Request

from core.errors import ConfigError
from crawlers import blocking
from crawlers.browser import abort_request, launch_options
from crawlers.parsing import site as sp
from crawlers.sites_config import BlockRule, FieldSpec, SiteConfig, field_spec, load_site_config
from crawlers.spiders.base import OpmonSpider

logger = logging.getLogger(__name__)


def _rule_detector(rule: BlockRule, encoding: str | None):
    needles = []
    if rule.text:
        for enc in dict.fromkeys([encoding or "utf-8", "utf-8", "gbk"]):
            try:
                needles.append(rule.text.encode(enc))
            except (UnicodeEncodeError, LookupError):
                continue

    def detect(response) -> str | None:
        if rule.status is not None and response.status != rule.status:
            return None
        if rule.url_contains:
            request = getattr(response, "request", None)
            urls = [response.url, str(request.meta.get("original_url") or "") if request is not None else ""]
            if not any(rule.url_contains in u for u in urls):
                return None
        if needles and not any(n in response.body[:65536] for n in needles):
            return None
        return f"config rule {rule.name} (HTTP {response.status})"

    return detect


class SiteSpider(OpmonSpider):
    name = "site"
    default_pages = 5
    custom_settings = {
        # The Playwright download handler is installed in from_crawler, only for `browser: true`.
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(),
        "PLAYWRIGHT_ABORT_REQUEST": abort_request,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
    }

    def __init__(self, config: str | None = None, **kwargs):
        if not config:
            raise ConfigError("site: -a config=sites/NAME.yaml is required")
        cfg: SiteConfig = load_site_config(config)
        self.cfg = cfg
        self.config_path = config
        self.source = cfg.mention_source
        self.default_pages = cfg.list.pages
        self.block_sites = (f"cfg_{cfg.name}",)
        self.cookie_site = cfg.cookie_site or cfg.name
        for rule in cfg.blocked:
            blocking.register(self.block_sites[0], rule.name, _rule_detector(rule, cfg.encoding),
                              f"config {config}: {rule.model_dump(exclude_none=True)}")
        super().__init__(**kwargs)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        # The config's politeness delay, unless the operator set one on the command line.
        if crawler.settings.getpriority("DOWNLOAD_DELAY") < 40:
            spider.download_delay = spider.cfg.delay
        if spider.cfg.browser:  # settings are still mutable here (Scrapy >= 2.11)
            handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
            crawler.settings.set("DOWNLOAD_HANDLERS", {"http": handler, "https": handler}, priority="spider")
        return spider

    def state_key(self) -> str:
        return f"config={self.cfg.name}"

    # -- requests ---------------------------------------------------------------------------
    def _request(self, url: str, callback, **meta) -> Request:
        meta = dict(meta)
        if self.cfg.browser:
            meta.update(playwright=True, playwright_include_page=True)
            if self.cfg.wait_for:
                from scrapy_playwright.page import PageMethod

                meta["playwright_page_methods"] = [PageMethod("wait_for_selector", self.cfg.wait_for)]
        return Request(url, callback=callback, errback=self.failed, meta=meta)

    def list_url(self, page: int) -> str:
        lc = self.cfg.list
        number = lc.first_page + page - 1
        path = lc.url.format(page=number, offset=(page - 1) * lc.page_size)
        return urljoin(self.cfg.base_url + "/", path.lstrip("/") if not path.startswith("http") else path)

    async def start(self):
        yield self._request(self.list_url(1), self.parse_list, page=1)

    async def _page_html(self, response) -> str:
        page = response.meta.get("playwright_page")
        if page is not None:
            try:
                await page.close()
            finally:
                self.count("browser_pages_closed")
        if self.cfg.encoding:
            return response.body.decode(self.cfg.encoding, errors="replace")
        return response.text

    async def failed(self, failure):
        page = failure.request.meta.get("playwright_page")
        if page is not None:
            try:
                await page.close()
            finally:
                self.count("browser_pages_closed")
        self.count("request_errors")
        logger.warning("site %s: %s failed: %s", self.cfg.name, failure.request.url, failure.value)

    def _canonical(self, response) -> str:
        """The page's URL on the real site (links are resolved against it, mentions point at it)."""
        if response.meta.get("original_url"):
            return response.meta["original_url"]
        if self.base_url and response.url.startswith(self.base_url):
            return self.cfg.base_url + response.url[len(self.base_url):]
        return response.url

    def _stop(self, why: str) -> None:
        logger.info("site %s: stop paging (%s)", self.cfg.name, why)
        self.crawler.stats.set_value("site/stop_reason", why)

    def _report(self, problems: list[str], where: str) -> None:
        for problem in problems:
            self.count("unreadable_items")
            logger.warning("site %s %s: %s", self.cfg.name, where, problem)

    # -- callbacks ----------------------------------------------------------------------------
    async def parse_list(self, response):
        page = response.meta["page"]
        self.count("list_pages")
        html = await self._page_html(response)
        canonical = self._canonical(response)
        sel = Selector(text=html)
        found = 0
        dates = []
        if self.cfg.list.links:
            targets = sp.links(sel, self.cfg.list.links, canonical)
            found = len(targets)
            dates = self._list_dates(sel) if self.cfg.list.dates else []
            cutoff = self.cutoff
            for n, url in enumerate(targets):
                if cutoff and len(dates) == len(targets) and dates[n] and dates[n] <= cutoff:
                    self.count("old_threads_skipped")
                    continue  # nothing posted there since the cutoff
                yield self._request(url, self.parse_detail, dpage=1)
            dates = [d for d in dates if d]
        else:
            result = sp.parse_items(html, canonical, self.cfg)
            self._report(result.problems, f"list page {page}")
            found = len(result.mentions) + len(result.problems)
            dates = [m["published_at"] for m in result.mentions]
            for mention in result.mentions:
                yield mention
        if not found:
            self._stop(f"nothing on list page {page}")
            if page == 1:
                self.malformed(response, f"selector {self.cfg.list.links or self.cfg.items.selector!r} matched nothing")
            return
        if self.page_is_old(dates):
            self._stop(f"list page {page} is older than {self.cutoff:%Y-%m-%d %H:%M}")
            return
        if page >= self.max_pages:
            self._stop(f"pages={self.max_pages} reached")
            return
        if self.cfg.list.next:
            nxt = sp.links(sel, self.cfg.list.next, canonical)
            if not nxt:
                self._stop(f"no next link on list page {page}")
                return
            yield self._request(nxt[0], self.parse_list, page=page + 1)
        else:
            yield self._request(self.list_url(page + 1), self.parse_list, page=page + 1)

    def _list_dates(self, sel: Selector) -> list:
        from core.errors import InvalidInput
        from crawlers.parsing.dates import parse_cn_datetime

        out = []
        for value in sp.select(sel, self.cfg.list.dates).getall():
            try:
                out.append(parse_cn_datetime(value.strip()))
            except InvalidInput:
                out.append(None)
        return out

    async def parse_detail(self, response):
        dpage = response.meta["dpage"]
        self.count("detail_pages")
        html = await self._page_html(response)
        detail = self.cfg.detail
        title = None
        if detail and detail.title:
            title = sp.extract(Selector(text=html), FieldSpec.model_validate(field_spec(detail.title))) or None
        canonical = self._canonical(response)
        result = sp.parse_items(html, canonical, self.cfg,
                                thread_post=response.meta.get("thread_post"), is_first_detail_page=dpage == 1,
                                title=title)
        self._report(result.problems, f"detail {response.url}")
        if not result.mentions and not result.problems:
            self.malformed(response, f"items selector {self.cfg.items.selector!r} matched nothing on a detail page")
            return
        for mention in result.mentions:
            yield mention
        if detail and detail.next and dpage < detail.pages:
            nxt = sp.links(Selector(text=html), detail.next, canonical)
            if nxt:
                yield self._request(nxt[0], self.parse_detail, dpage=dpage + 1, thread_post=result.first_id)
