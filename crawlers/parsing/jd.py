"""JD product reviews (site-formats §1.6, §3.6): the JSONP `fetchJSON_comment98(...)` comment pages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from core.errors import InvalidInput
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.parsing.text import html_to_text

SITE = "https://club.jd.com"
CALLBACK = "fetchJSON_comment98"
# Not customer text: JD fills it in when the buyer only gave stars (keep the rating, drop the words).
PLACEHOLDERS = frozenset({"此用户未填写评价内容", "此用户未及时填写评价内容，系统默认好评！", "此用户未及时评价，系统默认好评！"})
_JSONP = re.compile(r"^\s*[\w$.]+\s*\((.*)\)\s*;?\s*$", re.S)


@dataclass
class ReviewPage:
    mentions: list[dict]
    max_page: int | None            # JD's maxPage: pages are 0 .. maxPage-1
    summary: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def comments_url(product_id: str, page: int, score: int = 0, sort_type: int = 5) -> str:
    """`page` is 0-based, as JD counts it."""
    query = urlencode({"callback": CALLBACK, "productId": product_id, "score": score,
                       "sortType": sort_type, "page": page, "pageSize": 10, "isShadowSku": 0, "fold": 1})
    return f"{SITE}/comment/productPageComments.action?{query}"


def unwrap_jsonp(text: str) -> dict:
    """The JSON object inside `callback(...)`; plain JSON passes through. Raises InvalidInput."""
    m = _JSONP.match(text)
    payload = m.group(1) if m else text
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise InvalidInput(f"not JSON(P): {text[:80]!r}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"expected a JSON object, got {type(data).__name__}")
    return data


def _rating(score) -> float | None:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return None
    return value if 1 <= value <= 5 else None


def _count(value) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def parse_comments(text: str, product_id: str, *, keyword: str | None = None,
                   now: datetime | None = None) -> ReviewPage:
    data = unwrap_jsonp(text)
    if "comments" not in data:
        raise InvalidInput("no 'comments' in the response")
    max_page = data.get("maxPage")
    out = ReviewPage([], max_page if isinstance(max_page, int) else None,
                     data.get("productCommentSummary") or {})
    for c in data.get("comments") or []:
        if not isinstance(c, dict) or not c.get("id"):
            out.problems.append(f"comment without id: {str(c)[:60]!r}")
            continue
        try:
            published = parse_cn_datetime(c.get("creationTime"), now=now)
        except InvalidInput as exc:
            out.problems.append(f"comment {c['id']}: {exc}")
            continue
        content = html_to_text(str(c.get("content") or ""))
        if content in PLACEHOLDERS:
            content = ""
        rating = _rating(c.get("score"))
        if not content and rating is None:
            out.problems.append(f"comment {c['id']}: neither text nor a rating")
            continue
        out.mentions.append({
            "id": f"jd:{c['id']}",
            "source": "jd",
            "kind": "review",
            "url": f"https://item.jd.com/{c.get('referenceId') or product_id}.html#comment",
            "title": c.get("referenceName") or None,  # the product (and variant) reviewed
            "text": content,
            "author": {"name": c.get("nickname") or None},
            "published_at": published,
            "metrics": {"likes": _count(c.get("usefulVoteCount")), "comments": _count(c.get("replyCount")),
                        "rating": rating},
            "location": (c.get("userProvince") or "").strip() or None,
            "keyword": keyword,
        })
    return out
