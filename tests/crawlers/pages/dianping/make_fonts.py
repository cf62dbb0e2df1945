"""Dianping per-load WOFF fixtures: a reference font with a known map, and a 'per-load' font that draws
the same glyph outlines at different private-use code points."""
import json
import random
from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

OUT = Path(__file__).resolve().parent
CHARS = "味道一般性价比不高南京路号8"


def shape(i):
    """A distinct outline per character: a polygon whose vertex count and size depend on i."""
    pen = TTGlyphPen(None)
    n = 3 + i % 5
    r = 200 + 37 * i
    import math
    pts = [(int(500 + r * math.cos(2 * math.pi * k / n + i)), int(500 + r * math.sin(2 * math.pi * k / n + i))) for k in range(n)]
    pen.moveTo(pts[0])
    for p in pts[1:]:
        pen.lineTo(p)
    pen.closePath()
    if i % 2:  # a second contour for half of them
        pen.moveTo((100 + i, 100))
        pen.lineTo((150 + i, 100))
        pen.lineTo((150 + i, 160 + i))
        pen.closePath()
    return pen.glyph()


def build(codepoints, path, shuffle_order):
    names = [f"uni{cp:04X}" for cp in codepoints]
    order = list(range(len(CHARS)))
    if shuffle_order:
        random.Random(3).shuffle(order)
    glyph_names = [".notdef"] + [names[i] for i in order]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(glyph_names)
    fb.setupCharacterMap({cp: f"uni{cp:04X}" for cp in codepoints})
    glyphs = {".notdef": TTGlyphPen(None).glyph()}
    for i, name in enumerate(names):
        glyphs[name] = shape(i)
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: (1000, 0) for n in glyph_names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": "PingFangSC-Regular-review", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.font.flavor = "woff"
    fb.save(str(path))


ref_cps = [0xE100 + i for i in range(len(CHARS))]
rng = random.Random(11)
load_cps = rng.sample(range(0xE400, 0xE900), len(CHARS))
build(ref_cps, OUT / "font_reference" / "reference.woff", False)
build(load_cps, OUT / "font_review_p2.woff", True)
(OUT / "font_reference" / "reference.json").write_text(json.dumps({f"{cp:x}": ch for cp, ch in zip(ref_cps, CHARS, strict=False)}, ensure_ascii=False, indent=1), encoding="utf-8")
(OUT / "font_load_map.json").write_text(json.dumps({f"{cp:x}": ch for cp, ch in zip(load_cps, CHARS, strict=False)}, ensure_ascii=False), encoding="utf-8")
print({ch: hex(cp) for cp, ch in zip(load_cps, CHARS, strict=False)})
