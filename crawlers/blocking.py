"""Block signals: how a site tells us it is blocking the crawler, as opposed to having no data.

Blocked is not empty. A site that blocks us answers with a captcha, a login wall, a rate-limit code
or an error page; a site with no results answers normally with an empty list. Detectors tell them
apart; `crawlers.middlewares.BlockDetectionMiddleware` runs them on every response, retries a
blocked request with exponential backoff and, if the block persists, ends the crawl with
`finish_reason` = "blocked", an ERROR log line naming the signal and a `blocked/<signal>` stat.

Adding a site's detectors (next to its spider, so that loading the spider registers them)::

    from crawlers.blocking import block_detector

    @block_detector("tieba", "captcha", "403 with <title>百度安全验证</title>")
    def tieba_captcha(response) -> bool | str | None:
        if response.status == 403 and "百度安全验证" in response.text:
            return "security check page"      # truthy = blocked; a string becomes the detail

and declare the site on the spider: `block_sites = ("tieba",)`. The signal is then
"tieba_captcha" (stat `blocked/tieba_captcha`). Detectors for site "*" run for every spider.

A detector sees every response twice over its life, in one of two places:
- a 3xx response *before* it is followed (check `response.status` and the `Location` header; the
  body may still be compressed) — so a 302 to a login page is caught as a redirect;
- any other response decompressed, after redirects were followed (`response.request.meta
  ["redirect_urls"]` lists the hops, `response.url` is the final URL).
`response.request` is always set. A detector must be cheap (status, headers, URL, a bounded prefix
of the body) and must never raise (an exception is logged, not treated as a block).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

logger = logging.getLogger(__name__)

DetectorFunc = Callable[..., "bool | str | None"]
ANY_SITE = "*"


@dataclass(frozen=True)
class Detector:
    site: str
    name: str
    func: DetectorFunc
    description: str = ""

    @property
    def signal(self) -> str:
        return self.name if self.site == ANY_SITE else f"{self.site}_{self.name}"


@dataclass(frozen=True)
class Block:
    """A detected block: which signal fired and a human-readable detail (never secrets)."""

    signal: str
    detail: str
    url: str


_REGISTRY: dict[str, dict[str, Detector]] = {}


def register(site: str, name: str, func: DetectorFunc, description: str = "") -> Detector:
    """Register (or replace, by site and name) a detector."""
    if not re.fullmatch(r"[a-z0-9_]+|\*", site) or not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"detector site/name must be lowercase identifiers, got {site!r}/{name!r}")
    det = Detector(site, name, func, description or (func.__doc__ or "").strip().split("\n")[0])
    _REGISTRY.setdefault(site, {})[name] = det
    return det


def block_detector(site: str, name: str, description: str = "") -> Callable[[DetectorFunc], DetectorFunc]:
    """Decorator form of `register`."""

    def deco(func: DetectorFunc) -> DetectorFunc:
        register(site, name, func, description)
        return func

    return deco


def detectors_for(sites: Iterable[str]) -> list[Detector]:
    """The detectors that apply to a spider declaring `sites`: its own, then the generic ones."""
    out: list[Detector] = []
    for site in [*sites, ANY_SITE]:
        out.extend(_REGISTRY.get(site, {}).values())
    return out


def all_detectors() -> list[Detector]:
    return [d for site in _REGISTRY.values() for d in site.values()]


def detect(response, sites: Iterable[str]) -> Block | None:
    """The first detector that fires on `response`, as a Block; None when the response looks normal."""
    for det in detectors_for(sites):
        try:
            hit = det.func(response)
        except Exception:  # a broken detector must not break the crawl
            logger.exception("block detector %s failed on %s", det.signal, response.url)
            continue
        if hit:
            detail = hit if isinstance(hit, str) else (det.description or det.signal)
            return Block(det.signal, detail, response.url)
    return None


# ---- helpers detectors share ------------------------------------------------------------------

LOGIN_HOSTS = ("passport.weibo.com", "passport.weibo.cn", "login.sina.com.cn", "wappass.baidu.com",
               "passport.baidu.com", "passport.jd.com", "verify.meituan.com", "account.dianping.com")
_LOGIN_PATH = re.compile(r"/(?:visitor|login|signin|sso|passport)(?:[/._?]|$)", re.I)


def looks_like_login_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.hostname in LOGIN_HOSTS or bool(_LOGIN_PATH.search(parts.path))


def body_head(response, limit: int = 4096) -> bytes:
    return response.body[:limit]


def is_json_body(response) -> bool:
    head = response.body[:64].lstrip()
    return head[:1] in (b"{", b"[")


# ---- generic signals (every spider) -----------------------------------------------------------

@block_detector(ANY_SITE, "http_418", "HTTP 418: rate limit (weibo.cn, others)")
def _http_418(response) -> bool:
    return response.status == 418


@block_detector(ANY_SITE, "http_429", "HTTP 429 Too Many Requests")
def _http_429(response) -> bool:
    return response.status == 429


@block_detector(ANY_SITE, "redirect_loop", "a redirect back to a URL already visited (e.g. Weibo from abroad)")
def _redirect_loop(response) -> str | None:
    if not 300 <= response.status < 400:
        return None
    location = (response.headers.get(b"Location") or b"").decode("latin-1")
    request = getattr(response, "request", None)
    if not location or request is None:
        return None
    target = urljoin(response.url, location)
    seen = [*(request.meta.get("redirect_urls") or []), request.url,
            *([request.meta["original_url"]] if request.meta.get("original_url") else [])]
    return f"redirect loop back to {target}" if target in seen else None
