"""Downloader and spider middlewares shared by every spider (enabled in crawlers/settings.py)."""

from crawlers.middlewares.base_url import BaseUrlDownloaderMiddleware, BaseUrlSpiderMiddleware, rewrite_url
from crawlers.middlewares.blocks import BlockDetectionMiddleware, RedirectBlockDetectionMiddleware
from crawlers.middlewares.cookies import SiteCookiesMiddleware, load_site_cookies
from crawlers.middlewares.proxies import ProxyRotationMiddleware

__all__ = [
    "BaseUrlDownloaderMiddleware",
    "BaseUrlSpiderMiddleware",
    "BlockDetectionMiddleware",
    "ProxyRotationMiddleware",
    "RedirectBlockDetectionMiddleware",
    "SiteCookiesMiddleware",
    "load_site_cookies",
    "rewrite_url",
]
