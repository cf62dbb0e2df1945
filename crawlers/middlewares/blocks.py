"""Run the block detectors (crawlers/blocking.py) on every response; back off, retry, end `blocked`."""

from __future__ import annotations

import asyncio
import logging

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_from_coro

from crawlers import blocking

logger = logging.getLogger(__name__)


class BlockDetectionMiddleware:
    """Position 585: sees non-3xx responses decompressed and after redirects, before RetryMiddleware.

    Settings: BLOCK_RETRY_TIMES (3), BLOCK_BACKOFF_BASE (10 s), BLOCK_BACKOFF_MAX (300 s).
    Retry n waits min(BASE * 2**n, MAX). A request still blocked after the last retry ends the
    crawl: a block that survives minutes of backoff is a block of the crawler, not of one page.
    """

    def __init__(self, crawler, retry_times: int, backoff_base: float, backoff_max: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.retry_times = retry_times
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.closing = False

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(crawler, s.getint("BLOCK_RETRY_TIMES", 3), s.getfloat("BLOCK_BACKOFF_BASE", 10.0),
                   s.getfloat("BLOCK_BACKOFF_MAX", 300.0))

    def _sites(self) -> tuple[str, ...]:
        return tuple(getattr(self.crawler.spider, "block_sites", ()) or ())

    def _applies(self, response) -> bool:
        return not 300 <= response.status < 400  # 3xx: RedirectBlockDetectionMiddleware saw it already

    async def process_response(self, request, response):
        if request.meta.get("skip_block_detection") or not self._applies(response):
            return response
        if getattr(response, "request", None) is None:
            response.request = request  # the engine sets it later; detectors may need the meta now
        block = blocking.detect(response, self._sites())
        if block is None:
            return response
        self.stats.inc_value(f"blocked_responses/{block.signal}")
        attempt = request.meta.get("block_retries", 0)
        if self.closing:
            raise IgnoreRequest(f"crawl is ending blocked; dropping {request.url}")
        if attempt < self.retry_times:
            delay = min(self.backoff_base * (2 ** attempt), self.backoff_max)
            logger.warning("Block signal %s on %s (%s); retry %d/%d in %.1fs", block.signal,
                           response.url, block.detail, attempt + 1, self.retry_times, delay)
            if delay > 0:
                await asyncio.sleep(delay)
            return self._retry_request(request, attempt + 1)
        self.end_blocked(block)
        raise IgnoreRequest(f"blocked: {block.signal}")

    @staticmethod
    def _retry_request(request, attempt: int):
        meta = dict(request.meta, block_retries=attempt)
        if meta.get("opmon_proxy"):
            meta.pop("proxy", None)  # let proxy rotation pick another one
        url = request.url
        hops = meta.pop("redirect_urls", None)
        if hops:  # blocked after a redirect (to a login page): retry what we asked for
            url = hops[0]
            for key in ("redirect_times", "redirect_ttl", "redirect_reasons"):
                meta.pop(key, None)
        return request.replace(url=url, meta=meta, dont_filter=True)

    def end_blocked(self, block: blocking.Block) -> None:
        if self.closing or self.stats.get_value("blocked_signal"):
            self.closing = True
            return
        self.closing = True
        self.stats.set_value(f"blocked/{block.signal}", 1)
        self.stats.set_value("blocked_signal", block.signal)
        logger.error("CRAWL BLOCKED: signal=%s url=%s detail=%s (persisted after %d retries); "
                     "ending the crawl with finish_reason=blocked", block.signal, block.url, block.detail,
                     self.retry_times)
        engine = self.crawler.engine
        if engine is not None:
            deferred_from_coro(engine.close_spider_async(reason="blocked"))


class RedirectBlockDetectionMiddleware(BlockDetectionMiddleware):
    """Position 610: sees 3xx responses *before* RedirectMiddleware (600) follows them, so that a
    redirect to a login page or a redirect loop is a block signal instead of a fetched login page
    or a silently discarded request ("max redirections reached"). Detectors get the 3xx response
    (status and Location header; the body may still be compressed here)."""

    def _applies(self, response) -> bool:
        return 300 <= response.status < 400
