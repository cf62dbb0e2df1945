"""Config files for the `site` spider: one YAML per forum or review site, no Python needed.

    scrapy crawl site -a config=sites/NAME.yaml

A config says where the list pages are and how they page, which elements are mentions, and where
each mention field sits in them (CSS or XPath). Every mistake is a ConfigError that names the file
and the field (`sites/x.yaml: items.fields.published_at: field required`), raised before any request.
See docs/crawling.md ("Config-driven sites") for a worked example; the schema is below.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError
from core.mention import KNOWN_SOURCES, SOURCE_PATTERN

_PROBE = Selector(text="<html><body><p id='x'>x</p></body></html>")
MENTION_FIELDS = ("id", "text", "published_at", "title", "url", "author_name", "author_id", "parent_id",
                  "likes", "comments", "reposts", "rating", "location")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    """Where one value sits inside an item element.

    `css` or `xpath` (relative to the item; Scrapy's `::text` / `::attr(name)` work in CSS). Without
    `::text`/`::attr` the element's readable text is taken (line breaks kept, scripts dropped).
    `regex`: keep the first group (or the whole match). `all`: join every match with `join`.
    `value`: a constant instead of a selector. `exclude`: CSS selectors of parts to drop before taking
    an element's text (quoted posts, signatures, "read more" links).
    """

    css: str | None = None
    xpath: str | None = None
    exclude: list[str] = Field(default_factory=list)
    regex: str | None = None
    all: bool = False
    join: str = "\n"
    value: str | None = None
    default: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [k for k in ("css", "xpath", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of css, xpath or value")
        if self.css is not None:
            try:
                _PROBE.css(self.css)
            except Exception as exc:  # cssselect raises several types
                raise ValueError(f"invalid CSS selector {self.css!r}: {exc}") from None
        if self.xpath is not None:
            try:
                _PROBE.xpath(self.xpath)
            except Exception as exc:
                raise ValueError(f"invalid XPath {self.xpath!r}: {exc}") from None
        for css in self.exclude:
            try:
                _PROBE.css(css)
            except Exception as exc:
                raise ValueError(f"exclude: invalid CSS selector {css!r}: {exc}") from None
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.regex!r}: {exc}") from None
        return self


def field_spec(value):
    """Shorthand: a plain string is a CSS selector; `xpath:...` is an XPath."""
    if isinstance(value, str):
        return {"xpath": value[6:].strip()} if value.startswith("xpath:") else {"css": value}
    return value


class Fields(_Strict):
    id: FieldSpec = Field(description="the site's own id of the post/review (unique within the site)")
    text: FieldSpec
    published_at: FieldSpec
    title: FieldSpec | None = None
    url: FieldSpec | None = None
    author_name: FieldSpec | None = None
    author_id: FieldSpec | None = None
    parent_id: FieldSpec | None = None
    likes: FieldSpec | None = None
    comments: FieldSpec | None = None
    reposts: FieldSpec | None = None
    rating: FieldSpec | None = None
    location: FieldSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data):
        if isinstance(data, dict):
            return {k: field_spec(v) for k, v in data.items()}
        return data


class ItemsConfig(_Strict):
    selector: str = Field(description="CSS (or `xpath:...`) selecting one element per mention")
    kind: Literal["post", "comment", "review"] = "post"
    fields: Fields
    date_format: str | None = Field(default=None, description="strptime format; default: any common form")
    rating_scale: float = Field(default=5, gt=0, description="the site's best rating (scaled to 1-5)")

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        try:
            _PROBE.xpath(v[6:].strip()) if v.startswith("xpath:") else _PROBE.css(v)
        except Exception as exc:
            raise ValueError(f"invalid selector {v!r}: {exc}") from None
        return v

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str | None) -> str | None:
        if v is not None and "%" not in v:
            raise ValueError(f"{v!r} is not a strptime format (e.g. '%Y-%m-%d %H:%M')")
        return v


class ListConfig(_Strict):
    url: str = Field(description="list page URL or path; {page} (1-based) and {offset} are filled in")
    page_size: int = Field(default=20, ge=1, description="items per list page, for {offset}")
    first_page: int = Field(default=1, ge=0, description="the number of the first page in {page}")
    pages: int = Field(default=5, ge=1, description="default for -a pages=N")
    next: str | None = Field(default=None, description="selector of the next-page link (instead of {page})")
    links: str | None = Field(default=None, description="selector of detail links; items are on those pages")
    dates: str | None = Field(default=None, description="with links: selector of each entry's last-activity "
                                                        "date, so since/incremental runs skip old threads")

    @model_validator(mode="after")
    def _paging(self) -> ListConfig:
        has_placeholder = "{page}" in self.url or "{offset}" in self.url
        if not has_placeholder and not self.next:
            raise ValueError("url needs {page} or {offset}, or give `next` (a next-page link selector)")
        if self.dates and not self.links:
            raise ValueError("dates: only with links (list pages that link to threads)")
        for name in ("next", "links", "dates"):
            sel = getattr(self, name)
            if sel:
                try:
                    _PROBE.xpath(sel[6:].strip()) if sel.startswith("xpath:") else _PROBE.css(sel)
                except Exception as exc:
                    raise ValueError(f"{name}: invalid selector {sel!r}: {exc}") from None
        try:
            self.url.format(page=1, offset=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"url {self.url!r}: only {{page}} and {{offset}} may appear in braces ({exc})") from None
        return self


class DetailConfig(_Strict):
    next: str | None = Field(default=None, description="selector of the next page of a detail (thread)")
    pages: int = Field(default=20, ge=1)
    thread: bool = Field(default=False, description="first item on a detail's first page is the post; "
                                                    "the rest are comments on it")
    title: str | None = Field(default=None, description="selector of the thread title (for the post)")


class BlockRule(_Strict):
    """A block signal in config form: all given conditions must hold."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    status: int | None = None
    text: str | None = Field(default=None, description="substring of the body (checked in the page encoding)")
    url_contains: str | None = None

    @model_validator(mode="after")
    def _some_condition(self) -> BlockRule:
        if self.status is None and not self.text and not self.url_contains:
            raise ValueError("give at least one of status, text, url_contains")
        return self


class SiteConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="config name (lowercase, digits, _)")
    source: str | None = Field(default=None, description="Mention.source; default: the name")
    base_url: str = Field(description="the real site, https://host[/prefix]")
    encoding: str | None = Field(default=None, description="force this charset (for sites that mislabel it)")
    timezone: str = "Asia/Shanghai"
    browser: bool = Field(default=False, description="render pages in Chromium (JS-built pages)")
    wait_for: str | None = Field(default=None, description="with browser: CSS selector to wait for")
    delay: float = Field(default=2.0, ge=0, description="seconds between requests (politeness)")
    cookie_site: str | None = Field(default=None, description="OPMON_COOKIE_<NAME> to send (default: name)")
    list: ListConfig
    detail: DetailConfig | None = None
    items: ItemsConfig
    blocked: list[BlockRule] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{v!r} must look like https://host[/prefix]")
        return v.rstrip("/")

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r}") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SiteConfig:
        source = self.source or self.name
        if not SOURCE_PATTERN.match(source):
            raise ValueError(f"source {source!r}: lowercase letters, digits, _ or -")
        if source in KNOWN_SOURCES:
            raise ValueError(f"source {source!r} belongs to a built-in spider; pick another name")
        if self.detail and not self.list.links:
            raise ValueError("detail: needs list.links (the selector of the links to follow)")
        return self

    @property
    def mention_source(self) -> str:
        return self.source or self.name

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def parse_date(self, text: str) -> datetime:
        """With date_format: strptime in the site's time zone; otherwise every common form."""
        from crawlers.parsing.dates import parse_cn_datetime

        if self.items.date_format:
            dt = datetime.strptime(text.strip(), self.items.date_format)
            return dt if dt.tzinfo else dt.replace(tzinfo=self.tz)
        return parse_cn_datetime(text)


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "(top level)"


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config; every problem is a ConfigError naming the file and field."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read site config {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with name, base_url, list, items")
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err.get("msg", "invalid").removeprefix("Value error, ")
            if err.get("type") == "missing":
                msg = "field required"
            elif err.get("type") == "extra_forbidden":
                msg = "unknown field (typo?)"
            problems.append(f"{_where(err.get('loc', ()))}: {msg}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from exc
