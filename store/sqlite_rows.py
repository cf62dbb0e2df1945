"""Mentions turned into the embedded store's rows, ready for the single SQLite writer.

Everything here is pure Python with no database access, so `opmon ingest` runs it in preparer
processes (store/bulk.py) while the writer process only runs `executemany`; `SqliteStore.upsert`
runs it in-process. A `Prepared` batch pickles cheaply: plain tuples, strings and ints.

Rows that point at a mention carry its *index in the batch* (0, 1, ...), not its `seq`: the
writer learns the first free `seq` inside its write transaction and adds it in SQL.
"""

from __future__ import annotations

import gc
import io
import pickle
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from core.mention import Mention, mention_errors
from store.buckets import FIVE_MIN_US, HOUR_US, to_us
from store.cjk import index_tokens

ALL = "*"  # rollup brand that counts every mention once
NO_BRAND = ""  # rollup brand of mentions that name no brand
LABEL_INDEX = {"positive": 1, "neutral": 2, "negative": 3, None: 4}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: a batch allocates hundreds of thousands of short-lived tuples and
    strings but no cycles, and the collector would rescan every live object many times per batch
    (half the CPU of preparing one). Reference counting frees it all."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def fts_text(m: Mention) -> str:
    # A newline between title and text: a phrase never spans the two.
    return index_tokens(f"{m.title}\n{m.text}" if m.title else m.text)


def brands_json(m: Mention) -> str | None:
    return orjson.dumps(sorted(set(m.brands))).decode() if m.brands else None


class Rollups:
    """Rollup deltas of a batch: (brand, UTC hour, source) and (brand, 5-minute slot) -> counts
    [total, positive, neutral, negative, unscored]. The writer adds them with one upsert per key."""

    def __init__(self) -> None:
        self.hour: dict[tuple, list[int]] = {}
        self.five: dict[tuple, list[int]] = {}

    def add(self, m: Mention, published_us: int, sign: int) -> None:
        self.add_key(m.brands, published_us, m.source, m.sentiment.label if m.sentiment is not None else None,
                     sign)

    def add_key(self, brands: Iterable[str], published_us: int, source: str, label: str | None,
                sign: int) -> None:
        hour = published_us // HOUR_US
        slot = published_us // FIVE_MIN_US
        li = LABEL_INDEX[label]
        hours, fives = self.hour, self.five
        for b in ((ALL, *set(brands)) if brands else (ALL, NO_BRAND)):
            h = hours.get((b, hour, source))
            if h is None:
                h = hours[(b, hour, source)] = [0, 0, 0, 0, 0]
            h[0] += sign
            h[li] += sign
            f = fives.get((b, slot))
            if f is None:
                f = fives[(b, slot)] = [0, 0, 0, 0, 0]
            f[0] += sign
            f[li] += sign

    def rows(self) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """(rollup_hour rows, rollup_brand_hour rows, rollup_5min rows), zero deltas left out."""
        per_brand: dict[tuple, list[int]] = {}
        for (b, hour, _source), v in self.hour.items():
            acc = per_brand.get((b, hour))
            if acc is None:
                per_brand[(b, hour)] = list(v)
            else:
                for j in range(5):
                    acc[j] += v[j]
        return ([(*k, *v) for k, v in self.hour.items() if any(v)],
                [(*k, *v) for k, v in per_brand.items() if any(v)],
                [(*k, *v) for k, v in self.five.items() if any(v)])


@dataclass
class Prepared:
    """One batch of distinct mentions (the last copy of a repeated id wins), as rows.

    rows[i] = (id, source, kind, published_us, label, engagement, location, is_dup, brands JSON,
    emotion, body JSON as UTF-8 bytes: the imported line itself when it reads back as the same mention,
    else the model serialised) for the mention at batch index i; `fts` = (i, tokens as UTF-8
    bytes); `brands` = (i, brand, published_us, emotion); `keywords` and `aspects` rows start with i too.
    Bytes, not str: they pickle as a copy (str would be encoded and decoded again), and SQL casts
    them to TEXT. `rollup_rows` (hour, brand-hour and 5-minute upsert rows, `Rollups.rows`)
    assume every mention is new: the writer adds corrections for ids it finds already stored."""

    rows: list[tuple] = field(default_factory=list)
    fts: list[tuple] = field(default_factory=list)
    brands: list[tuple] = field(default_factory=list)
    keywords: list[tuple] = field(default_factory=list)
    aspects: list[tuple] = field(default_factory=list)
    rollup_rows: tuple[list[tuple], list[tuple], list[tuple]] = field(default_factory=lambda: ([], [], []))
    repeated: int = 0  # copies of an id that a later copy in the same batch replaced
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    lines: int = 0  # non-blank input lines (accepted + rejected)


def prepare(mentions: Iterable[Mention], out: Prepared | None = None) -> Prepared:
    with gc_paused():
        return _prepare(((m, None) for m in mentions), out or Prepared())


# Fields whose default is computed anew each time (crawled_at = now): a line that leaves one out
# does not parse to the same mention twice, so its body is serialised from the model instead.
_VOLATILE = frozenset(name for name, f in Mention.model_fields.items()
                      if f.default_factory is not None and not isinstance(f.default_factory, type))


def _prepare(items: Iterable[tuple[Mention, bytes | None]], p: Prepared) -> Prepared:
    """`items`: (mention, its JSON line or None). A line that validated is stored as the body
    as it is (the writer trims the newline): parsing it again gives the same mention (validation
    is deterministic once no volatile default is involved), and serialising the model again
    would cost ~6 us per mention. (Keeping a stripped copy of every line instead of the line
    itself cost ~5 us per mention more in the import, measured.)"""
    distinct: dict[str, tuple[Mention, bytes | None]] = {}
    n = 0
    for item in items:
        distinct[item[0].id] = item
        n += 1
    p.repeated += n - len(distinct)
    rows, fts, brands, keywords, aspects = p.rows, p.fts, p.brands, p.keywords, p.aspects
    rollups = Rollups()
    add_rollup = rollups.add_key
    to_json = Mention.__pydantic_serializer__.to_json  # bytes; model_dump_json() decodes them
    volatile = _VOLATILE
    for i, (m, line) in enumerate(distinct.values(), start=len(rows)):
        if line is None or not volatile <= m.model_fields_set:
            line = to_json(m, exclude_none=True)
        pub = to_us(m.published_at)
        label = m.sentiment.label.value if m.sentiment is not None else None
        mb = m.brands
        rows.append((m.id, m.source, m.kind.value, pub, label, m.metrics.engagement(), m.location,
                     int(m.dup_of is not None), brands_json(m) if mb else None, m.emotion, line))
        fts.append((i, fts_text(m).encode()))
        if mb:
            emotion = m.emotion
            brands.extend((i, b, pub, emotion) for b in set(mb))
        if m.keywords:
            keywords.extend((i, k) for k in set(m.keywords))
        if m.aspects:
            aspects.extend((i, j, a.touchpoint, a.sentiment.value) for j, a in enumerate(m.aspects))
        add_rollup(mb, pub, m.source, label, +1)
    p.rollup_rows = rollups.rows()
    return p


def parse_line(line: bytes | str) -> tuple[Mention | None, str | None]:
    """(mention, None) or (None, rejection reason) for one JSONL line."""
    try:
        return Mention.model_validate_json(line), None
    except ValidationError as exc:
        errs = exc.errors()
        if errs and errs[0].get("type") == "json_invalid":
            return None, f"not valid JSON: {errs[0].get('msg', '')}"
        return None, mention_errors(exc)


def prepare_lines(lines: list[bytes], first_line: int) -> Prepared:
    """Validate JSONL lines (numbered from `first_line`) and prepare the valid mentions.
    Blank lines are skipped and not counted."""
    with gc_paused():
        return _prepare(_valid(lines, first_line, p := Prepared()), p)


def prepare_lines_packed(lines: list[bytes], first_line: int) -> bytes:
    """`prepare_lines`, pickled here in "fast" mode (no memo: the rows share no objects), which
    costs a third of the default pickling the process pool would do; unpickle with `unpack`."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    p = prepare_lines(lines, first_line)
    with gc_paused():
        pickler.dump(p)
    return buf.getvalue()


def unpack(blob: bytes) -> Prepared:
    with gc_paused():
        return pickle.loads(blob)


def _valid(lines: list[bytes], first_line: int, p: Prepared) -> list[tuple[Mention, bytes]]:
    good: list[tuple[Mention, bytes]] = []
    for no, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        p.lines += 1
        m, reason = parse_line(line)
        if m is None:
            p.rejected.append((no, reason))
        else:
            good.append((m, line))
    return good
