"""Dianping shop reviews (site-formats §3.7): `/shop/{id}/review_all[/p{n}]`, rendered by a browser.

The review text arrives obfuscated; `crawlers.dianping_decoder` turns it back into characters, given
the decoders built from the page's own CSS and sprites. This module finds what to fetch for that
(`stylesheet_urls`) and parses the decoded page into mention dicts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

import lxml.html
from parsel import Selector

from core.errors import InvalidInput
from crawlers.dianping_decoder import DecodeStats, GlyphDecoder, decode_element
from crawlers.parsing.counts import parse_count
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.parsing.text import element_to_text

SITE = "https://www.dianping.com"
_STARS = re.compile(r"\bsml-str(\d{1,2})\b")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:\s+\d{1,2}:\d{2})?")
_SCORE = re.compile(r"^\s*([^：:\s]+)\s*[：:]\s*(.+?)\s*$")
_DROP = (".less-words", ".more-words", "script", "style")


@dataclass
class ReviewPage:
    mentions: list[dict]
    next_url: str | None
    sub_scores: dict[str, dict[str, str]] = field(default_factory=dict)  # review id -> {口味: "4.5", 人均: "88元"}
    problems: list[str] = field(default_factory=list)
    decode: DecodeStats = field(default_factory=DecodeStats)


def review_url(shop_id: str, page: int = 1) -> str:
    # An explicit /p1 triggers Dianping's captcha: page 1 has no suffix.
    return f"{SITE}/shop/{shop_id}/review_all" + (f"/p{page}" if page > 1 else "")


def stylesheet_urls(html: str, page_url: str) -> list[str]:
    """The obfuscation stylesheets (`…/svgtextcss/….css`) the page links to."""
    sel = Selector(text=html)
    hrefs = sel.css("link[rel=stylesheet]::attr(href), link[type='text/css']::attr(href)").getall()
    return list(dict.fromkeys(urljoin(page_url, h) for h in hrefs if "svgtextcss" in h))


def stars_to_rating(classes: str) -> float | None:
    """`sml-str40` -> 4.0, `sml-str45` -> 4.5; `sml-str0`/missing -> None (no rating given)."""
    m = _STARS.search(classes or "")
    if not m:
        return None
    value = int(m.group(1)) / 10
    return value if 1 <= value <= 5 else None


def sub_scores(review: Selector) -> dict[str, str]:
    out = {}
    for item in review.css(".review-rank .score .item"):
        m = _SCORE.match(item.xpath("string(.)").get(""))
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _paren_count(sel: Selector, after: str) -> int | None:
    text = sel.xpath(f".//a[contains(@class,'{after}')]/following-sibling::em[1]/text()").get()
    return parse_count(text) if text else None


def parse_review_page(html: str, page_url: str, shop_id: str, decoders: Sequence[GlyphDecoder], *,
                      keyword: str | None = None, now: datetime | None = None) -> ReviewPage:
    doc = lxml.html.fromstring(html)
    stats = DecodeStats()
    for words in doc.cssselect(".review-words"):
        decode_element(words, decoders, stats)
    sel = Selector(root=doc, type="html")
    nxt = sel.css(".reviews-pages a.NextPage::attr(href)").get()
    out = ReviewPage([], urljoin(page_url, nxt) if nxt else None, decode=stats)
    for review in sel.css(".reviews-items .main-review"):
        rid = review.css(".actions a[data-id]::attr(data-id)").get()
        if not rid:
            out.problems.append("review without .actions a[data-id]")
            continue
        words = review.css(".review-words")
        text = ""
        if words:
            for css in _DROP:
                for el in words[0].css(css):
                    el.root.getparent().remove(el.root)
            text = element_to_text(words[0])
        when = _DATE.search(review.css(".misc-info .time").xpath("string(.)").get(""))
        try:
            published = parse_cn_datetime(when.group(0) if when else "", now=now)
        except InvalidInput as exc:
            out.problems.append(f"review {rid}: {exc}")
            continue
        stars = review.css(".review-rank .sml-rank-stars::attr(class)").get("")
        rating = stars_to_rating(stars)
        if not text and rating is None:
            out.problems.append(f"review {rid}: neither text nor stars")
            continue
        name_a = review.css(".dper-info a.name")
        user_href = name_a.attrib.get("href", "") if name_a else ""
        user_id = user_href.rstrip("/").rsplit("/", 1)[-1] if "/member/" in user_href else None
        scores = sub_scores(review)
        out.sub_scores[rid] = scores
        out.mentions.append({
            "id": f"dianping:{rid}",
            "source": "dianping",
            "kind": "review",
            "url": f"{SITE}/review/{rid}",
            "title": sel.css("h1.shop-name::text").get("").strip() or None,
            "text": text,
            "author": {"id": user_id, "name": name_a.xpath("string(.)").get("").strip() or None if name_a else None},
            "published_at": published,
            "metrics": {"rating": rating, "likes": _paren_count(review, "praise"),
                        "comments": _paren_count(review, "reply")},
            "keyword": keyword,
        })
    return out
