"""The embedded mention store: one SQLite file in WAL mode, safe for several processes at once.

Layout (see docs/storage.md):
- `mentions`: one row per mention id; `seq` (AUTOINCREMENT) is its position in ingest order and
  never changes, so `export` is a plain keyset scan on `seq`. The full mention is a JSON `body`;
  the columns next to it exist only to filter and sort.
- `mentions_fts`: contentless FTS5 over CJK bigrams (store/cjk.py), rowid = seq.
- `mention_brands`, `mention_keywords`, `mention_aspects`: one row per value, for filters and
  aggregations.
- `rollup_hour` (brand x UTC hour x source -> counts per sentiment), `rollup_brand_hour` (the same
  without the source, for trends over all sources) and `rollup_5min`
  (brand x 5 minutes -> counts per sentiment), kept exact on every write: an update subtracts the
  old row's contribution and adds the new one. Brand '*' counts every mention once; brand ''
  counts mentions that name no brand.
- `crawl_state`: per spider and query, for incremental crawls.

Every write is one IMMEDIATE transaction (store/sqlite_db.write_tx): a process killed mid-write
leaves the last committed batch and nothing partial.
"""

from __future__ import annotations

import bisect
import gc
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from core.errors import InvalidInput, StoreError
from core.mention import Mention
from core.metrics import STORE_WRITES
from store import cursor as cursors
from store.base import (
    SENTIMENT_KEYS,
    Breakdown,
    ExportBatch,
    Filters,
    KeywordCount,
    SearchPage,
    SearchQuery,
    Series,
    SeriesQuery,
    Store,
    TrendBucket,
    TrendQuery,
    UpsertResult,
)
from store.buckets import FIVE_MIN_US, HOUR_US, US, bucket_starts, resolve_tz, to_us
from store.cjk import fts_query, index_tokens
from store.sqlite_db import connect, write_tx

ALL = "*"  # rollup brand that counts every mention once
NO_BRAND = ""  # rollup brand of mentions that name no brand
ENRICHMENT = ("brands", "sentiment", "emotion", "keywords", "topics", "aspects", "dup_of", "lang")
SCHEMA_VERSION = "1"
_LABEL_INDEX = {"positive": 1, "neutral": 2, "negative": 3, None: 4}
_CHUNK = 500  # ids per IN (...) lookup, under SQLite's variable limit
FTS_WALK_THRESHOLD = 20_000  # candidates above which search walks the sort index
PROBE_WALK_ROWS = 5_000  # expected rows walked per page up to which a walk probes row by row

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mentions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    published_us INTEGER NOT NULL,
    ingested_us INTEGER NOT NULL,
    label TEXT,
    engagement INTEGER NOT NULL,
    location TEXT,
    is_dup INTEGER NOT NULL,
    brands TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mentions_newest ON mentions(published_us, id);
CREATE INDEX IF NOT EXISTS mentions_engagement ON mentions(engagement, published_us, id);
CREATE TABLE IF NOT EXISTS mention_brands (
    brand TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (brand, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mention_keywords (
    seq INTEGER NOT NULL, term TEXT NOT NULL, PRIMARY KEY (seq, term)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mention_aspects (
    seq INTEGER NOT NULL, i INTEGER NOT NULL, touchpoint TEXT NOT NULL, label TEXT NOT NULL,
    PRIMARY KEY (seq, i)) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS mentions_fts USING fts5(
    tokens, content='', columnsize=0, tokenize='unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS rollup_hour (
    brand TEXT NOT NULL, hour INTEGER NOT NULL, source TEXT NOT NULL,
    total INTEGER NOT NULL, positive INTEGER NOT NULL, neutral INTEGER NOT NULL,
    negative INTEGER NOT NULL, unscored INTEGER NOT NULL,
    PRIMARY KEY (brand, hour, source)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_brand_hour (
    brand TEXT NOT NULL, hour INTEGER NOT NULL,
    total INTEGER NOT NULL, positive INTEGER NOT NULL, neutral INTEGER NOT NULL,
    negative INTEGER NOT NULL, unscored INTEGER NOT NULL,
    PRIMARY KEY (brand, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_5min (
    brand TEXT NOT NULL, slot INTEGER NOT NULL,
    total INTEGER NOT NULL, positive INTEGER NOT NULL, neutral INTEGER NOT NULL,
    negative INTEGER NOT NULL, unscored INTEGER NOT NULL,
    PRIMARY KEY (brand, slot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crawl_state (
    spider TEXT NOT NULL, query TEXT NOT NULL, state TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (spider, query)) WITHOUT ROWID
"""

_ROLLUP_HOUR_UPSERT = (
    "INSERT INTO rollup_hour VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(brand, hour, source) DO UPDATE SET "
    "total = total + excluded.total, positive = positive + excluded.positive, "
    "neutral = neutral + excluded.neutral, negative = negative + excluded.negative, "
    "unscored = unscored + excluded.unscored"
)
_ROLLUP_BRAND_HOUR_UPSERT = (
    "INSERT INTO rollup_brand_hour VALUES (?,?,?,?,?,?,?) ON CONFLICT(brand, hour) DO UPDATE SET "
    "total = total + excluded.total, positive = positive + excluded.positive, "
    "neutral = neutral + excluded.neutral, negative = negative + excluded.negative, "
    "unscored = unscored + excluded.unscored"
)
_ROLLUP_5MIN_UPSERT = (
    "INSERT INTO rollup_5min VALUES (?,?,?,?,?,?,?) ON CONFLICT(brand, slot) DO UPDATE SET "
    "total = total + excluded.total, positive = positive + excluded.positive, "
    "neutral = neutral + excluded.neutral, negative = negative + excluded.negative, "
    "unscored = unscored + excluded.unscored"
)


def _label(m: Mention) -> str | None:
    return m.sentiment.label if m.sentiment is not None else None  # a StrEnum is a str


def _brands_json(m: Mention) -> str | None:
    return orjson.dumps(sorted(set(m.brands))).decode() if m.brands else None


def _fts_text(m: Mention) -> str:
    # A newline between title and text: a phrase never spans the two.
    return index_tokens(f"{m.title}\n{m.text}" if m.title else m.text)


def merge(old: Mention, new: Mention) -> Mention:
    """A re-crawl replaces the mention but keeps enrichment the new copy does not carry
    (a crawler re-fetching metrics must not wipe the sentiment scored earlier)."""
    keep = {f: getattr(old, f) for f in ENRICHMENT if getattr(new, f) in (None, []) and getattr(old, f)}
    return new.model_copy(update=keep) if keep else new


class _Rollups:
    """Per-batch rollup deltas, written with one executemany each."""

    def __init__(self) -> None:
        self.hour: dict[tuple, list[int]] = {}
        self.five: dict[tuple, list[int]] = {}

    def add(self, m: Mention, published_us: int, sign: int) -> None:
        hour = published_us // HOUR_US
        slot = published_us // FIVE_MIN_US
        li = _LABEL_INDEX[m.sentiment.label if m.sentiment is not None else None]
        source = m.source
        hours, fives = self.hour, self.five
        for b in ((ALL, *set(m.brands)) if m.brands else (ALL, NO_BRAND)):
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

    def write(self, c: sqlite3.Connection) -> None:
        c.executemany(_ROLLUP_HOUR_UPSERT, [(*k, *v) for k, v in self.hour.items() if any(v)])
        # The same counts without the source: a trend over all sources reads 5x fewer rows.
        per_brand: dict[tuple, list[int]] = {}
        for (b, hour, _source), v in self.hour.items():
            acc = per_brand.get((b, hour))
            if acc is None:
                per_brand[(b, hour)] = list(v)
            else:
                for j in range(5):
                    acc[j] += v[j]
        c.executemany(_ROLLUP_BRAND_HOUR_UPSERT, [(*k, *v) for k, v in per_brand.items() if any(v)])
        c.executemany(_ROLLUP_5MIN_UPSERT, [(*k, *v) for k, v in self.five.items() if any(v)])


class SqliteStore(Store):
    name = "sqlite"

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []  # every thread's connection, closed by close()
        self._lock = threading.Lock()
        self._opened = False
        self.fts_walk_threshold = FTS_WALK_THRESHOLD
        self._watch: sqlite3.Connection | None = None  # read-only use: see _db_version
        self._fts_counts: tuple[int, dict[str, int]] = (-1, {})

    # Lifecycle -----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = connect(self.path)
            c.execute("PRAGMA cache_size=-65536")  # 64 MiB: FTS merges and rollup upserts
            c.execute("PRAGMA temp_store=MEMORY")
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def open(self) -> None:
        c = self._conn()
        try:
            with write_tx(c):
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                row = c.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None:
                    c.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise StoreError(f"{self.path}: schema version {row[0]}, expected {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create the mention schema in {self.path}: {exc}") from exc
        self._opened = True

    def close(self) -> None:
        """Close every thread's connection; the store can be used (and reopens) afterwards."""
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()
        with self._lock:
            watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        self._local = threading.local()

    def ping(self) -> bool:
        try:
            self._conn().execute("SELECT 1 FROM mentions LIMIT 1").fetchall()
            return True
        except (sqlite3.Error, StoreError):
            return False

    def _read(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"mention query failed: {exc}") from exc

    # Writes --------------------------------------------------------------------------------
    def upsert(self, mentions: Sequence[Mention]) -> UpsertResult:
        if not mentions:
            return UpsertResult()
        batch: dict[str, Mention] = {}
        for m in mentions:
            batch[m.id] = m  # the last copy of an id in one call wins
        repeated = len(mentions) - len(batch)
        # A batch allocates hundreds of thousands of short-lived tuples and strings but no
        # cycles: the cyclic GC would rescan every live object (the caller's mentions too) many
        # times per batch, which cost about a fifth of ingest CPU. Reference counting frees it all.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            with write_tx(self._conn()) as c:
                inserted, updated = self._upsert(c, list(batch.values()))
        except sqlite3.Error as exc:
            raise StoreError(f"writing {len(batch)} mentions failed: {exc}") from exc
        finally:
            if gc_was_on:
                gc.enable()
        STORE_WRITES.labels("sqlite", "insert").inc(inserted)
        STORE_WRITES.labels("sqlite", "update").inc(updated + repeated)
        return UpsertResult(inserted=inserted, updated=updated + repeated)

    def _existing(self, c: sqlite3.Connection, ids: list[str]) -> dict[str, tuple]:
        found: dict[str, tuple] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            sql = f"SELECT id, seq, published_us, body FROM mentions WHERE id IN ({','.join('?' * len(chunk))})"
            for row in c.execute(sql, chunk):
                found[row[0]] = (row[1], row[2], row[3])
        return found

    def _upsert(self, c: sqlite3.Connection, mentions: list[Mention]) -> tuple[int, int]:
        existing = self._existing(c, [m.id for m in mentions])
        now_us = to_us(datetime.now(UTC))
        row = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'mentions'").fetchone()
        next_seq = (row[0] if row else 0) + 1
        rollups = _Rollups()
        new_rows, fts, brands, keywords, aspects = [], [], [], [], []
        add_row, add_fts, add_rollup = new_rows.append, fts.append, rollups.add
        for m in mentions:
            if m.id in existing:
                continue
            seq = next_seq
            next_seq += 1
            pub = to_us(m.published_at)
            mb = m.brands
            add_row((seq, m.id, m.source, m.kind, pub, now_us, _label(m),
                     m.metrics.engagement(), m.location, int(m.dup_of is not None),
                     _brands_json(m) if mb else None, m.model_dump_json(exclude_none=True)))
            add_fts((seq, _fts_text(m)))
            if mb:
                brands.extend((b, seq) for b in set(mb))
            if m.keywords:
                keywords.extend((seq, k) for k in set(m.keywords))
            if m.aspects:
                aspects.extend((seq, i, a.touchpoint, a.sentiment) for i, a in enumerate(m.aspects))
            add_rollup(m, pub, +1)
        c.executemany("INSERT INTO mentions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", new_rows)
        c.executemany("INSERT INTO mentions_fts(rowid, tokens) VALUES (?, ?)", fts)
        for m in mentions:
            if m.id in existing:
                self._update(c, existing[m.id], m, rollups, fts, brands, keywords, aspects)
        c.executemany("INSERT OR IGNORE INTO mention_brands VALUES (?, ?)", brands)
        c.executemany("INSERT OR IGNORE INTO mention_keywords VALUES (?, ?)", keywords)
        c.executemany("INSERT INTO mention_aspects VALUES (?, ?, ?, ?)", aspects)
        rollups.write(c)
        return len(new_rows), len(mentions) - len(new_rows)

    def _update(self, c, old_row, incoming: Mention, rollups: _Rollups, fts, brands, keywords, aspects) -> None:
        seq, old_pub, old_body = old_row
        old = Mention.model_validate_json(old_body)
        m = merge(old, incoming)
        pub = to_us(m.published_at)
        rollups.add(old, old_pub, -1)
        rollups.add(m, pub, +1)
        c.execute(
            "UPDATE mentions SET source=?, kind=?, published_us=?, label=?, engagement=?, location=?, "
            "is_dup=?, brands=?, body=? WHERE seq=?",
            (m.source, m.kind, pub, _label(m), m.metrics.engagement(), m.location,
             int(m.dup_of is not None), _brands_json(m), m.model_dump_json(exclude_none=True), seq),
        )
        old_tokens, new_tokens = _fts_text(old), _fts_text(m)
        if old_tokens != new_tokens:
            # Contentless FTS5: a row is removed by replaying its original tokens.
            c.execute("INSERT INTO mentions_fts(mentions_fts, rowid, tokens) VALUES ('delete', ?, ?)",
                      (seq, old_tokens))
            c.execute("INSERT INTO mentions_fts(rowid, tokens) VALUES (?, ?)", (seq, new_tokens))
        if set(old.brands) != set(m.brands):
            c.executemany("DELETE FROM mention_brands WHERE brand = ? AND seq = ?",
                          [(b, seq) for b in set(old.brands)])
            brands.extend((b, seq) for b in set(m.brands))
        c.execute("DELETE FROM mention_keywords WHERE seq = ?", (seq,))
        keywords.extend((seq, k) for k in set(m.keywords))
        c.execute("DELETE FROM mention_aspects WHERE seq = ?", (seq,))
        aspects.extend((seq, i, a.touchpoint, a.sentiment.value) for i, a in enumerate(m.aspects))

    # Reads ---------------------------------------------------------------------------------
    def get(self, mention_id: str) -> Mention | None:
        rows = self._read("SELECT body FROM mentions WHERE id = ?", (mention_id,))
        return Mention.model_validate_json(rows[0][0]) if rows else None

    def _where(self, f: Filters, alias: str = "m", drive: str | None = None) -> tuple[list[str], list]:
        """SQL conditions for `f`. `drive` picks which candidate list the query starts from:
        "fts" (the text matches), "brand" (the brands' rows) or "index" (walk the sort index);
        a unary + on the other lists keeps SQLite from starting there. None: SQLite decides."""
        clauses: list[str] = []
        params: list = []
        if f.q is not None and f.q.strip():
            expr = fts_query(f.q)
            if expr is None:
                clauses.append("0")  # only punctuation: nothing can match
            elif drive == "probe":
                # Walking the sort index: probe each row's rowid in the full-text index. `seq IN
                # (SELECT ...)` would first materialise every match (100,000+ rowids for a common
                # term, ~20 ms) to keep the first twenty.
                clauses.append(f"EXISTS (SELECT 1 FROM mentions_fts WHERE mentions_fts MATCH ? "
                               f"AND rowid = {alias}.seq)")
                params.append(expr)
            else:
                plus = "+" if drive not in (None, "fts") else ""
                clauses.append(f"{plus}{alias}.seq IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?)")
                params.append(expr)
        if f.brands:
            marks = ",".join("?" * len(f.brands))
            if drive == "probe":  # a primary-key probe per walked row, as above
                clauses.append(f"EXISTS (SELECT 1 FROM mention_brands WHERE brand IN ({marks}) "
                               f"AND seq = {alias}.seq)")
            else:
                plus = "+" if drive not in (None, "brand") else ""
                clauses.append(f"{plus}{alias}.seq IN (SELECT seq FROM mention_brands WHERE brand IN ({marks}))")
            params.extend(f.brands)
        for col, values in (("source", f.sources), ("kind", [k.value for k in f.kinds]),
                            ("label", [s.value for s in f.sentiments])):
            if values:
                clauses.append(f"{alias}.{col} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if f.since is not None:
            clauses.append(f"{alias}.published_us >= ?")
            params.append(to_us(_aware(f.since, "since")))
        if f.until is not None:
            clauses.append(f"{alias}.published_us < ?")
            params.append(to_us(_aware(f.until, "until")))
        if not f.include_dups:
            clauses.append(f"{alias}.is_dup = 0")
        return clauses, params

    def _fts_matches(self, q: str | None) -> int | None:
        """Rows matching `q` in the full-text index: 3-8 ms for a common term on a million
        mentions, so kept in a store-wide cache until the database changes (see _db_version)."""
        expr = fts_query(q) if q and q.strip() else None
        if expr is None:
            return None
        version = self._db_version()
        cache = self._fts_counts
        if cache[0] != version:
            cache = self._fts_counts = (version, {})
        n = cache[1].get(expr)
        if n is None:
            n = self._read("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH ?", (expr,))[0][0]
            if len(cache[1]) >= 4096:
                cache[1].clear()
            cache[1][expr] = n
        return n

    def _db_version(self) -> int:
        """A number that changes whenever anyone commits to the file. `PRAGMA data_version` moves
        on every commit by *another* connection, so it is read on a connection of its own that
        never writes (shared by this object's threads, a few microseconds per call)."""
        try:
            with self._lock:
                if self._watch is None:
                    self._watch = connect(self.path)
                return self._watch.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"mention query failed: {exc}") from exc

    def _plan(self, f: Filters, n_fts: int | None) -> tuple[str | None, str | None]:
        """(driver for a page, driver for a count). A short candidate list (the text matches or
        the brands' rows, sizes known from the FTS index and the rollups) is fastest to fetch and
        sort; when every list is long, walking the sort index newest-first and keeping matching
        rows finds a page after a few rows."""
        sizes = {}
        if n_fts is not None:
            sizes["fts"] = n_fts
        if f.brands:
            sizes["brand"] = self._read(
                f"SELECT coalesce(sum(total), 0) FROM rollup_hour WHERE brand IN ({','.join('?' * len(f.brands))})",
                f.brands)[0][0]
        if not sizes:
            return None, None
        best = min(sizes, key=sizes.get)
        if sizes[best] <= self.fts_walk_threshold:
            return best, best
        # Walk the sort index. With one candidate list (text or brands), probing each walked
        # row (an FTS5 rowid lookup or a primary-key lookup) beats materialising every candidate
        # while matches are dense enough to fill a page after a few thousand rows. Two lists
        # (a common term AND a brand) can be far sparser together than their sizes suggest (the
        # term rarely goes with that brand): a probing walk could cross the whole range, so
        # those use the candidate sets.
        if len(sizes) > 1:
            return "index", best
        row = self._read("SELECT seq FROM sqlite_sequence WHERE name = 'mentions'")
        n_rows = max(row[0][0] if row else 1, 1)
        density = min(sizes[best], n_rows) / n_rows
        walk_rows = (getattr(f, "limit", 20) + 1) / density if density else float("inf")
        return ("probe" if walk_rows <= PROBE_WALK_ROWS else "index"), best

    def search(self, query: SearchQuery) -> SearchPage:
        n_fts = self._fts_matches(query.q)
        drive, count_drive = self._plan(query, n_fts)
        walk = drive in ("index", "probe")
        clauses, params = self._where(query, drive=drive)
        if query.sort == "newest":
            order = "m.published_us DESC, m.id DESC"
            cols = "m.published_us, m.id"
            kind, arity = "newest", 2
            index = "mentions_newest"
        else:
            order = "m.engagement DESC, m.published_us DESC, m.id DESC"
            cols = "m.engagement, m.published_us, m.id"
            kind, arity = "engagement", 3
            index = "mentions_engagement"
        base = query.model_copy(update={"cursor": None})
        if query.cursor:
            after = cursors.decode(query.cursor, kind, arity)
            if not all(isinstance(v, int) for v in after[:-1]) or not isinstance(after[-1], str):
                raise InvalidInput("malformed cursor")
            clauses.append(f"({cols}) < ({','.join('?' * arity)})")
            params.extend(after)
        where = " AND ".join(clauses) or "1"
        indexed = f"INDEXED BY {index}" if walk else ""
        rows = self._read(
            f"SELECT m.body, {cols} FROM mentions m {indexed} WHERE {where} ORDER BY {order} LIMIT ?",
            [*params, query.limit + 1],
        )
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        items = [Mention.model_validate_json(r[0]) for r in rows]
        next_cursor = cursors.encode(kind, list(rows[-1])[1:]) if more and rows else None
        total = None
        if query.cursor is None:  # total on the first page only: later pages stay cheap
            total = self._count(Filters.model_validate(base.model_dump(include=set(Filters.model_fields))),
                                n_fts, count_drive)
        return SearchPage(items=items, next_cursor=next_cursor, total=total)

    def _count(self, f: Filters, n_fts: int | None = None, drive: str | None = None) -> int:
        only_q = not (f.brands or f.sources or f.kinds or f.sentiments or f.since or f.until) and f.include_dups
        if only_q and f.q and f.q.strip():
            return n_fts if n_fts is not None else (self._fts_matches(f.q) or 0)
        fast = self._count_from_rollup(f)
        if fast is not None:
            return fast
        clauses, params = self._where(f, drive=drive)
        where = " AND ".join(clauses) or "1"
        return self._read(f"SELECT count(*) FROM mentions m WHERE {where}", params)[0][0]

    def _count_from_rollup(self, f: Filters) -> int | None:
        """Counts the hourly rollup can answer exactly: no text, kinds or dup filter, at most one
        brand, and whole UTC hours."""
        if (f.q and f.q.strip()) or f.kinds or not f.include_dups or len(f.brands) > 1:
            return None
        where, params = ["brand = ?"], [f.brands[0] if f.brands else ALL]
        for op, t in ((">=", f.since), ("<", f.until)):
            if t is not None:
                us = to_us(_aware(t, "since/until"))
                if us % HOUR_US:
                    return None
                where.append(f"hour {op} ?")
                params.append(us // HOUR_US)
        if f.sources:
            where.append(f"source IN ({','.join('?' * len(f.sources))})")
            params.extend(f.sources)
        cols = " + ".join(f"coalesce(sum({s.value}), 0)" for s in f.sentiments) or "coalesce(sum(total), 0)"
        return self._read(f"SELECT {cols} FROM rollup_hour WHERE {' AND '.join(where)}", params)[0][0]

    def count(self, filters: Filters) -> int:
        n_fts = self._fts_matches(filters.q)
        return self._count(filters, n_fts, self._plan(filters, n_fts)[1])

    # Trends --------------------------------------------------------------------------------
    def trend(self, query: TrendQuery) -> list[TrendBucket]:
        starts, acc = self.trend_counts(query)
        return [TrendBucket(start=s, key=key, total=t, positive=p, neutral=n, negative=g, unscored=x)
                for key, flat in acc for s, t, p, n, g, x in zip(starts, *[iter(flat)] * 5, strict=True)]

    def trend_counts(self, query: TrendQuery) -> tuple[list[datetime], list[tuple[str | None, list[int]]]]:
        """`trend()` as plain lists: the bucket starts and, per key (sorted as in `trend`), one
        flat list of total, positive, neutral, negative, unscored for bucket 0, then bucket 1, ...
        The API serialises these directly: a 30-day hourly trend has 720 buckets, and 720 models
        (or even 720 small lists, which the cyclic GC tracks) cost more than the query."""
        tz = resolve_tz(query.tz)
        starts, end = bucket_starts(query.since, query.until, query.interval, tz)
        lo, hi = to_us(starts[0]), to_us(end)
        unit = FIVE_MIN_US if query.interval == "5min" else HOUR_US
        split = query.split_by
        # With one UTC offset over the whole range (no DST change), SQLite can number the buckets
        # itself and return one row per bucket instead of one per hour.
        bucket_sql, first = None, 0
        unit_s = unit // US
        off_s = int(starts[0].utcoffset().total_seconds())
        if query.interval in ("day", "week") and all(
                int(x.utcoffset().total_seconds()) == off_s for x in (*starts, end)):
            day = f"((X * {unit_s} + {off_s}) / 86400)"
            bucket_sql = day if query.interval == "day" else f"(({day} + 3) / 7)"  # 1970-01-01 was a Thursday
            first_day = (lo // US + off_s) // 86400
            first = first_day if query.interval == "day" else (first_day + 3) // 7
        rows = self._trend_rows(query, lo // unit, -(-hi // unit), unit, bucket_sql)
        n = len(starts)
        step = (hi - lo) // n
        if not bucket_sql and step == unit and (hi - lo) % n == 0 and lo % unit == 0:
            # Buckets one unit long (every hour or 5-minute trend outside a half-hour-offset
            # zone): the unit index is the bucket number, no search.
            bucket_sql, first = "", lo // unit
        start_us = [to_us(x) for x in starts] if bucket_sql is None else []
        acc: dict[str | None, list[int]] = {}
        keys = list(query.brands if split == "brand" else query.sources if split == "source" else [])
        for k in keys:
            acc[k] = [0] * (5 * n)
        try:
            for key, u, c0, c1, c2, c3, c4 in rows:  # one row alive at a time: nothing for the GC
                i = u - first if bucket_sql is not None else bisect.bisect_right(start_us, u * unit) - 1
                if not 0 <= i < n:
                    continue
                k = key if split else None
                flat = acc.get(k)
                if flat is None:
                    flat = acc[k] = [0] * (5 * n)
                j = 5 * i
                flat[j] += c0
                flat[j + 1] += c1
                flat[j + 2] += c2
                flat[j + 3] += c3
                flat[j + 4] += c4
        except sqlite3.Error as exc:
            raise StoreError(f"mention query failed: {exc}") from exc
        if not split and None not in acc:
            acc[None] = [0] * (5 * n)
        return starts, [(key, acc[key]) for key in sorted(acc, key=lambda k: k or "")]

    def _rows(self, sql: str, params: Sequence = ()) -> Iterator[sqlite3.Row]:
        """Rows one at a time (iterate inside a try that maps sqlite3.Error to StoreError)."""
        try:
            return iter(self._conn().execute(sql, params))
        except sqlite3.Error as exc:
            raise StoreError(f"mention query failed: {exc}") from exc

    def _trend_rows(self, q: TrendQuery, lo: int, hi: int, unit: int, bucket_sql: str | None) -> Iterable:
        """(key, unit index or bucket number, total, positive, neutral, negative, unscored) rows;
        `bucket_sql` maps the unit index X to a bucket number when given."""
        split = q.split_by
        sums = "sum(total), sum(positive), sum(neutral), sum(negative), sum(unscored)"
        exact_from_rollup = split == "brand" or len(q.brands) <= 1
        if unit == FIVE_MIN_US and (q.sources or split == "source"):
            exact_from_rollup = False  # the 5-minute rollup has no source dimension
        if exact_from_rollup:
            if unit == FIVE_MIN_US:
                table, col = "rollup_5min", "slot"
            elif q.sources or split == "source":
                table, col = "rollup_hour", "hour"
            else:
                table, col = "rollup_brand_hour", "hour"
            if split == "brand":
                brands = q.brands or [r[0] for r in self._read(
                    f"SELECT DISTINCT brand FROM {table} WHERE {col} >= ? AND {col} < ? "
                    "AND brand NOT IN (?, ?)", (lo, hi, ALL, NO_BRAND))]
            else:
                brands = q.brands or [ALL]
            if not brands:
                return []
            where = [f"brand IN ({','.join('?' * len(brands))})", f"{col} >= ?", f"{col} < ?"]
            params: list = [*brands, lo, hi]
            if q.sources:
                where.append(f"source IN ({','.join('?' * len(q.sources))})")
                params.extend(q.sources)
            key = {"brand": "brand", "source": "source"}.get(split or "", "NULL")
            b = bucket_sql.replace("X", col) if bucket_sql else col
            return self._rows(
                f"SELECT {key}, {b}, {sums} FROM {table} WHERE {' AND '.join(where)} GROUP BY 1, 2", params)
        # Several brands in one series, or a source split at 5 minutes: a mention that names
        # two of the brands must count once, which per-brand rollups cannot tell. Count the
        # matching mentions instead (bounded by the brand and time indexes).
        f = Filters(brands=q.brands, sources=q.sources, since=_from_us(lo * unit), until=_from_us(hi * unit))
        clauses, params = self._where(f)
        key = "m.source" if split == "source" else "NULL"
        u = f"(m.published_us / {unit})"
        b = bucket_sql.replace("X", u) if bucket_sql else u
        sql = (f"SELECT {key}, {b} AS u, count(*), "
               "sum(m.label IS 'positive'), sum(m.label IS 'neutral'), sum(m.label IS 'negative'), "
               f"sum(m.label IS NULL) FROM mentions m WHERE {' AND '.join(clauses)} GROUP BY 1, 2")
        return self._rows(sql, params)

    def series(self, query: SeriesQuery) -> Series:
        step_us = int(query.step.total_seconds() * US)
        if step_us <= 0 or step_us % FIVE_MIN_US:
            raise InvalidInput("series step must be a positive multiple of 5 minutes")
        since, until = to_us(_aware(query.since, "since")), to_us(_aware(query.until, "until"))
        if until <= since:
            raise InvalidInput("until must be after since")
        start = since // step_us * step_us
        n = -(-(until - start) // step_us)
        if n > 100_000:
            raise InvalidInput("series too long (more than 100000 steps)")
        total, negative = [0] * n, [0] * n
        per = step_us // FIVE_MIN_US
        lo = start // FIVE_MIN_US
        for slot, t, neg in self._read(
            "SELECT slot, total, negative FROM rollup_5min WHERE brand = ? AND slot >= ? AND slot < ?",
            (query.brand if query.brand is not None else ALL, lo, lo + n * per),
        ):
            i = (slot - lo) // per
            total[i] += t
            negative[i] += neg
        return Series(start=_from_us(start), step=query.step, total=total, negative=negative)

    # Aggregations --------------------------------------------------------------------------
    def top_keywords(self, filters: Filters, limit: int = 20) -> list[KeywordCount]:
        clauses, params = self._where(filters)
        where = " AND ".join(clauses) or "1"
        rows = self._read(
            f"SELECT k.term, count(*) AS n FROM mentions m JOIN mention_keywords k ON k.seq = m.seq "
            f"WHERE {where} GROUP BY k.term ORDER BY n DESC, k.term LIMIT ?", [*params, limit])
        return [KeywordCount(term=r[0], count=r[1]) for r in rows]

    def breakdown(self, filters: Filters, by: Breakdown, limit: int = 20) -> dict[str, int]:
        clauses, params = self._where(filters)
        join, count = "", "count(*)"
        if by == "brand":
            key, join = "b.value", ", json_each(m.brands) b"
        elif by == "touchpoint":
            key, join = "a.touchpoint", "JOIN mention_aspects a ON a.seq = m.seq"
            count = "count(DISTINCT m.seq)"  # a mention counts once per touchpoint
        elif by == "sentiment":
            key = "coalesce(m.label, 'unscored')"
        elif by in ("source", "location", "kind"):
            key = f"m.{by}"
            if by == "location":
                clauses.append("m.location IS NOT NULL")
        else:
            raise InvalidInput(f"cannot break down by {by!r}")
        where = " AND ".join(clauses) or "1"
        rows = self._read(f"SELECT {key} AS k, {count} AS n FROM mentions m {join} WHERE {where} "
                          "GROUP BY k ORDER BY n DESC, k LIMIT ?", [*params, limit])
        return {r[0]: r[1] for r in rows}

    def touchpoints(self, filters: Filters) -> dict[str, dict[str, int]]:
        clauses, params = self._where(filters)
        where = " AND ".join(clauses) or "1"
        rows = self._read(
            f"SELECT a.touchpoint, a.label, count(*) FROM mentions m JOIN mention_aspects a "
            f"ON a.seq = m.seq WHERE {where} GROUP BY 1, 2", params)
        out: dict[str, dict[str, int]] = {}
        for tp, label, n in rows:
            out.setdefault(tp, {"positive": 0, "neutral": 0, "negative": 0})[label] = n
        return dict(sorted(out.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])))

    # Export --------------------------------------------------------------------------------
    def export(self, cursor: str | None, limit: int = 1000) -> ExportBatch:
        if not 1 <= limit <= 10_000:
            raise InvalidInput("export limit must be between 1 and 10000")
        after = 0
        if cursor:
            (after,) = cursors.decode(cursor, "export", 1)
            if not isinstance(after, int) or after < 0:
                raise InvalidInput("malformed cursor")
        rows = self._read("SELECT seq, body FROM mentions WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        items = [Mention.model_validate_json(r[1]) for r in rows]
        last = rows[-1][0] if rows else after
        return ExportBatch(items=items, next_cursor=cursors.encode("export", [last]))

    # Crawl state ---------------------------------------------------------------------------
    def get_crawl_state(self, spider: str, query: str) -> dict | None:
        rows = self._read("SELECT state FROM crawl_state WHERE spider = ? AND query = ?", (spider, query))
        return json.loads(rows[0][0]) if rows else None

    def set_crawl_state(self, spider: str, query: str, state: dict) -> None:
        try:
            body = json.dumps(state, ensure_ascii=False, default=str)
            with write_tx(self._conn()) as c:
                c.execute("INSERT INTO crawl_state VALUES (?, ?, ?, ?) ON CONFLICT(spider, query) DO UPDATE "
                          "SET state = excluded.state, updated_at = excluded.updated_at",
                          (spider, query, body, datetime.now(UTC).isoformat()))
        except sqlite3.Error as exc:
            raise StoreError(f"saving crawl state failed: {exc}") from exc

    # Maintenance ---------------------------------------------------------------------------
    def optimize(self) -> None:
        """Merge the full-text index into one segment and refresh the planner's statistics.
        Bulk ingest leaves the FTS5 index in many segments; a search probing rowids walks each
        of them, so merging makes probing searches 2-3x cheaper (about 2 s for a million
        mentions, one write transaction: other writers wait, readers do not)."""
        try:
            with write_tx(self._conn()) as c:
                c.execute("INSERT INTO mentions_fts(mentions_fts) VALUES ('optimize')")
            self._conn().execute("PRAGMA optimize")
        except sqlite3.Error as exc:
            raise StoreError(f"optimizing {self.path} failed: {exc}") from exc

    def rollup_mismatches(self) -> list[tuple]:
        """Hourly rollup rows that differ from a recount of the raw mentions (empty = exact).
        Used by tests and `opmon stats --check`."""
        recount: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        rows = self._read("SELECT source, published_us, label, brands FROM mentions")
        for source, pub, label, brands in rows:
            li = _LABEL_INDEX[label]
            for b in {ALL, *(json.loads(brands) if brands else [NO_BRAND])}:
                r = recount[(b, pub // HOUR_US, source)]
                r[0] += 1
                r[li] += 1
        stored = {(r[0], r[1], r[2]): list(r[3:]) for r in self._read("SELECT * FROM rollup_hour")}
        by_brand: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for (b, hour, _source), v in recount.items():
            for j in range(5):
                by_brand[(b, hour)][j] += v[j]
        stored_b = {(r[0], r[1]): list(r[2:]) for r in self._read("SELECT * FROM rollup_brand_hour")}
        diffs = [(k, by_brand.get(k, [0] * 5), stored_b.get(k, [0] * 5))
                 for k in set(by_brand) | set(stored_b) if by_brand.get(k, [0] * 5) != stored_b.get(k, [0] * 5)]
        for k in set(recount) | set(stored):
            want, have = recount.get(k, [0] * 5), stored.get(k, [0] * 5)
            if want != have:
                diffs.append((k, want, have))
        return diffs

    def stats(self) -> dict:
        """Counts per source and per sentiment (from the rollups: instant on a big store)."""
        by_source = {r[0]: r[1] for r in self._read(
            "SELECT source, sum(total) FROM rollup_hour WHERE brand = ? GROUP BY source ORDER BY 2 DESC, 1",
            (ALL,))}
        sums = self._read("SELECT sum(total), sum(positive), sum(neutral), sum(negative), sum(unscored) "
                          "FROM rollup_hour WHERE brand = ?", (ALL,))[0]
        by_sentiment = {k: (sums[i + 1] or 0) for i, k in enumerate(SENTIMENT_KEYS)}
        return {"total": sums[0] or 0, "by_source": by_source, "by_sentiment": by_sentiment}


def _aware(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise InvalidInput(f"{what} must carry a time zone")
    return dt


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
