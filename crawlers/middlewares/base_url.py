"""`-a base_url=URL`: send every request to a mirror or replay server instead of the real site.

Scheme and host (and port) are replaced; path and query stay. A path in base_url is a prefix
(`http://127.0.0.1:8080/mirror` + `/detail/1` -> `/mirror/detail/1`).

The spider middleware rewrites requests as the spider yields them, so the dupefilter, JOBDIR and
scrapy-redis see the final URL; the downloader middleware catches what never passed the spider
(redirect targets such as a login page on another host).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

logger = logging.getLogger(__name__)


def normalise_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NotConfigured(f"base_url {base_url!r} must look like http://host[:port][/prefix]")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def rewrite_url(url: str, base_url: str | None) -> str:
    if not base_url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    base = urlsplit(base_url)
    if parts.netloc == base.netloc and parts.scheme == base.scheme and parts.path.startswith(base.path):
        return url
    return urlunsplit((base.scheme, base.netloc, base.path + (parts.path or "/"), parts.query, parts.fragment))


def _spider_base_url(spider) -> str | None:
    return getattr(spider, "base_url", None) or None


def _rewritten(request: Request, base_url: str | None) -> Request:
    new = rewrite_url(request.url, base_url)
    if new == request.url:
        return request
    meta = dict(request.meta)
    meta.setdefault("original_url", request.url)
    return request.replace(url=new, meta=meta)


class BaseUrlSpiderMiddleware(BaseSpiderMiddleware):
    def get_processed_request(self, request: Request, response) -> Request | None:
        return _rewritten(request, _spider_base_url(self.crawler.spider))


class BaseUrlDownloaderMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request):
        base = _spider_base_url(self.crawler.spider)
        new = _rewritten(request, base)
        if new is request:
            return None
        # Returning a request re-schedules it; only off-base redirects get here.
        logger.debug("base_url: %s -> %s", request.url, new.url)
        return new.replace(dont_filter=True)
