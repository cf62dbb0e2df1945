"""The embedded mention store: one SQLite file in WAL mode, safe for several processes at once.

Layout (see docs/storage.md):
- `mentions`: one row per mention id; `seq` (AUTOINCREMENT) is its position in ingest order and
  never changes, so `export` is a plain keyset scan on `seq`. The full mention is a JSON `body`;
  the columns next to it (source, kind, label, emotion, ...) exist only to filter and sort.
- `mentions_fts`: contentless FTS5 over CJK bigrams (store/cjk.py), rowid = seq.
- `mention_brands` (key brand, published_us, seq: a brand's mentions in a time range are one
  index range; plus the mention's emotion, so that brand + time + emotion never reads `mentions`),
  `mention_keywords`, `mention_aspects`: one row per value, for filters and aggregations.
- `rollup_hour` (brand x UTC hour x source -> counts per sentiment), `rollup_brand_hour` (the same
  without the source, for trends over all sources) and `rollup_5min`
  (brand x 5 minutes -> counts per sentiment), kept exact on every write: an update subtracts the
  old row's contribution and adds the new one. Brand '*' counts every mention once; brand ''
  counts mentions that name no brand.
- `crawl_state`: per spider and query, for incremental crawls.

Every write is one IMMEDIATE transaction (store/sqlite_db.write_tx): a process killed mid-write
leaves the last committed batch and nothing partial. Rows are built by store/sqlite_rows.py (in
this process for `upsert`, in preparer processes for `opmon ingest`, see store/bulk.py) and
written by `write_prepared`.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path

from core.errors import InvalidInput, StoreError
from core.mention import Mention
from core.metrics import STORE_WRITES
from store import cursor as cursors
from store.base import (
    EMOTIONS,
    SENTIMENT_KEYS,
    UNSCORED,
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
from store.cjk import fts_query
from store.merge import merge, replace_fields
from store.sqlite_db import connect, write_tx
from store.sqlite_rows import (
    ALL,
    LABEL_INDEX,
    NO_BRAND,
    Prepared,
    Rollups,
    brands_json,
    fts_text,
    gc_paused,
    prepare,
)

# 2: mention_brands keyed (brand, published_us, seq); 3: mentions.emotion. Older ones are migrated on open.
SCHEMA_VERSION = "3"
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
    body TEXT NOT NULL,
    emotion TEXT
);
{sort_indexes};
CREATE TABLE IF NOT EXISTS mention_brands (
    brand TEXT NOT NULL, published_us INTEGER NOT NULL, seq INTEGER NOT NULL, emotion TEXT,
    PRIMARY KEY (brand, published_us, seq)) WITHOUT ROWID;
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

_SORT_INDEXES = {
    "mentions_newest": "CREATE INDEX IF NOT EXISTS mentions_newest ON mentions(published_us, id)",
    "mentions_engagement": "CREATE INDEX IF NOT EXISTS mentions_engagement ON mentions(engagement, published_us, id)",
}
SCHEMA = SCHEMA.format(sort_indexes=";\n".join(_SORT_INDEXES.values()))
_INSERT_MENTION = (  # {now_us}: the batch's ingest time, a literal int. The body may be an imported
    # JSON line as it came: JSON's whitespace (space, tab, LF, CR) around it is trimmed here.
    "INSERT INTO mentions(id, source, kind, published_us, ingested_us, label, engagement, location, "
    "is_dup, brands, emotion, body) VALUES (?1, ?2, ?3, ?4, {now_us}, ?5, ?6, ?7, ?8, ?9, ?10, "
    "trim(CAST(?11 AS TEXT), char(32, 9, 10, 13)))")
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


def _write_rollups(c: sqlite3.Connection, parts: list[tuple[list[tuple], list[tuple], list[tuple]]]) -> None:
    """Add rollup deltas (Rollups.rows() of each part; a key may repeat: upserts add up)."""
    c.executemany(_ROLLUP_HOUR_UPSERT, chain.from_iterable(p[0] for p in parts))
    # The same counts without the source: a trend over all sources reads 5x fewer rows.
    c.executemany(_ROLLUP_BRAND_HOUR_UPSERT, chain.from_iterable(p[1] for p in parts))
    c.executemany(_ROLLUP_5MIN_UPSERT, chain.from_iterable(p[2] for p in parts))


class SqliteStore(Store):
    name = "sqlite"
    writes_over_network = False

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
                elif row[0] not in ("1", "2", SCHEMA_VERSION):
                    raise StoreError(f"{self.path}: schema version {row[0]}, expected {SCHEMA_VERSION}")
                else:
                    if row[0] == "1":
                        self._migrate_1_to_2(c)
                    if row[0] in ("1", "2"):
                        self._migrate_2_to_3(c)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create the mention schema in {self.path}: {exc}") from exc
        self._opened = True

    @staticmethod
    def _migrate_1_to_2(c: sqlite3.Connection) -> None:
        """Version 1 keyed mention_brands (brand, seq); 2 adds published_us to the key so that a
        brand's mentions in a time range are one index range. Runs inside open()'s write
        transaction: a crash leaves version 1, intact, and the next open() tries again."""
        c.execute("CREATE TABLE mention_brands_v2 (brand TEXT NOT NULL, published_us INTEGER NOT NULL, "
                  "seq INTEGER NOT NULL, PRIMARY KEY (brand, published_us, seq)) WITHOUT ROWID")
        c.execute("INSERT INTO mention_brands_v2 SELECT b.brand, m.published_us, b.seq "
                  "FROM mention_brands b JOIN mentions m ON m.seq = b.seq")
        c.execute("DROP TABLE mention_brands")
        c.execute("ALTER TABLE mention_brands_v2 RENAME TO mention_brands")
        c.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")

    @staticmethod
    def _migrate_2_to_3(c: sqlite3.Connection) -> None:
        """Version 3 adds an `emotion` column to `mentions` and to `mention_brands` (filters and
        breakdowns by emotion), filled from the body JSON of the mentions that carry one. In
        open()'s write transaction, like 1 -> 2: a crash leaves version 2 (the ALTER TABLEs roll
        back too), and the next open() runs it again; on a migrated file it changes nothing."""
        for table in ("mentions", "mention_brands"):
            if "emotion" not in {r[1] for r in c.execute(f"PRAGMA table_info({table})")}:
                c.execute(f"ALTER TABLE {table} ADD COLUMN emotion TEXT")
        c.execute("UPDATE mentions SET emotion = json_extract(body, '$.emotion') "
                  "WHERE emotion IS NOT json_extract(body, '$.emotion')")
        c.execute("UPDATE mention_brands SET emotion = (SELECT emotion FROM mentions m WHERE m.seq = "
                  "mention_brands.seq) WHERE seq IN (SELECT seq FROM mentions WHERE emotion IS NOT NULL)")
        c.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")

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

    @contextmanager
    def deferred_indexes(self) -> Iterator[None]:
        """For a bulk load into an empty store: drop the sort indexes (`mentions_newest`,
        `mentions_engagement`) and build them once at the end, which costs a fraction of
        keeping them in order row by row. A load killed half-way leaves them missing until the
        next `open()` creates them again; until then searches run without them (slower, same
        answers). A store that already holds mentions keeps its indexes."""
        c = self._conn()
        with write_tx(c):
            empty = c.execute("SELECT 1 FROM mentions LIMIT 1").fetchone() is None
            if empty:
                for name in _SORT_INDEXES:
                    c.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            if empty:
                try:
                    with write_tx(c):
                        for stmt in _SORT_INDEXES.values():
                            c.execute(stmt)
                except sqlite3.Error as exc:
                    raise StoreError(f"rebuilding the sort indexes of {self.path} failed: {exc}") from exc

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
    def upsert(self, mentions: Sequence[Mention], *, replace: Collection[str] = ()) -> UpsertResult:
        replace = replace_fields(replace)
        if not mentions:
            return UpsertResult()
        with gc_paused():
            return self.write_prepared(prepare(mentions), replace=replace)

    def write_prepared(self, *parts: Prepared, replace: Collection[str] = ()) -> UpsertResult:
        """Write prepared batches (store/sqlite_rows.py), in order, in one IMMEDIATE transaction.
        `replace`: as in `upsert`."""
        replace = replace_fields(replace)
        n = sum(len(p.rows) for p in parts)
        repeated = sum(p.repeated for p in parts)
        if not n:
            return UpsertResult(updated=repeated)
        inserted = updated = 0
        try:
            with gc_paused(), write_tx(self._conn()) as c:
                deltas = []
                for p in parts:
                    i, u, correction = self._write(c, p, replace)
                    inserted += i
                    updated += u
                    deltas.append(p.rollup_rows)
                    if correction is not None:
                        deltas.append(correction.rows())
                _write_rollups(c, deltas)
        except sqlite3.Error as exc:
            raise StoreError(f"writing {n} mentions failed: {exc}") from exc
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

    @staticmethod
    def _last_seq(c: sqlite3.Connection) -> int:
        row = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'mentions'").fetchone()
        return row[0] if row else 0

    def _insert_rows(self, c: sqlite3.Connection, rows: list[tuple]) -> int:
        """Insert mentions rows in order; SQLite numbers them (AUTOINCREMENT, under our write
        lock) first_seq, first_seq + 1, ...: returns first_seq, after checking that it did."""
        first = self._last_seq(c) + 1
        now_us = to_us(datetime.now(UTC))
        c.executemany(_INSERT_MENTION.format(now_us=now_us), rows)
        if self._last_seq(c) != first + len(rows) - 1:
            raise StoreError("mention sequence numbers were not assigned contiguously")
        return first

    def _write(self, c: sqlite3.Connection, p: Prepared,
               replace: frozenset[str] = frozenset()) -> tuple[int, int, Rollups | None]:
        """(inserted, updated, rollup corrections to p.rollup_rows or None)."""
        existing = self._existing(c, [r[0] for r in p.rows])
        if existing:
            return self._write_mixed(c, p, existing, replace)
        # Every mention is new (a bulk load): the prepared rows go in as they are; SQL adds the
        # first seq to each batch index.
        base = self._insert_rows(c, p.rows)
        c.executemany(f"INSERT INTO mentions_fts(rowid, tokens) VALUES (?1 + {base}, CAST(?2 AS TEXT))", p.fts)
        c.executemany(f"INSERT OR IGNORE INTO mention_brands VALUES (?2, ?3, ?1 + {base}, ?4)", p.brands)
        c.executemany(f"INSERT OR IGNORE INTO mention_keywords VALUES (?1 + {base}, ?2)", p.keywords)
        c.executemany(f"INSERT INTO mention_aspects VALUES (?1 + {base}, ?2, ?3, ?4)", p.aspects)
        return len(p.rows), 0, None

    def _write_mixed(self, c: sqlite3.Connection, p: Prepared, existing: dict[str, tuple],
                     replace: frozenset[str] = frozenset()) -> tuple[int, int, Rollups]:
        """A batch with ids already stored: new ones are inserted, the others merged in place."""
        new_index = [i for i, r in enumerate(p.rows) if r[0] not in existing]
        seq_of: dict[int, int] = {}
        if new_index:
            base = self._insert_rows(c, [p.rows[i] for i in new_index])
            seq_of = {i: base + k for k, i in enumerate(new_index)}
        c.executemany("INSERT INTO mentions_fts(rowid, tokens) VALUES (?, CAST(? AS TEXT))",
                      [(seq_of[i], t) for i, t in p.fts if i in seq_of])
        brands = [(b, pub, seq_of[i], e) for i, b, pub, e in p.brands if i in seq_of]
        keywords = [(seq_of[i], k) for i, k in p.keywords if i in seq_of]
        aspects = [(seq_of[i], *rest) for i, *rest in p.aspects if i in seq_of]
        rollups = Rollups()  # corrections to p.rollup_rows
        for i, r in enumerate(p.rows):
            if i not in seq_of:
                m = Mention.model_validate_json(r[-1])
                rollups.add(m, r[3], -1)  # prepare() counted it as new
                self._update(c, existing[r[0]], m, rollups, brands, keywords, aspects, replace)
        c.executemany("INSERT OR IGNORE INTO mention_brands VALUES (?, ?, ?, ?)", brands)
        c.executemany("INSERT OR IGNORE INTO mention_keywords VALUES (?, ?)", keywords)
        c.executemany("INSERT INTO mention_aspects VALUES (?, ?, ?, ?)", aspects)
        return len(new_index), len(p.rows) - len(new_index), rollups

    def _update(self, c, old_row, incoming: Mention, rollups: Rollups, brands, keywords, aspects,
                replace: frozenset[str] = frozenset()) -> None:
        seq, old_pub, old_body = old_row
        old = Mention.model_validate_json(old_body)
        m = merge(old, incoming, replace)
        pub = to_us(m.published_at)
        rollups.add(old, old_pub, -1)
        rollups.add(m, pub, +1)
        c.execute(
            "UPDATE mentions SET source=?, kind=?, published_us=?, label=?, engagement=?, location=?, "
            "is_dup=?, brands=?, emotion=?, body=? WHERE seq=?",
            (m.source, m.kind.value, pub, m.sentiment.label.value if m.sentiment else None,
             m.metrics.engagement(), m.location, int(m.dup_of is not None), brands_json(m), m.emotion,
             m.model_dump_json(exclude_none=True), seq),
        )
        old_tokens, new_tokens = fts_text(old), fts_text(m)
        if old_tokens != new_tokens:
            # Contentless FTS5: a row is removed by replaying its original tokens.
            c.execute("INSERT INTO mentions_fts(mentions_fts, rowid, tokens) VALUES ('delete', ?, ?)",
                      (seq, old_tokens))
            c.execute("INSERT INTO mentions_fts(rowid, tokens) VALUES (?, ?)", (seq, new_tokens))
        if set(old.brands) != set(m.brands) or old_pub != pub or old.emotion != m.emotion:
            c.executemany("DELETE FROM mention_brands WHERE brand = ? AND published_us = ? AND seq = ?",
                          [(b, old_pub, seq) for b in set(old.brands)])
            brands.extend((b, pub, seq, m.emotion) for b in set(m.brands))
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
                emotion = f" AND emotion IN ({','.join('?' * len(f.emotions))})" if f.emotions else ""
                clauses.append(f"EXISTS (SELECT 1 FROM mention_brands WHERE brand IN ({marks}) "
                               f"AND published_us = {alias}.published_us AND seq = {alias}.seq{emotion})")
                params.extend(f.brands)
                params.extend(f.emotions)
            else:
                # The brands' rows in the time range only: the key (brand, published_us, seq)
                # gives a brand's last 30 days without touching the mentions table.
                plus = "+" if drive not in (None, "brand") else ""
                sub, sub_params = self._brand_rows(f)
                clauses.append(f"{plus}{alias}.seq IN ({sub})")
                params.extend(sub_params)
        # With brands, their rows already hold only the emotions asked for (see _brand_rows).
        for col, values in (("source", f.sources), ("kind", [k.value for k in f.kinds]),
                            ("label", [s.value for s in f.sentiments]),
                            ("emotion", [] if f.brands else f.emotions)):
            if values:
                clauses.append(f"{alias}.{col} IN ({','.join('?' * len(values))})")
                params.extend(values)
        _time_range(f, f"{alias}.published_us", clauses, params)
        if not f.include_dups:
            clauses.append(f"{alias}.is_dup = 0")
        return clauses, params

    def _brand_rows(self, f: Filters, what: str = "seq") -> tuple[str, list]:
        """SELECT of `what` from the mention_brands rows of f.brands within f.since/f.until
        and, when given, of f.emotions (the rows carry their mention's emotion)."""
        where = [f"brand IN ({','.join('?' * len(f.brands))})"]
        params: list = list(f.brands)
        _time_range(f, "published_us", where, params)
        if f.emotions:
            where.append(f"emotion IN ({','.join('?' * len(f.emotions))})")
            params.extend(f.emotions)
        return f"SELECT {what} FROM mention_brands WHERE {' AND '.join(where)}", params

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
        if f.brands and f.emotions:
            # The rollups have no emotions; the brands' rows do: their count is one index range
            # (3-10 ms for a big brand's month on a million mentions).
            sub, params = self._brand_rows(f, "count(*)")
            sizes["brand"] = self._read(sub, params)[0][0]
        elif f.brands:
            # Mentions of the brands in the time range (whole hours around it: an upper bound).
            where, params = [f"brand IN ({','.join('?' * len(f.brands))})"], list(f.brands)
            if f.since is not None:
                where.append("hour >= ?")
                params.append(to_us(_aware(f.since, "since")) // HOUR_US)
            if f.until is not None:
                where.append("hour <= ?")
                params.append(to_us(_aware(f.until, "until")) // HOUR_US)
            sizes["brand"] = self._read(
                f"SELECT coalesce(sum(total), 0) FROM rollup_brand_hour WHERE {' AND '.join(where)}", params)[0][0]
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
        if (len(query.brands) == 1 and query.q and fts_query(query.q) and query.sort == "newest"
                and not (query.sources or query.kinds or query.sentiments) and query.include_dups):
            return self._search_brand_text(query)
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
        sql = f"SELECT m.body, {cols} FROM mentions m {{}} WHERE {where} ORDER BY {order} LIMIT ?"
        try:
            rows = self._read(sql.format(indexed), [*params, query.limit + 1])
        except StoreError as exc:
            if not indexed or "no such index" not in str(exc):
                raise
            # A bulk load into an empty store is building its sort indexes (deferred_indexes).
            rows = self._read(sql.format(""), [*params, query.limit + 1])
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        items = [Mention.model_validate_json(r[0]) for r in rows]
        next_cursor = cursors.encode(kind, list(rows[-1])[1:]) if more and rows else None
        total = None
        if query.cursor is None:  # total on the first page only: later pages stay cheap
            total = self._count(Filters.model_validate(base.model_dump(include=set(Filters.model_fields))),
                                n_fts, count_drive)
        return SearchPage(items=items, next_cursor=next_cursor, total=total)

    def _search_brand_text(self, query: SearchQuery) -> SearchPage:
        """Text + one brand (+ time range), newest first: the case where both candidate lists can
        be long and their intersection sparse. The brand's rows in the range come from the key
        (brand, published_us, seq) newest first without touching the mentions table; one pass
        intersects them with the text matches and also counts them (a window count), and yields
        the publication time P of the last row the page can need. The page is then read from
        the brand's rows at or after P only, probing the full-text index row by row (a few dozen)."""
        expr = fts_query(query.q)
        brand = query.brands[0]
        where, params = ["brand = ?"], [brand]
        _time_range(query, "published_us", where, params)
        if query.emotions:  # the brand's rows carry the emotion
            where.append(f"emotion IN ({','.join('?' * len(query.emotions))})")
            params.extend(query.emotions)
        after = None
        ties = 0
        if query.cursor:
            after = cursors.decode(query.cursor, "newest", 2)
            if not isinstance(after[0], int) or not isinstance(after[1], str):
                raise InvalidInput("malformed cursor")
            where.append("published_us <= ?")
            params.append(after[0])
            # Rows at exactly the cursor's time may sort before or after it (by id): fetch enough.
            ties = self._read("SELECT count(*) FROM mention_brands WHERE brand = ? AND published_us = ?",
                              (brand, after[0]))[0][0]
        want = query.limit + 1 + ties
        w = " AND ".join(where)
        rows = self._read(
            f"SELECT published_us, count(*) OVER () FROM mention_brands WHERE {w} AND seq IN "
            f"(SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?) ORDER BY published_us DESC LIMIT ?",
            [*params, expr, want])
        total = (rows[0][1] if rows else 0) if query.cursor is None else None
        items: list[Mention] = []
        next_cursor = None
        if rows:
            page_where = [f"b.{c}" for c in where] + ["b.published_us >= ?"]
            page_params = [*params, rows[-1][0]]
            if after is not None:
                page_where.append("(m.published_us, m.id) < (?, ?)")
                page_params.extend(after)
            page = self._read(
                f"SELECT m.body, m.published_us, m.id FROM mention_brands b JOIN mentions m ON m.seq = b.seq "
                f"WHERE {' AND '.join(page_where)} AND EXISTS (SELECT 1 FROM mentions_fts WHERE mentions_fts "
                f"MATCH ? AND rowid = b.seq) ORDER BY m.published_us DESC, m.id DESC LIMIT ?",
                [*page_params, expr, query.limit + 1])
            more = len(page) > query.limit
            page = page[:query.limit]
            items = [Mention.model_validate_json(r[0]) for r in page]
            if more and page:
                next_cursor = cursors.encode("newest", [page[-1][1], page[-1][2]])
        return SearchPage(items=items, next_cursor=next_cursor, total=total)

    def _count(self, f: Filters, n_fts: int | None = None, drive: str | None = None) -> int:
        only_q = not (f.brands or f.sources or f.kinds or f.sentiments or f.emotions or f.since or f.until
                      ) and f.include_dups
        if only_q and f.q and f.q.strip():
            return n_fts if n_fts is not None else (self._fts_matches(f.q) or 0)
        fast = self._count_from_rollup(f)
        if fast is not None:
            return fast
        clauses, params = self._where(f, drive=drive)
        where = " AND ".join(clauses) or "1"
        return self._read(f"SELECT count(*) FROM mentions m WHERE {where}", params)[0][0]

    def _count_from_rollup(self, f: Filters) -> int | None:
        """Counts the hourly rollup can answer exactly: no text, kinds, emotions or dup filter, at
        most one brand, and whole UTC hours."""
        if (f.q and f.q.strip()) or f.kinds or f.emotions or not f.include_dups or len(f.brands) > 1:
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
        keys = list(query.brands if split == "brand" else query.sources if split == "source"
                    else (query.emotions or EMOTIONS) if split == "emotion" else [])
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
        if q.emotions or split == "emotion":
            return self._trend_rows_by_emotion(q, lo, hi, unit, bucket_sql)
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

    def _trend_rows_by_emotion(self, q: TrendQuery, lo: int, hi: int, unit: int, bucket_sql: str | None) -> Iterable:
        """`_trend_rows` for an emotion filter or split. The rollups have no emotion, so this counts
        the matching mentions: with brands, from the brands' rows (one index range per brand,
        carrying the emotion) joined to the mentions by seq for the sentiment label and source."""
        sentiment = ("count(*), sum(m.label IS 'positive'), sum(m.label IS 'neutral'), "
                     "sum(m.label IS 'negative'), sum(m.label IS NULL)")
        since, until = _from_us(lo * unit), _from_us(hi * unit)
        split = q.split_by
        if q.brands or split == "brand":
            brands = q.brands or [r[0] for r in self._read(
                "SELECT DISTINCT brand FROM rollup_brand_hour WHERE hour >= ? AND hour < ? AND brand NOT IN (?, ?)",
                (lo * unit // HOUR_US, -(-hi * unit // HOUR_US), ALL, NO_BRAND))]
            if not brands:
                return []
            # Split by brand: each brand's own rows (a mention naming two counts for each). One
            # series over several brands: a mention naming two of them counts once (DISTINCT).
            cols = ("brand, published_us, seq, emotion" if split == "brand" or len(brands) == 1
                    else "DISTINCT published_us, seq, emotion")
            sub, params = self._brand_rows(Filters(brands=brands, emotions=q.emotions, since=since, until=until), cols)
            key = {"brand": "b.brand", "source": "m.source",
                   "emotion": f"coalesce(b.emotion, '{UNSCORED}')"}.get(split or "", "NULL")
            u = f"(b.published_us / {unit})"
            where = ""
            if q.sources:
                where = f"WHERE m.source IN ({','.join('?' * len(q.sources))})"
                params.extend(q.sources)
            b = bucket_sql.replace("X", u) if bucket_sql else u
            return self._rows(f"SELECT {key}, {b}, {sentiment} FROM ({sub}) b JOIN mentions m ON m.seq = b.seq "
                              f"{where} GROUP BY 1, 2", params)
        # All mentions. Walking the time index costs a row lookup per mention, about three times a
        # row of a straight pass over the table: past a third of the store, read it straight through.
        (in_range, stored), = self._read(
            "SELECT coalesce(sum(total * (hour >= ? AND hour < ?)), 0), coalesce(sum(total), 0) "
            "FROM rollup_brand_hour WHERE brand = ?", (lo * unit // HOUR_US, -(-hi * unit // HOUR_US), ALL))
        scan = "NOT INDEXED" if in_range * 3 > stored else ""
        clauses, params = self._where(Filters(sources=q.sources, emotions=q.emotions, since=since, until=until))
        key = {"source": "m.source", "emotion": f"coalesce(m.emotion, '{UNSCORED}')"}.get(split or "", "NULL")
        u = f"(m.published_us / {unit})"
        b = bucket_sql.replace("X", u) if bucket_sql else u
        return self._rows(f"SELECT {key}, {b}, {sentiment} FROM mentions m {scan} WHERE {' AND '.join(clauses)} "
                          "GROUP BY 1, 2", params)

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
        f = filters
        if (by == "emotion" and f.brands and f.include_dups
                and not ((f.q and f.q.strip()) or f.sources or f.kinds or f.sentiments)):
            # The brands' rows carry the emotion: one index range, no mentions read (a mention
            # naming two of the brands counts once).
            sub, params = self._brand_rows(f, "coalesce(emotion, 'unscored') AS k, count(DISTINCT seq) AS n")
            rows = self._read(f"{sub} GROUP BY k ORDER BY n DESC, k LIMIT ?", [*params, limit])
            return {r[0]: r[1] for r in rows}
        clauses, params = self._where(filters)
        join, count = "", "count(*)"
        if by == "brand":
            key, join = "b.value", ", json_each(m.brands) b"
        elif by == "touchpoint":
            key, join = "a.touchpoint", "JOIN mention_aspects a ON a.seq = m.seq"
            count = "count(DISTINCT m.seq)"  # a mention counts once per touchpoint
        elif by == "sentiment":
            key = "coalesce(m.label, 'unscored')"
        elif by == "emotion":
            key = "coalesce(m.emotion, 'unscored')"
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
        """Hourly rollup rows that differ from a recount of the raw mentions (empty = exact), and
        ("mention_brands", seq) for each mention whose brand rows disagree with it (brands,
        published_us or emotion). Used by tests and `opmon stats --check`."""
        recount: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        rows = self._read("SELECT source, published_us, label, brands FROM mentions")
        for source, pub, label, brands in rows:
            li = LABEL_INDEX[label]
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
        want_rows = {(b, pub, seq, emotion) for seq, pub, brands, emotion in self._read(
            "SELECT seq, published_us, brands, emotion FROM mentions WHERE brands IS NOT NULL")
            for b in json.loads(brands)}
        have_rows = {tuple(r) for r in self._read("SELECT brand, published_us, seq, emotion FROM mention_brands")}
        for seq in sorted({r[2] for r in want_rows ^ have_rows}):
            diffs.append((("mention_brands", seq), sorted(r for r in want_rows if r[2] == seq),
                          sorted(r for r in have_rows if r[2] == seq)))
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


def _time_range(f: Filters, column: str, clauses: list[str], params: list) -> None:
    """Append `f.since <= column < f.until` (whichever is set) to a WHERE being built."""
    if f.since is not None:
        clauses.append(f"{column} >= ?")
        params.append(to_us(_aware(f.since, "since")))
    if f.until is not None:
        clauses.append(f"{column} < ?")
        params.append(to_us(_aware(f.until, "until")))


def _aware(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise InvalidInput(f"{what} must carry a time zone")
    return dt


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
