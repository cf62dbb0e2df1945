"""Optional proxy rotation from a list; a proxy that keeps failing is benched, not retried forever.

Enable with OPMON_PROXIES="http://h1:8080,http://user:pw@h2:3128" or OPMON_PROXY_FILE (one per line).
Each request gets the next healthy proxy (round robin). A proxy that fails PROXY_MAX_FAILURES times in
a row (connection errors, timeouts, block signals) is benched for PROXY_BENCH_SECONDS, doubling each
time it is benched again. When every proxy is benched the crawl ends with finish_reason
`proxies_exhausted` instead of spinning. A request whose meta already has `proxy` is left alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro

logger = logging.getLogger(__name__)


@dataclass
class _Proxy:
    url: str
    failures: int = 0
    benched_until: float = 0.0
    times_benched: int = 0

    @property
    def label(self) -> str:  # never log credentials
        p = urlsplit(self.url)
        return f"{p.scheme}://{p.hostname}:{p.port}" if p.hostname else "proxy"


def read_proxy_list(settings) -> list[str]:
    raw = settings.get("OPMON_PROXIES") or ""
    items = raw if isinstance(raw, list | tuple) else str(raw).replace("\n", ",").split(",")
    path = settings.get("OPMON_PROXY_FILE")
    if path:
        items = [*items, *Path(path).expanduser().read_text(encoding="utf-8").splitlines()]
    out = []
    for item in items:
        item = item.strip()
        if item and not item.startswith("#"):
            out.append(item if "://" in item else f"http://{item}")
    return out


class ProxyRotationMiddleware:
    def __init__(self, crawler, proxies: list[str], max_failures: int, bench_s: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.proxies = [_Proxy(p) for p in proxies]
        self.max_failures = max_failures
        self.bench_s = bench_s
        self._next = 0
        self._exhausted = False

    @classmethod
    def from_crawler(cls, crawler):
        proxies = read_proxy_list(crawler.settings)
        if not proxies:
            raise NotConfigured("no proxies configured (OPMON_PROXIES / OPMON_PROXY_FILE)")
        s = crawler.settings
        return cls(crawler, proxies, s.getint("PROXY_MAX_FAILURES", 3), s.getfloat("PROXY_BENCH_SECONDS", 600))

    def _pick(self) -> _Proxy | None:
        now = time.monotonic()
        for _ in range(len(self.proxies)):
            p = self.proxies[self._next % len(self.proxies)]
            self._next += 1
            if p.benched_until <= now:
                return p
        return None

    def _by_url(self, url: str | None) -> _Proxy | None:
        return next((p for p in self.proxies if p.url == url), None)

    def process_request(self, request):
        if request.meta.get("proxy") and not request.meta.get("opmon_proxy"):
            return None  # set by the spider on purpose
        proxy = self._pick()
        if proxy is None:
            self._all_benched()
            raise IgnoreRequest("every proxy is benched")
        request.meta["proxy"] = proxy.url
        request.meta["opmon_proxy"] = proxy.url
        self.stats.inc_value(f"proxy/requests/{proxy.label}")
        return None

    def process_response(self, request, response):
        proxy = self._by_url(request.meta.get("opmon_proxy"))
        if proxy is not None and response.status < 500:
            proxy.failures = 0
        return response

    def process_exception(self, request, exception):
        proxy = self._by_url(request.meta.get("opmon_proxy"))
        if proxy is None:
            return None
        proxy.failures += 1
        self.stats.inc_value(f"proxy/failures/{proxy.label}")
        if proxy.failures >= self.max_failures:
            proxy.times_benched += 1
            seconds = self.bench_s * 2 ** (proxy.times_benched - 1)
            proxy.benched_until = time.monotonic() + seconds
            proxy.failures = 0
            self.stats.inc_value("proxy/benched")
            logger.warning("proxy %s benched for %.0fs after %d failures in a row (%s)", proxy.label,
                           seconds, self.max_failures, type(exception).__name__)
        request.meta.pop("proxy", None)  # RetryMiddleware's retry will pick the next healthy one
        return None

    def _all_benched(self) -> None:
        if self._exhausted:
            return
        self._exhausted = True
        logger.error("every proxy (%d) is benched; ending the crawl with finish_reason=proxies_exhausted",
                     len(self.proxies))
        self.stats.set_value("proxy/exhausted", 1)
        if self.crawler.engine is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="proxies_exhausted"))
