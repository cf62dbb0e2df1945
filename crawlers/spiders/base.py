"""The base spider: common arguments, base_url, incremental state and the page-stop rule.

Common arguments (`scrapy crawl NAME -a ...`), accepted by every spider:
  base_url=URL   send every request to this scheme+host instead of the real site (replay/mirror)
  since=DATE     ignore mentions published before DATE (YYYY-MM-DD, Shanghai time); stop paging there
  full=1         ignore the incremental state: crawl every page again (state is still updated)
  pages=N        at most N result pages (spider-specific default)

Incremental crawling: a spider with a `state_key()` (e.g. the keyword) gets the state saved by its
previous successful run for (spider name, key) from the store: `self.crawl_state`, a dict with
`newest_published_at`. `self.cutoff` is the later of `since` and that mark; `page_is_old(dates)` tells
a paging spider to stop. The new mark is saved by `crawlers.extensions.CrawlOutcome` only when the crawl
ends `finished`, so a blocked or interrupted crawl is re-done next time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

import scrapy

from core.errors import ConfigError, InvalidInput
from crawlers.middlewares.base_url import normalise_base_url
from crawlers.parsing.dates import parse_cn_datetime, parse_since

logger = logging.getLogger(__name__)

TRUE_WORDS = {"1", "true", "yes", "y", "on"}


def as_bool(value: object) -> bool:
    return str(value).strip().lower() in TRUE_WORDS if value is not None else False


def as_int(value: object, default: int, name: str, minimum: int = 1) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"-a {name}={value!r} is not a whole number") from None
    if number < minimum:
        raise ConfigError(f"-a {name}={value} must be >= {minimum}")
    return number


class OpmonSpider(scrapy.Spider):
    """Subclass and set `name`, `source`; declare `block_sites`, `cookie_site` as needed."""

    source: str = ""                       # Mention.source of what this spider yields
    block_sites: tuple[str, ...] = ()      # block detectors to run (crawlers/blocking.py)
    cookie_site: str | None = None         # OPMON_COOKIE_<SITE> / OPMON_COOKIE_FILE_<SITE>
    cookie_keep: tuple[str, ...] | None = None  # only these cookie names are sent (None = all)
    cookie_required: bool = False          # warn when the real site needs a cookie and none is set
    cookie_domains: tuple[str, ...] | None = None  # cookies go only to these domains (None = any host)
    default_pages: int = 50

    def __init__(self, *args, base_url: str | None = None, since: str | None = None,
                 full: str | None = None, pages: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.since: datetime | None = parse_since(since)
        except InvalidInput as exc:
            raise ConfigError(str(exc)) from exc
        self.base_url = normalise_base_url(base_url) if base_url else None
        self.full = as_bool(full)
        self.max_pages = as_int(pages, self.default_pages, "pages")
        self.crawl_state: dict | None = None
        self.newest_seen: datetime | None = None
        if self.base_url and getattr(self, "allowed_domains", None):
            self.allowed_domains = [*self.allowed_domains, urlsplit(self.base_url).hostname]

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.load_state()
        return spider

    # -- incremental state --------------------------------------------------------------------
    def state_key(self) -> str | None:
        """The query this crawl is about (keyword, forum, product id); None = no incremental state."""
        return None

    def load_state(self) -> None:
        key = self.state_key()
        if key is None or not self.settings.getbool("STORE_ENABLED", True):
            return
        try:
            from crawlers.storage import crawl_store

            state = crawl_store(self.crawler).get_crawl_state(self.name, key)
        except Exception as exc:  # no store = a full crawl, not a failed one
            logger.warning("incremental state unavailable (%s); crawling in full", exc)
            return
        if state and self.full:
            logger.info("full=1: ignoring the saved state for %s/%s", self.name, key)
            state = None
        self.crawl_state = state
        if state and state.get("newest_published_at"):
            logger.info("incremental: %s/%s has mentions up to %s; stopping when pages get older",
                        self.name, key, state["newest_published_at"])

    @property
    def known_until(self) -> datetime | None:
        if self.crawl_state and self.crawl_state.get("newest_published_at"):
            return parse_cn_datetime(self.crawl_state["newest_published_at"])
        return None

    @property
    def cutoff(self) -> datetime | None:
        """Pages whose mentions are all older than this end the paging."""
        marks = [d for d in (self.since, self.known_until) if d is not None]
        return max(marks) if marks else None

    def note_published(self, when: datetime) -> None:
        if self.newest_seen is None or when > self.newest_seen:
            self.newest_seen = when

    def page_is_old(self, dates: Iterable[datetime]) -> bool:
        """True when every date is at or before the cutoff (no new mentions on this page)."""
        cutoff = self.cutoff
        dates = list(dates)
        return cutoff is not None and bool(dates) and all(d <= cutoff for d in dates)

    def state_to_save(self) -> dict | None:
        newest = self.newest_seen
        if self.known_until and (newest is None or self.known_until > newest):
            newest = self.known_until
        if newest is None:
            return None
        return {"newest_published_at": newest.isoformat()}

    # -- helpers for subclasses ---------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"{self.name}/{key}", n)

    def malformed(self, response, why: str) -> None:
        """A page we could not parse: logged and counted, never fatal."""
        self.count("malformed_pages")
        logger.error("malformed page %s: %s", response.url, why)
