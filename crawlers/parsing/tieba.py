"""Baidu Tieba PC pages (site-formats §3.4): forum list, thread pages, old search.

Pure functions from HTML to plain data (mention dicts in the `core.mention.Mention` shape); the
spider only decides what to request next. URLs in mentions always point at the real site, also
when the crawl runs against a replay server (`-a base_url=`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from core.errors import InvalidInput
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.parsing.text import clean_location, element_to_text

logger = logging.getLogger(__name__)

SITE = "https://tieba.baidu.com"
_COMMENT = re.compile(r"^\s*<!--|-->\s*$")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}(?: \d{1,2}:\d{2}(?::\d{2})?)?$")
_FLOOR = re.compile(r"^(\d+)楼$")
_PAGES = re.compile(r"共\s*(\d+)\s*页")
_REPLY_PREFIX = re.compile(r"^回复[:：]\s*")


@dataclass
class ThreadRef:
    tid: str
    title: str
    first_post_id: str | None = None
    reply_num: int | None = None
    is_top: bool = False
    author_name: str | None = None


@dataclass
class ForumPage:
    threads: list[ThreadRef]
    has_next: bool
    found_list: bool  # False: neither the BigPipe comment nor a visible list (layout change?)


@dataclass
class ThreadPage:
    tid: str
    title: str | None
    total_pages: int
    reply_num: int | None
    first_pid: str | None
    mentions: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # floors we could not read (logged, counted)
    forum_id: str | None = None
    with_replies: list[str] = field(default_factory=list)  # floors that have 楼中楼 replies


@dataclass
class FloorReplies:
    mentions: list[dict]
    total_pages: int
    problems: list[str] = field(default_factory=list)


@dataclass
class SearchPage:
    mentions: list[dict]
    has_next: bool
    problems: list[str] = field(default_factory=list)


def thread_url(tid: str, page: int = 1) -> str:
    return f"{SITE}/p/{tid}" + (f"?pn={page}" if page > 1 else "")


def forum_url(name: str, page: int) -> str:
    """Page 1-based; Tieba pages by offset: pn = 50 * (page - 1)."""
    from urllib.parse import quote

    return f"{SITE}/f?kw={quote(name)}&ie=utf-8&pn={50 * (page - 1)}"


def floor_replies_url(tid: str, pid: str, fid: str, page: int = 1) -> str:
    """楼中楼 (replies inside a floor), 10 per page."""
    return f"{SITE}/p/comment?tid={tid}&pid={pid}&fid={fid}&pn={page}"


def search_url(keyword: str, page: int) -> str:
    from urllib.parse import quote

    return (f"{SITE}/f/search/res?isnew=1&kw=&qw={quote(keyword)}&rn=20&un=&only_thread=0"
            f"&sm=1&sd=&ed=&ie=utf-8&pn={page}")


def _json_attr(value: str | None) -> dict:
    """data-field JSON (parsel already undid the &quot; entities); {} when absent or broken."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def thread_list_html(html: str) -> str | None:
    """The thread list, which BigPipe ships inside an HTML comment in `code.pagelet_html`."""
    sel = Selector(text=html)
    for code in sel.css("code.pagelet_html"):
        if "thread_list" not in (code.attrib.get("id") or ""):
            continue
        inner = "".join(code.xpath("./comment()").getall()) or code.xpath("string(.)").get("")
        return _COMMENT.sub("", inner.strip())
    return None


def parse_forum_page(html: str) -> ForumPage:
    inner = thread_list_html(html)
    sel = Selector(text=inner) if inner is not None else Selector(text=html)
    items = sel.css("li.j_thread_list")
    threads = []
    for li in items:
        data = _json_attr(li.attrib.get("data-field"))
        tid = str(li.attrib.get("data-tid") or data.get("id") or "").strip()
        if not tid.isdigit():
            continue
        a = li.css("a.j_th_tit")
        title = (a.attrib.get("title") or element_to_text(a[0])) if a else ""
        threads.append(ThreadRef(
            tid=tid, title=title or "",
            first_post_id=str(data["first_post_id"]) if data.get("first_post_id") else None,
            reply_num=data.get("reply_num") if isinstance(data.get("reply_num"), int) else None,
            is_top=bool(data.get("is_top")) or bool(li.css(".thread_top, i.icon-top")),
            author_name=data.get("author_name") or data.get("author_nickname") or None,
        ))
    has_next = bool(sel.css("#frs_list_pager a.next"))
    return ForumPage(threads, has_next, found_list=inner is not None or bool(items))


def _tail(post: Selector) -> tuple[str | None, str | None, int | None]:
    """(IP location, time text, floor number) from `div.post-tail-wrap` (old pages: span.tail-info only)."""
    location = when = None
    floor = None
    for span in post.css(".post-tail-wrap span, .core_reply_tail span.tail-info"):
        text = span.xpath("string(.)").get("").strip()
        if "IP属地" in text:
            location = clean_location(text)
        elif _DATE.match(text):
            when = text
        elif m := _FLOOR.match(text):
            floor = int(m.group(1))
    return location, when, floor


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_thread_page(html: str, tid: str, page: int = 1, *, first_pid: str | None = None,
                      keyword: str | None = None, now: datetime | None = None) -> ThreadPage:
    """Floors of one thread page. Floor 1 is the post; the others are comments on it.

    `first_pid` (from the forum list or page 1) links comments on later pages to their post.
    """
    sel = Selector(text=html)
    title = sel.css("h3.core_title_txt::attr(title)").get() or sel.css("h1.core_title_txt::attr(title)").get()
    reply_box = sel.css("li.l_reply_num").xpath("string(.)").get("")
    m = _PAGES.search(reply_box)
    total_pages = int(m.group(1)) if m else 1
    reply_num = _int(sel.css("li.l_reply_num span.red::text").get())
    out = ThreadPage(tid, title, total_pages, reply_num, first_pid)

    floors = []
    for post in sel.css("div.l_post"):
        pid = (post.attrib.get("data-pid") or "").strip()
        data = _json_attr(post.attrib.get("data-field"))
        content = data.get("content") if isinstance(data.get("content"), dict) else {}
        pid = pid or str(content.get("post_id") or "")
        if not pid.isdigit():
            continue  # ads and recommendation blocks share the l_post class but carry no post id
        floors.append((pid, post, data, content))

    for pid, post, data, content in floors:
        location, when, tail_floor = _tail(post)
        post_no = _int(content.get("post_no")) or tail_floor
        if post_no == 1 and out.first_pid is None:
            out.first_pid = pid
        if content.get("forum_id") and out.forum_id is None:
            out.forum_id = str(content["forum_id"])
        if (_int(content.get("comment_num")) or 0) > 0:
            out.with_replies.append(pid)
        body = post.css(f"#post_content_{pid}")
        if not body:
            out.problems.append(f"floor {pid}: no div#post_content_{pid}")
            continue
        if not when:
            out.problems.append(f"floor {pid}: no time in the post tail")
            continue
        try:
            published = parse_cn_datetime(when, now=now)
        except InvalidInput as exc:
            out.problems.append(f"floor {pid}: {exc}")
            continue
        author = data.get("author") if isinstance(data.get("author"), dict) else {}
        name = (post.css("a.p_author_name").xpath("string(.)").get("").strip()
                or author.get("user_nickname") or author.get("user_name") or None)
        is_post = post_no == 1
        mention = {
            "id": f"tieba:{pid}",
            "source": "tieba",
            "kind": "post" if is_post else "comment",
            "url": f"{SITE}/p/{tid}?pid={pid}#{pid}" if not is_post else thread_url(tid),
            "parent_id": None if is_post or not out.first_pid else f"tieba:{out.first_pid}",
            "title": title if is_post else None,
            "text": element_to_text(body[0]),
            "author": {"id": str(author["user_id"]) if author.get("user_id") else None, "name": name},
            "published_at": published,
            "metrics": {"comments": reply_num if is_post else _int(content.get("comment_num"))},
            "location": location,
            "keyword": keyword,
        }
        if not mention["text"] and not is_post:
            out.problems.append(f"floor {pid}: empty body (image-only floor)")
            continue
        if not mention["text"]:
            mention["text"] = title or ""
        out.mentions.append(mention)
    return out


def parse_floor_replies(html: str, tid: str, floor_pid: str, *, keyword: str | None = None,
                        now: datetime | None = None) -> FloorReplies:
    """One page of 楼中楼 replies (`/p/comment`): comments whose parent is the floor they sit in."""
    sel = Selector(text=html)
    pager = _json_attr(sel.css("li.lzl_li_pager::attr(data-field)").get())
    out = FloorReplies([], _int(pager.get("total_page")) or 1)
    for li in sel.css("li.lzl_single_post"):
        data = _json_attr(li.attrib.get("data-field"))
        spid = str(data.get("spid") or "")
        if not spid.isdigit():
            out.problems.append("floor reply without spid")
            continue
        when = li.css("span.lzl_time::text").get("").strip()
        try:
            published = parse_cn_datetime(when, now=now)
        except InvalidInput as exc:
            out.problems.append(f"floor reply {spid}: {exc}")
            continue
        body = li.css("span.lzl_content_main")
        text = element_to_text(body[0]) if body else ""
        if not text:
            out.problems.append(f"floor reply {spid}: empty")
            continue
        name = li.css("div.lzl_cnt > a.j_user_card").xpath("string(.)").get("").strip()
        out.mentions.append({
            "id": f"tieba:{spid}",
            "source": "tieba",
            "kind": "comment",
            "url": f"{SITE}/p/{tid}?pid={floor_pid}&cid={spid}#{spid}",
            "parent_id": f"tieba:{floor_pid}",
            "text": text,
            "author": {"name": name or data.get("showname") or data.get("user_name") or None},
            "published_at": published,
            "keyword": keyword,
        })
    return out


def parse_search_page(html: str, keyword: str, *, now: datetime | None = None) -> SearchPage:
    """Old search results (`/f/search/res`): each hit is one post, with the abstract Baidu shows.

    A hit titled `回复:…` is a reply (a comment); its thread's first floor is not on the page, so
    `parent_id` stays empty. Crawl the forum for the full thread.
    """
    sel = Selector(text=html)
    out = SearchPage([], bool(sel.css(".pager a.next")))
    for hit in sel.css("div.s_post"):
        a = hit.css("span.p_title a")
        href = a.attrib.get("href", "") if a else ""
        tid = (a.attrib.get("data-tid") if a else None) or ""
        query = parse_qs(urlsplit(href).query)
        pid = (query.get("pid") or [""])[0] or urlsplit(href).fragment
        if not (tid.isdigit() and pid.isdigit()):
            out.problems.append(f"search hit without tid/pid: {href!r}")
            continue
        title = a.xpath("string(.)").get("").strip()
        when = hit.css("font.p_date::text, .p_date::text").get("").strip()
        try:
            published = parse_cn_datetime(when, now=now)
        except InvalidInput as exc:
            out.problems.append(f"search hit {pid}: {exc}")
            continue
        is_reply = bool(_REPLY_PREFIX.match(title))
        authors = hit.xpath(".//a[contains(@href,'/i/sys/jump') or contains(@href,'/home/main')]")
        content = hit.css("div.p_content")
        out.mentions.append({
            "id": f"tieba:{pid}",
            "source": "tieba",
            "kind": "comment" if is_reply else "post",
            "url": f"{SITE}/p/{tid}?pid={pid}#{pid}",
            "parent_id": None,
            "title": None if is_reply else title,
            "text": element_to_text(content[0]) if content else title,
            "author": {"name": authors[0].xpath("string(.)").get("").strip() or None} if authors else {},
            "published_at": published,
            "keyword": keyword,
        })
    return out
