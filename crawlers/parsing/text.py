"""HTML fragments (post bodies) to the plain text the Mention model carries.

Kept: emoticon images as their alt text (`[doge]`), `@nick`, `#话题#`, place names, link text.
Dropped: "全文"/"展开"/"收起全文" links, icon-font glyphs (`i.wbicon`), zero-width and private-use
characters, scripts. `<br>` and block elements become newlines.
"""

from __future__ import annotations

import html as htmllib
import re

import lxml.html
from lxml import etree

_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\ue000-\uf8ff]")
_SPACES = re.compile(r"[ \t\r\f\v\xa0\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_UNFOLD_TEXT = {"全文", "展开", "展开全文", "收起", "收起全文", "展开c", "收起d"}
_UNFOLD_ACTIONS = {"fl_unfold", "fl_fold"}
_BLOCK = {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"}
_SKIP = {"script", "style", "noscript", "template"}
_LOCATION_PREFIX = re.compile(r"^\s*(?:发布于|来自|IP属地|IP 属地|ip属地|所在地)\s*[:：]?\s*")


def _is_unfold_link(el) -> bool:
    if el.get("action-type") in _UNFOLD_ACTIONS:
        return True
    text = "".join(el.itertext()).strip()
    return _INVISIBLE.sub("", text) in _UNFOLD_TEXT


def _walk(el, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag == "br":
        out.append("\n")
    elif tag == "img":
        out.append(el.get("alt") or "")
    elif (tag in _SKIP or (tag == "a" and _is_unfold_link(el))
          or (tag == "i" and "wbicon" in (el.get("class") or ""))):
        pass
    elif tag:  # comments and processing instructions have a callable tag: text skipped, tail kept
        if tag in _BLOCK:
            out.append("\n")
        out.append(el.text or "")
        for child in el:
            _walk(child, out)
        if tag in _BLOCK:
            out.append("\n")
    out.append(el.tail or "")


def _tidy(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# Fast path for the small, regular fragments of JSON APIs (m.weibo.cn `text`): regexes instead of a
# parse tree, ~10x faster. Anything unusual (nested anchors, comments, scripts, tables) takes the
# lxml path, which is the reference behaviour (tests run both on the same inputs).
_FAST_OK = re.compile(r"<(?!/?(?:a|span|img|br|i|p|div|b|em|strong)\b)[a-zA-Z!/?]", re.I)
_ICON_GLYPH = re.compile(r"<i\b[^>]*\bclass=[\"'][^\"']*wbicon[^\"']*[\"'][^>]*>[^<]*</i>", re.I)
_ANCHOR = re.compile(r"<a\b([^>]*)>((?:(?!</?a\b).)*?)</a\s*>", re.I | re.S)
_IMG = re.compile(r"<img\b[^>]*?\balt=(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+))[^>]*>|<img\b[^>]*>", re.I)
_BR = re.compile(r"<br\s*/?>", re.I)
_BLOCK_TAG = re.compile(r"</?(?:p|div)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_TAGS_ONLY = re.compile(r"<[^>]*>")


def _anchor(m: re.Match) -> str:
    attrs, inner = m.group(1), m.group(2)
    if "fl_unfold" in attrs or "fl_fold" in attrs:
        return ""
    if _INVISIBLE.sub("", htmllib.unescape(_TAGS_ONLY.sub("", inner))).strip() in _UNFOLD_TEXT:
        return ""
    return inner


def _fast_html_to_text(fragment: str) -> str:
    s = _ICON_GLYPH.sub("", fragment)
    s = _ANCHOR.sub(_anchor, s)
    s = _IMG.sub(lambda m: m.group(1) or m.group(2) or m.group(3) or "", s)
    s = _BR.sub("\n", s)
    s = _BLOCK_TAG.sub("\n", s)
    s = _ANY_TAG.sub("", s)
    return _tidy(htmllib.unescape(s))


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment; plain text passes through (only tidied)."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _tidy(fragment)
    if not _FAST_OK.search(fragment) and "<a" not in _ANCHOR.sub("", fragment):
        return _fast_html_to_text(fragment)
    return _lxml_html_to_text(fragment)


def _lxml_html_to_text(fragment: str) -> str:
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy(re.sub(r"<[^>]+>", "", fragment))
    out: list[str] = [root.text or ""]
    for child in root:
        _walk(child, out)
    return _tidy("".join(out))


def element_to_text(el) -> str:
    """Plain text of an lxml element (or a parsel Selector's root) with the same rules."""
    root = getattr(el, "root", el)
    if isinstance(root, str):
        return html_to_text(root)
    out: list[str] = [root.text or ""]
    for child in root:
        _walk(child, out)
    return _tidy("".join(out))


def clean_location(value: str | None) -> str | None:
    """'发布于 上海' / '来自北京' / 'IP属地:广东' -> the place; None when nothing is left."""
    if not value:
        return None
    place = _LOCATION_PREFIX.sub("", _INVISIBLE.sub("", str(value))).strip()
    return place or None


def drop_keeping_tail(el) -> None:
    """Remove an lxml element but keep its tail text (lxml's remove() would drop that too)."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)
