"""Dianping text de-obfuscation (site-formats §3.7).

Dianping replaces characters of review text with elements the browser draws from elsewhere:

* SVG sprites: `<svgmtsi class="xyz12"></svgmtsi>`. The page's own CSS (a `svgtextcss/*.css` on
  s3plus.meituan.net) has `.xyz12{background:-14.0px -97.0px;}` and a prefix rule
  `svgmtsi[class^="xy"]{...background-image:url(//.../abc.svg)...}`; the SVG holds rows of text
  (`<text x="…" y="41">…</text>`, or `<textPath xlink:href="#1">…</textPath>` over `<path d="M0 41 H600">`).
  The character is in the row with the smallest baseline y >= |Y|, at column |X| / font-size.
* Per-load WOFF fonts: private-use code points (`&#xe1f3;`) inside `<svgmtsi class="review">`,
  `<e class="address">`, `<d class="num">`, drawn by a font that changes on every load.

Both are `GlyphDecoder`s: given an obfuscated element's tag, classes and text, return the real
characters or None. `decode_html` rewrites a page fragment with any number of decoders, so the WOFF
variant plugs in next to the SVG one (`FontMapDecoder` takes a code-point map built from the font).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin

import lxml.html
from lxml import etree

logger = logging.getLogger(__name__)

OBFUSCATED_TAGS = ("svgmtsi", "e", "d")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}", re.S)
_CLASS_OFFSET = re.compile(r"^\s*\.([\w-]+)\s*$")
_BACKGROUND = re.compile(r"background(?:-position)?\s*:\s*(-?[\d.]+)px\s+(-?[\d.]+)px")
_PREFIX_SELECTOR = re.compile(r"""(\w+)\[class\^=["']?([\w-]+)["']?\]""")
_IMAGE = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_FONT_SIZE = re.compile(r"font-size\s*:\s*([\d.]+)px")
_PATH_Y = re.compile(r"M\s*[-\d.]+\s*[, ]\s*([-\d.]+)")
_SVG_NS = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


class DecodeError(ValueError):
    """A CSS or SVG sprite file we cannot make sense of."""


class GlyphDecoder(Protocol):
    """Turns one obfuscated element into the characters it shows, or None if it is not its kind."""

    def decode(self, tag: str, classes: Sequence[str], text: str) -> str | None: ...


@dataclass
class SpriteRow:
    y: float
    text: str
    xs: list[float] | None = None  # explicit x of every character (`<text x="0 14 28 …">`)


@dataclass
class Sprite:
    rows: list[SpriteRow]
    font_size: float

    def char_at(self, x: float, y: float) -> str | None:
        x, y = abs(x), abs(y)
        row = next((r for r in sorted(self.rows, key=lambda r: r.y) if r.y >= y), None)
        if row is None:
            return None
        if row.xs:
            # the character whose box [x_i, x_i + font_size) holds x
            for i, xi in enumerate(row.xs):
                if xi - 0.5 <= x < xi + self.font_size - 0.5 and i < len(row.text):
                    return row.text[i]
            return None
        col = int(round(x / self.font_size, 3))
        return row.text[col] if 0 <= col < len(row.text) else None


def parse_sprite(svg: str | bytes) -> Sprite:
    """Rows of an SVG text sprite in either layout (`<text y>` rows or `<textPath>` over paths)."""
    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                              recover=True))
    except etree.XMLSyntaxError as exc:
        raise DecodeError(f"SVG sprite is not XML: {exc}") from exc
    if root is None:
        raise DecodeError("SVG sprite is empty")
    style = " ".join(root.xpath("//*[local-name()='style']/text()")) + " " + (root.get("style") or "")
    sizes = [float(s) for s in _FONT_SIZE.findall(style)]
    for t in root.iter(f"{_SVG_NS}text", "text"):
        sizes += [float(s) for s in _FONT_SIZE.findall(t.get("style") or "")]
        if t.get("font-size"):
            sizes.append(float(t.get("font-size").rstrip("px")))
    font_size = sizes[0] if sizes else 14.0

    paths = {}
    for p in root.iter(f"{_SVG_NS}path", "path"):
        m = _PATH_Y.search(p.get("d") or "")
        if p.get("id") and m:
            paths[p.get("id")] = float(m.group(1))
    rows: list[SpriteRow] = []
    for t in root.iter(f"{_SVG_NS}text", "text"):
        tps = list(t.iter(f"{_SVG_NS}textPath", "textPath"))
        if tps:
            for tp in tps:
                ref = (tp.get(_XLINK_HREF) or tp.get("href") or "").lstrip("#")
                if ref in paths:
                    rows.append(SpriteRow(paths[ref], "".join(tp.itertext())))
            continue
        if t.get("y") is None:
            continue
        xs = [float(v) for v in re.split(r"[\s,]+", (t.get("x") or "").strip()) if v]
        text = "".join(t.itertext())
        rows.append(SpriteRow(float(t.get("y")), text, xs if len(xs) > 1 else None))
    if not rows:
        raise DecodeError("SVG sprite has no text rows")
    return Sprite(rows, font_size)


@dataclass
class SpriteCss:
    offsets: dict[str, tuple[float, float]] = field(default_factory=dict)   # class -> (x, y)
    prefixes: dict[str, str] = field(default_factory=dict)                  # class prefix -> sprite URL
    tags: dict[str, str] = field(default_factory=dict)                      # class prefix -> tag name

    def sprite_url_for(self, cls: str) -> str | None:
        best = max((p for p in self.prefixes if cls.startswith(p)), key=len, default=None)
        return self.prefixes.get(best) if best else None


def parse_css(css: str, css_url: str = "") -> SpriteCss:
    """Class offsets and prefix -> sprite URL from the page's `svgtextcss` stylesheet."""
    out = SpriteCss()
    for selectors, body in _RULE.findall(css):
        image = _IMAGE.search(body)
        for sel in selectors.split(","):
            sel = sel.strip()
            if image and (m := _PREFIX_SELECTOR.search(sel)):
                out.prefixes[m.group(2)] = urljoin(css_url, image.group(1).strip())
                out.tags[m.group(2)] = m.group(1)
            elif (m := _CLASS_OFFSET.match(sel)) and (bg := _BACKGROUND.search(body)):
                out.offsets[m.group(1)] = (float(bg.group(1)), float(bg.group(2)))
    if not out.offsets:
        raise DecodeError("stylesheet has no class background offsets (not a svgtextcss file?)")
    return out


class SvgSpriteDecoder:
    """`<svgmtsi class="…">` (empty) -> the character its CSS offset points at in its sprite."""

    def __init__(self, css: SpriteCss, sprites: dict[str, Sprite]):
        self.css = css
        self.sprites = sprites  # sprite URL -> parsed sprite

    def decode(self, tag: str, classes: Sequence[str], text: str) -> str | None:
        if text.strip():
            return None  # glyphs with content are the WOFF-font kind
        for cls in classes:
            if cls not in self.css.offsets:
                continue
            url = self.css.sprite_url_for(cls)
            sprite = self.sprites.get(url) if url else None
            if sprite is None:
                return None
            return sprite.char_at(*self.css.offsets[cls])
        return None


class FontMapDecoder:
    """Private-use glyphs drawn by a per-load WOFF font, given the font's code point -> character map
    (from `GlyphMatcher.font_map`, which reads the font named in the page's CSS)."""

    def __init__(self, mapping: dict[str, str], classes: Iterable[str] = ("review", "address", "num")):
        self.mapping = mapping
        self.classes = set(classes)

    def decode(self, tag: str, classes: Sequence[str], text: str) -> str | None:
        if not text or not (self.classes & set(classes)):
            return None
        if not any(ch in self.mapping for ch in text):
            return None
        return "".join(self.mapping.get(ch, ch) for ch in text)


# ---- per-load WOFF fonts -----------------------------------------------------------------------

_FONT_FACE_FAMILY = re.compile(r"font-family\s*:\s*['\"]?([^;'\"}]+)['\"]?")
_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_CLASS_IN_SELECTOR = re.compile(r"^\s*(?:\w+)?\.([\w-]+)\s*$")


def parse_font_css(css: str, css_url: str = "") -> dict[str, str]:
    """Class -> WOFF URL from `@font-face{font-family:F;src:url(….woff)}` and `.review{font-family:F}`."""
    families: dict[str, str] = {}
    classes: dict[str, str] = {}
    for selectors, body in _RULE.findall(css):
        fam = _FONT_FACE_FAMILY.search(body)
        if not fam:
            continue
        family = fam.group(1).strip()
        if selectors.strip().lower() == "@font-face":
            woffs = [u for u in _URL.findall(body) if u.split("?")[0].endswith(".woff")]
            if woffs:
                families[family] = urljoin(css_url, woffs[-1].strip())
            continue
        for sel in selectors.split(","):
            if m := _CLASS_IN_SELECTOR.match(sel):
                classes[m.group(1)] = family
    return {cls: families[fam] for cls, fam in classes.items() if fam in families}


def glyph_shapes(font: bytes) -> dict[str, tuple]:
    """Each mapped character of a font (WOFF/TTF/OTF) -> its outline as a hashable tuple."""
    import io

    try:
        from fontTools.pens.recordingPen import RecordingPen
        from fontTools.ttLib import TTFont
    except ImportError as exc:  # a declared dependency; say what is missing rather than crash obscurely
        raise DecodeError("fontTools is not installed (pip install fonttools)") from exc
    try:
        tt = TTFont(io.BytesIO(font), lazy=True)
        cmap = tt.getBestCmap() or {}
        glyphs = tt.getGlyphSet()
        out = {}
        for cp, name in cmap.items():
            pen = RecordingPen()
            glyphs[name].draw(pen)
            if pen.value:  # empty glyphs (spaces) would all look alike
                out[chr(cp)] = tuple((op, tuple(args)) for op, args in pen.value)
        return out
    except Exception as exc:  # fontTools raises many types on a broken file
        raise DecodeError(f"cannot read font: {type(exc).__name__}: {exc}") from exc


class GlyphMatcher:
    """Recovers a per-load font's code point -> character map by glyph outline.

    Dianping redraws the same glyphs under new private-use code points on every load. One reference
    font whose map is known (captured once by an operator: `reference.woff` plus `reference.json`,
    `{"e100": "味", ...}`) names every outline; a new font's code points are matched to it by shape.
    """

    def __init__(self, reference_font: bytes, reference_map: dict[str, str]):
        shapes = glyph_shapes(reference_font)
        by_char = {self._key(k): v for k, v in reference_map.items()}
        self.by_shape = {shape: by_char[ch] for ch, shape in shapes.items() if ch in by_char}
        if not self.by_shape:
            raise DecodeError("the reference map names none of the reference font's glyphs")

    @staticmethod
    def _key(k: str) -> str:
        """`"e100"`, `"0xe100"`, `"uniE100"`, `"U+E100"` or the character itself."""
        k = k.strip()
        if len(k) == 1:
            return k
        return chr(int(re.sub(r"^(?:0x|uni|u\+)", "", k, flags=re.I), 16))

    @classmethod
    def from_dir(cls, path) -> GlyphMatcher:
        import json
        from pathlib import Path

        folder = Path(path)
        try:
            font = (folder / "reference.woff").read_bytes()
            mapping = json.loads((folder / "reference.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DecodeError(f"font reference {folder}: needs reference.woff and reference.json ({exc})") from exc
        return cls(font, mapping)

    def font_map(self, font: bytes) -> dict[str, str]:
        return {ch: self.by_shape[shape] for ch, shape in glyph_shapes(font).items() if shape in self.by_shape}


@dataclass
class DecodeStats:
    decoded: int = 0
    undecoded: int = 0


def decode_element(root, decoders: Sequence[GlyphDecoder], stats: DecodeStats | None = None) -> None:
    """Replace, in place, every obfuscated element under `root` (lxml) by the text it shows.

    An element no decoder understands becomes U+FFFD, so that the loss is visible and countable.
    """
    stats = stats if stats is not None else DecodeStats()
    for el in list(root.iter(*OBFUSCATED_TAGS)):
        classes = (el.get("class") or "").split()
        if el.tag != "svgmtsi" and not classes:
            continue
        text = "".join(el.itertext())
        chars = None
        for dec in decoders:
            chars = dec.decode(el.tag, classes, text)
            if chars is not None:
                break
        if chars is None:
            if el.tag != "svgmtsi" and not any("\ue000" <= c <= "\uf8ff" for c in text):
                continue  # an ordinary <e>/<d> element, not an obfuscated one
            stats.undecoded += 1
            chars = "\ufffd"
        else:
            stats.decoded += 1
        _replace_with_text(el, chars)


def _replace_with_text(el, chars: str) -> None:
    parent = el.getparent()
    if parent is None:
        return
    tail = chars + (el.tail or "")
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(el)


def decode_html(html: str, decoders: Sequence[GlyphDecoder], stats: DecodeStats | None = None) -> str:
    """A whole page (or fragment) with its obfuscated characters decoded."""
    doc = lxml.html.fromstring(html)
    decode_element(doc, decoders, stats)
    return lxml.html.tostring(doc, encoding="unicode")
