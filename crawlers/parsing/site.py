"""Extraction for config-driven sites (crawlers/sites_config.py): items and fields from selectors."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from parsel import Selector, SelectorList

from core.errors import InvalidInput
from crawlers.parsing.counts import parse_count
from crawlers.parsing.text import drop_keeping_tail, element_to_text
from crawlers.sites_config import FieldSpec, SiteConfig


@dataclass
class ItemsPage:
    mentions: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    first_id: str | None = None


def select(sel: Selector, selector: str) -> SelectorList:
    return sel.xpath(selector[6:].strip()) if selector.startswith("xpath:") else sel.css(selector)


def _is_element(m: Selector) -> bool:
    return hasattr(m.root, "tag") and isinstance(m.root.tag, str)


def _element_text(m: Selector, exclude: list[str]) -> str:
    if not exclude:
        return element_to_text(m)
    root = copy.deepcopy(m.root)  # never edit the page the other fields read
    clone = Selector(root=root, type="html")
    for css in exclude:
        for el in clone.css(css):
            drop_keeping_tail(el.root)
    return element_to_text(root)


def _strings(matches: SelectorList, exclude: list[str]) -> list[str]:
    # element nodes -> readable text; text/attribute results -> the string itself
    out = [_element_text(m, exclude) if _is_element(m) else str(m.get()) for m in matches]
    return [s.strip() for s in out if s and s.strip()]


def extract(sel: Selector, spec: FieldSpec) -> str | None:
    if spec.value is not None:
        return spec.value
    matches = sel.css(spec.css) if spec.css is not None else sel.xpath(spec.xpath)
    values = _strings(matches, spec.exclude)
    if not spec.all:
        values = values[:1]
    if spec.regex:
        kept = []
        for v in values:
            m = re.search(spec.regex, v, re.S)
            if m:
                kept.append(m.group(1) if m.groups() else m.group(0))
        values = kept
    text = spec.join.join(values).strip()
    return text or spec.default


def links(sel: Selector, selector: str, page_url: str) -> list[str]:
    out = []
    for m in select(sel, selector):
        href = m.attrib.get("href") if _is_element(m) else m.get()
        if href and not href.startswith(("javascript:", "#")):
            out.append(urljoin(page_url, href.strip()))
    return list(dict.fromkeys(out))


def _rating(value: str | None, scale: float) -> float | None:
    if value is None:
        return None
    m = re.search(r"\d+(?:\.\d+)?", value)
    if not m:
        return None
    rating = float(m.group(0)) * 5 / scale
    return round(rating, 2) if 1 <= rating <= 5 else None


def parse_items(html: str, canonical_url: str, cfg: SiteConfig, *, thread_post: str | None = None,
                is_first_detail_page: bool = False, title: str | None = None) -> ItemsPage:
    """Mentions on one page. `canonical_url` (the page's real URL) resolves relative links.

    In thread mode the first item of a detail's first page is the post; every other item is a comment
    whose parent is that post (`thread_post`: its id, carried to later pages).
    """
    sel = Selector(text=html)
    f = cfg.items.fields
    source = cfg.mention_source
    out = ItemsPage()
    thread = bool(cfg.detail and cfg.detail.thread)
    for n, item in enumerate(select(sel, cfg.items.selector)):
        native = extract(item, f.id)
        if not native:
            out.problems.append(f"item {n + 1}: no id ({f.id.css or f.id.xpath})")
            continue
        when = extract(item, f.published_at)
        try:
            if not when:
                raise InvalidInput("no date")
            published = cfg.parse_date(when)
        except (InvalidInput, ValueError) as exc:
            out.problems.append(f"item {native}: date {when!r}: {exc}")
            continue
        text = extract(item, f.text) or ""
        rating = _rating(extract(item, f.rating), cfg.items.rating_scale) if f.rating else None
        kind = cfg.items.kind
        parent = extract(item, f.parent_id) if f.parent_id else None
        item_title = extract(item, f.title) if f.title else None
        if thread:
            if is_first_detail_page and n == 0 and thread_post is None:
                kind, thread_post, item_title = "post", native, item_title or title
                out.first_id = native
            else:
                kind, parent = "comment", parent or thread_post
        url = extract(item, f.url) if f.url else None
        mention = {
            "id": f"{source}:{native}",
            "source": source,
            "kind": kind,
            "url": urljoin(canonical_url, url) if url else canonical_url,
            "parent_id": f"{source}:{parent}" if parent else None,
            "title": item_title,
            "text": text or (item_title if kind == "post" else "") or "",
            "author": {"id": extract(item, f.author_id) if f.author_id else None,
                       "name": extract(item, f.author_name) if f.author_name else None},
            "published_at": published,
            "metrics": {"likes": parse_count(extract(item, f.likes)) if f.likes else None,
                        "comments": parse_count(extract(item, f.comments)) if f.comments else None,
                        "reposts": parse_count(extract(item, f.reposts)) if f.reposts else None,
                        "rating": rating},
            "location": extract(item, f.location) if f.location else None,
        }
        if not mention["text"] and not (kind == "review" and rating is not None):
            out.problems.append(f"item {native}: empty text")
            continue
        out.mentions.append(mention)
    if out.first_id is None and thread_post is not None:
        out.first_id = thread_post
    return out
