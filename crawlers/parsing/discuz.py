"""Discuz! X boards (site-formats §3.5): forumdisplay lists and viewthread pages.

Works on both URL styles: `forum.php?mod=viewthread&tid=T&page=n` and the rewritten
`thread-T-P-1.html` (`forum-F-P.html` for lists). Pure functions; the spider requests what they find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urljoin, urlsplit

from parsel import Selector

from core.errors import InvalidInput
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.parsing.text import drop_keeping_tail, element_to_text

_REWRITTEN_THREAD = re.compile(r"thread-(\d+)-(\d+)-\d+\.html$")
_REWRITTEN_FORUM = re.compile(r"forum-(\d+)-(\d+)\.html$")
# Parts of a post body that are not the poster's words: edit stamps, quoted posts, hidden-content
# notices, attachment boxes, rating/comment blocks.
_NOT_WORDS = ("i.pstatus", "div.quote", "div.blockcode .cp", "div.locked", "ignore_js_op",
              "div.attach_nopermission", "span.attach_popup", "div.tip", "script", "style")
_GATED_WORDS = ("登录", "权限", "没有权限", "无权", "需要登录", "请先登录")


@dataclass
class ThreadRef:
    tid: str
    url: str
    title: str
    sticky: bool
    replies: int | None = None


@dataclass
class ForumPage:
    threads: list[ThreadRef]
    next_url: str | None
    empty: bool          # the board says it has no threads (p.emp)
    gated: str | None    # a login/permission message instead of a list


@dataclass
class ThreadPage:
    tid: str | None
    title: str | None
    mentions: list[dict] = field(default_factory=list)
    first_pid: str | None = None
    next_url: str | None = None
    gated: str | None = None
    locked: list[str] = field(default_factory=list)   # pids whose content is wholly locked/hidden
    hidden: list[str] = field(default_factory=list)   # pids with a hidden part (reply-to-see, paid)
    problems: list[str] = field(default_factory=list)


def thread_id_from_url(url: str) -> tuple[str | None, int]:
    """(tid, page) from either URL style; (None, 1) when the URL is not a thread."""
    parts = urlsplit(url)
    if m := _REWRITTEN_THREAD.search(parts.path):
        return m.group(1), int(m.group(2))
    q = parse_qs(parts.query)
    if q.get("mod") == ["viewthread"] or parts.path.endswith("viewthread.php"):
        tid = (q.get("tid") or [None])[0]
        try:
            page = int((q.get("page") or ["1"])[0])
        except ValueError:
            page = 1
        return (tid if tid and tid.isdigit() else None), page
    return None, 1


def board_root(base_url: str) -> str:
    """The board's root as a directory URL: `https://bbs.x.com/bbs` -> `https://bbs.x.com/bbs/`."""
    parts = urlsplit(base_url)
    path = parts.path
    if path.endswith((".php", ".html")):
        path = path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}/"


def forum_url(base: str, fid: str, page: int) -> str:
    return urljoin(board_root(base), f"forum.php?mod=forumdisplay&fid={fid}&page={page}")


def thread_url(base: str, tid: str, page: int = 1) -> str:
    return urljoin(board_root(base), f"forum.php?mod=viewthread&tid={tid}" + (f"&page={page}" if page > 1 else ""))


def post_url(base: str, tid: str, pid: str) -> str:
    return urljoin(board_root(base), f"forum.php?mod=redirect&goto=findpost&ptid={tid}&pid={pid}")


def gate_message(sel: Selector) -> str | None:
    """The text of Discuz's showmessage box when it asks for a login or a permission, else None."""
    box = sel.css("#messagetext")
    if not box and not sel.css("#messagelogin"):
        return None
    text = box.xpath("string(.)").get("").strip() if box else ""
    if sel.css("#messagelogin") or any(w in text for w in _GATED_WORDS):
        return text or "login required"
    return None


def parse_forum_page(html: str, page_url: str) -> ForumPage:
    sel = Selector(text=html)
    threads = []
    for tbody in sel.css("table#threadlisttableid > tbody, #threadlisttableid tbody"):
        tbody_id = tbody.attrib.get("id", "")
        m = re.fullmatch(r"(stick|normal)thread_(\d+)", tbody_id)
        if not m:
            continue
        a = tbody.css("th a.xst, th a.s")
        if not a:
            continue
        href = urljoin(page_url, a[0].attrib.get("href", ""))
        replies = tbody.css("td.num a.xi2::text").get()
        threads.append(ThreadRef(
            tid=m.group(2), url=href, title=a[0].xpath("string(.)").get("").strip(),
            sticky=m.group(1) == "stick", replies=int(replies) if replies and replies.isdigit() else None,
        ))
    if len({t.tid for t in threads}) != len(threads):  # some templates render rows twice
        seen: set[str] = set()
        threads = [t for t in threads if not (t.tid in seen or seen.add(t.tid))]
    nxt = sel.css("div.pg a.nxt::attr(href)").get()
    return ForumPage(
        threads=threads,
        next_url=urljoin(page_url, nxt) if nxt else None,
        empty=bool(sel.css("p.emp")) and not threads,
        gated=gate_message(sel) if not threads else None,
    )


def _post_time(em: Selector) -> str | None:
    """`发表于 2024-1-2 10:00`, or for recent posts `发表于 <span title="2024-1-2 10:00">3 天前</span>`."""
    titled = em.css("span::attr(title)").get()
    if titled:
        return titled.strip()
    text = em.xpath("string(.)").get("").strip()
    return text or None


def _body_text(td: Selector) -> str:
    for css in _NOT_WORDS:
        for el in td.css(css):
            drop_keeping_tail(el.root)
    return element_to_text(td.root)


def parse_thread_page(html: str, page_url: str, *, site: str, canonical_base: str | None = None,
                      first_pid: str | None = None, keyword: str | None = None,
                      now: datetime | None = None) -> ThreadPage:
    """Posts of one viewthread page; floor 1 is the post, the others comment on it.

    `site` makes the ids (`discuz:{site}:{pid}`); `canonical_base` is the board's real URL, used for
    mention URLs when the crawl runs against a mirror.
    """
    sel = Selector(text=html)
    tid, page = thread_id_from_url(page_url)
    out = ThreadPage(tid=tid, title=None, first_pid=first_pid)
    out.title = sel.css("#thread_subject").xpath("string(.)").get("").strip() or None
    if not sel.css("table.plhin, div#postlist table[id^=pid]"):
        out.gated = gate_message(sel)
    nxt = sel.css("div.pg a.nxt::attr(href)").get()
    out.next_url = urljoin(page_url, nxt) if nxt else None
    base = canonical_base or page_url

    for table in sel.xpath("//table[starts-with(@id,'pid')]"):
        pid = table.attrib["id"][3:]
        if not pid.isdigit():
            continue
        floor_text = table.css(f"#postnum{pid} em::text").get()
        floor = int(floor_text) if floor_text and floor_text.isdigit() else None
        is_post = floor == 1 or (floor is None and page == 1 and out.first_pid is None)
        if is_post and out.first_pid is None:
            out.first_pid = pid
        body = table.css(f"td.t_f#postmessage_{pid}") or table.css("td.t_f")
        if not body:
            if table.css("div.locked"):
                out.locked.append(pid)
            else:
                out.problems.append(f"post {pid}: no td.t_f body")
            continue
        if body.css("div.locked"):
            out.hidden.append(pid)
        em = table.css(f"em#authorposton{pid}")
        when = _post_time(em[0]) if em else None
        if not when:
            out.problems.append(f"post {pid}: no em#authorposton{pid}")
            continue
        try:
            published = parse_cn_datetime(when, now=now)
        except InvalidInput as exc:
            out.problems.append(f"post {pid}: {exc}")
            continue
        text = _body_text(body[0])
        author = table.css("div.authi a.xw1, td.pls div.authi a")
        uid = None
        if author:
            uid = (parse_qs(urlsplit(author[0].attrib.get("href", "")).query).get("uid") or [None])[0]
        if not text and not is_post:
            out.problems.append(f"post {pid}: empty body")
            continue
        url = thread_url(base, tid) if is_post else post_url(base, tid, pid)
        out.mentions.append({
            "id": f"discuz:{site}:{pid}",
            "source": "discuz",
            "kind": "post" if is_post else "comment",
            "url": url,
            "parent_id": None if is_post or not out.first_pid else f"discuz:{site}:{out.first_pid}",
            "title": out.title if is_post else None,
            "text": text or out.title or "",
            "author": {"id": uid, "name": author[0].xpath("string(.)").get("").strip() or None} if author else {},
            "published_at": published,
            "keyword": keyword,
        })
    return out
