"""Per-site cookies from a setting, the environment or a file, sent as one `Cookie` header.

Why a header and not Scrapy's CookiesMiddleware: Weibo treats a cookie jar that picked up extra
cookies (SSOLoginState, visitor cookies) as "polluted" and answers 432 (weibo-crawler #578, PR #582);
weibo-search #61 #580 need COOKIES_ENABLED=False. So spiders that set `cookie_site` get exactly the
cookies named in their `cookie_keep` (Weibo: only SUB), and the jar stays off.

Where cookies come from, first found wins (SITE upper-cased, e.g. WEIBO):
  1. Scrapy setting / env var  OPMON_COOKIE_<SITE>       "SUB=...; SUBP=..."
  2. Scrapy setting / env var  OPMON_COOKIE_FILE_<SITE>  a file holding either that header string,
     a JSON object {"SUB": "..."}, a JSON list of browser-exported cookies [{"name","value",...}],
     or a Netscape cookies.txt.
Values are never logged; only cookie names are.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import ConfigError

logger = logging.getLogger(__name__)


def parse_cookie_text(text: str) -> dict[str, str]:
    text = text.strip().lstrip("\ufeff")
    if not text:
        return {}
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"cookie file is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        return {str(c["name"]): str(c["value"]) for c in data if isinstance(c, dict) and "name" in c}
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if lines and all(len(ln.split("\t")) >= 7 for ln in lines):  # Netscape cookies.txt
        return {ln.split("\t")[5]: ln.split("\t")[6].strip() for ln in lines}
    out: dict[str, str] = {}
    for part in text.replace("\n", ";").split(";"):
        if "=" in part:
            name, _, value = part.strip().partition("=")
            if name.strip():
                out[name.strip()] = value.strip()
    return out


def load_site_cookies(site: str, settings=None) -> tuple[dict[str, str], str | None]:
    """(cookies, where they came from) for `site`; ({}, None) when none are configured."""
    key = f"OPMON_COOKIE_{site.upper()}"
    file_key = f"OPMON_COOKIE_FILE_{site.upper()}"

    def lookup(name: str) -> str | None:
        value = settings.get(name) if settings is not None else None
        return value or os.environ.get(name) or None

    if value := lookup(key):
        return parse_cookie_text(value), key
    if path := lookup(file_key):
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{file_key}: cannot read cookie file {path}: {exc.strerror}") from exc
        return parse_cookie_text(text), f"{file_key}={path}"
    return {}, None


class SiteCookiesMiddleware:
    """Adds the spider's site cookies as a Cookie header (unless the request sets its own)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.header: str | None = None
        self._loaded_for = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _load(self, spider) -> None:
        self._loaded_for = spider
        site = getattr(spider, "cookie_site", None)
        if not site:
            return
        cookies, origin = load_site_cookies(site, self.crawler.settings)
        keep = getattr(spider, "cookie_keep", None)
        if keep is not None:
            dropped = sorted(set(cookies) - set(keep))
            cookies = {k: v for k, v in cookies.items() if k in keep}
            if dropped:
                logger.info("cookies for %s: not sending %s (only %s are needed)", site,
                            ", ".join(dropped), ", ".join(keep))
        if cookies:
            self.header = "; ".join(f"{k}={v}" for k, v in cookies.items())
            logger.info("cookies for %s: sending %s (from %s)", site, ", ".join(cookies), origin)
            self.crawler.stats.set_value("cookies/site", site)
        elif getattr(spider, "cookie_required", False):
            logger.warning("no cookies configured for %s: set OPMON_COOKIE_%s or OPMON_COOKIE_FILE_%s; "
                           "the real site answers logged-out requests with a login page (a block)",
                           site, site.upper(), site.upper())

    def process_request(self, request):
        spider = self.crawler.spider
        if self._loaded_for is not spider:
            self._load(spider)
        if (self.header and not request.meta.get("no_cookies") and b"Cookie" not in request.headers
                and cookie_host_allowed(spider, request)):
            request.headers[b"Cookie"] = self.header
        return None


def cookie_host_allowed(spider, request) -> bool:
    """A site's cookies go only to the site's own domains (`spider.cookie_domains`), never to a CDN
    or a third party. The host is the real site's, before any `base_url` rewrite."""
    domains = getattr(spider, "cookie_domains", None)
    if not domains:
        return True
    host = (urlsplit(request.meta.get("original_url") or request.url).hostname or "").lower()
    mirror = getattr(spider, "base_url", None)
    if mirror and "original_url" not in request.meta and host == (urlsplit(mirror).hostname or "").lower():
        return True  # built directly against a mirror: the mirror stands for the site
    return any(host == d or host.endswith("." + d) for d in domains)
