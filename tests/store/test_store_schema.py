"""Schema versions of the embedded store (1 -> 2: mention_brands keyed (brand, published_us, seq);
2 -> 3: the `emotion` column), and the text + brand + time search path that version 2's key serves."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.mentiongen import generate
from core.errors import StoreError
from core.mention import Mention
from store.base import EMOTIONS, Filters, SearchQuery
from store.sqlite import SCHEMA_VERSION, SqliteStore

DATA = Path(__file__).parent / "data"
END = datetime(2026, 11, 20, tzinfo=UTC)


def _ids(st: SqliteStore, q: SearchQuery) -> tuple[list[str], int | None]:
    """Every page of `q`, walked with its cursors: (ids in order, total of the first page)."""
    ids, cursor, total = [], None, None
    for _ in range(1000):
        page = st.search(q.model_copy(update={"cursor": cursor}))
        if cursor is None:
            total = page.total
        ids.extend(m.id for m in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids, total
    raise AssertionError("pagination did not end")


def test_a_version_1_file_is_migrated_in_place(tmp_path):
    # mentions_v1.db was written by the version-1 code (80 mentions of generate(seed=77)).
    db = tmp_path / "old.db"
    shutil.copy(DATA / "mentions_v1.db", db)
    st = SqliteStore(db)
    st.open()
    assert st._read("SELECT value FROM meta WHERE key = 'schema'")[0][0] == SCHEMA_VERSION == "3"
    cols = [r[1] for r in st._read("PRAGMA table_info(mention_brands)")]
    assert cols == ["brand", "published_us", "seq", "emotion"]
    # ... and on to version 3: the emotion columns (version-1 bodies carry no emotion).
    assert tuple(st._read("SELECT count(*), count(emotion) FROM mentions")[0]) == (80, 0)
    ms = list(generate(80, seed=77, days=10, end=END))
    assert st.count(Filters()) == 80 and st.rollup_mismatches() == []
    for brand in {b for m in ms for b in m.brands}:
        assert st.count(Filters(brands=[brand])) == sum(brand in m.brands for m in ms)
        since = END - timedelta(days=4)
        want = sorted((m for m in ms if brand in m.brands and m.published_at >= since
                       and "的" in f"{m.title}{m.text}"),
                      key=lambda m: (m.published_at, m.id), reverse=True)
        got, total = _ids(st, SearchQuery(q="的", brands=[brand], since=since, limit=3))
        assert got == [m.id for m in want] and total == len(want)
    # The migrated store keeps working: an update that moves a mention in time and brands.
    m = ms[0]
    moved = m.model_copy(update={"published_at": m.published_at - timedelta(days=1), "brands": ["新品牌"]})
    st.upsert([moved])
    assert st.search(SearchQuery(q=m.text[:2], brands=["新品牌"])).items[0].id == m.id
    assert st.rollup_mismatches() == []
    st.close()
    # Opening again does nothing more.
    st = SqliteStore(db)
    st.open()
    assert st.count(Filters()) == 80
    st.close()


def test_a_newer_schema_is_refused_not_misread(tmp_path):
    db = tmp_path / "new.db"
    st = SqliteStore(db)
    st.open()
    st.close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteStore(db).open()


def test_text_brand_time_search_matches_the_general_plan(sqlite_store):
    ms = list(generate(1500, seed=8, days=20, end=END))
    # Ties: several mentions of one brand published at the same microsecond.
    same = END - timedelta(days=3)
    ms += [Mention.model_validate({**ms[i].model_dump(), "id": f"weibo:tie{i}", "source": "weibo",
                                   "published_at": same, "brands": ["小米"], "title": None,
                                   "text": f"小米的售后 {i}"}) for i in range(12)]
    sqlite_store.upsert(ms)
    for q, brand, days, limit in (("小米", "小米", 10, 7), ("物流", "华为", 20, 5), ("价格", "小米", 5, 4),
                                  ("退款", "方太", 20, 3), ("不存在的词", "小米", 20, 5), ("的", "小米", 3, 2)):
        fast = SearchQuery(q=q, brands=[brand], since=END - timedelta(days=days), limit=limit)
        # Two brands (one that names nothing) take the general plan: same answers.
        general = fast.model_copy(update={"brands": [brand, "无此品牌"]})
        got, total = _ids(sqlite_store, fast)
        want, want_total = _ids(sqlite_store, general)
        assert got == want and total == want_total == len(want), (q, brand)
        assert total == sqlite_store.count(general)
    ties = _ids(sqlite_store, SearchQuery(q="的", brands=["小米"], since=same, until=same + timedelta(seconds=1),
                                          limit=5))[0]
    assert ties == sorted((f"weibo:tie{i}" for i in range(12)), reverse=True)  # by id, across pages


def _v2_mentions() -> list[Mention]:
    """What mentions_v2.db holds: it was written by the version-2 code (before the emotion column)
    from these 80 mentions, every 7th without an emotion, upserted in two batches (60 + 20)."""
    return [m.model_copy(update={"emotion": None if i % 7 == 0 else EMOTIONS[i % 6]})
            for i, m in enumerate(generate(80, seed=78, days=10, end=END))]


def _columns(db: Path, table: str = "mentions") -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def test_a_version_2_file_gets_the_emotion_column_backfilled_from_the_bodies(tmp_path):
    db = tmp_path / "v2.db"
    shutil.copy(DATA / "mentions_v2.db", db)
    assert "emotion" not in _columns(db) + _columns(db, "mention_brands")  # really the old layout
    ms = _v2_mentions()
    st = SqliteStore(db)
    st.open()
    assert st._read("SELECT value FROM meta WHERE key = 'schema'")[0][0] == "3"
    assert _columns(db)[-1] == "emotion"
    # The brand rows got their mention's emotion too (rollup_mismatches compares them, below).
    assert st._read("SELECT count(*) FROM mention_brands WHERE emotion IS NOT NULL")[0][0] > 0
    # Every row's column equals its body's emotion (NULL where the body has none).
    by_id = {m.id: m.emotion for m in ms}
    rows = st._read("SELECT id, emotion FROM mentions")
    assert {r[0]: r[1] for r in rows} == by_id
    assert sum(e is not None for e in by_id.values()) == 68
    # Filters and breakdowns read the backfilled column.
    since = END - timedelta(days=5)
    for emotion in EMOTIONS:
        want = [m.id for m in ms if m.emotion == emotion]
        assert st.count(Filters(emotions=[emotion])) == len(want)
        got = _ids(st, SearchQuery(emotions=[emotion], limit=4))[0]
        assert sorted(got) == sorted(want)
    brand = ms[1].brands[0]
    want = sorted((m for m in ms if brand in m.brands and m.emotion in ("angry", "sad") and m.published_at >= since),
                  key=lambda m: (m.published_at, m.id), reverse=True)
    got, total = _ids(st, SearchQuery(brands=[brand], emotions=["angry", "sad"], since=since, limit=2))
    assert got == [m.id for m in want] and total == len(want)
    counts: dict[str, int] = {}
    for m in ms:
        counts[m.emotion or "unscored"] = counts.get(m.emotion or "unscored", 0) + 1
    assert st.breakdown(Filters(), "emotion", limit=10) == dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    assert st.rollup_mismatches() == []

    # Opening again (and running the migration step again) changes nothing.
    def snapshot(st):
        return _columns(db), [tuple(r) for r in st._read("SELECT seq, id, emotion, body FROM mentions ORDER BY seq")]

    before = snapshot(st)
    st.close()
    st = SqliteStore(db)
    st.open()
    SqliteStore._migrate_2_to_3(st._conn())  # the step alone, on the migrated file
    assert snapshot(st) == before
    assert st._read("SELECT value FROM meta WHERE key = 'schema'")[0][0] == "3"

    # The migrated store keeps the column current: an update changes it, a re-crawl without an
    # emotion keeps the scored one (enrichment is merged), a new mention brings its own.
    a, b = ms[1], ms[2]
    st.upsert([a.model_copy(update={"emotion": "fear"}), b.model_copy(update={"emotion": None}),
               ms[3].model_copy(update={"id": "weibo:new-1", "source": "weibo", "emotion": "surprise"})])
    got = {r[0]: r[1] for r in st._read("SELECT id, emotion FROM mentions WHERE id IN (?, ?, ?)",
                                         (a.id, b.id, "weibo:new-1"))}
    assert got == {a.id: "fear", b.id: b.emotion, "weibo:new-1": "surprise"} and b.emotion is not None
    assert st.count(Filters(emotions=["fear"])) == sum(m.emotion == "fear" for m in ms) + (a.emotion != "fear")
    assert st.count(Filters(brands=a.brands[:1], emotions=["fear"])) == sum(
        a.brands[0] in m.brands and m.emotion == "fear" for m in ms) + (a.emotion != "fear")
    assert st.rollup_mismatches() == []  # brand rows included
    st.close()


def test_a_failed_migration_leaves_version_2_intact_and_is_retried(tmp_path, monkeypatch):
    db = tmp_path / "v2.db"
    shutil.copy(DATA / "mentions_v2.db", db)

    def boom(c):
        c.execute("ALTER TABLE mentions ADD COLUMN emotion TEXT")
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(SqliteStore, "_migrate_2_to_3", staticmethod(boom))
    st = SqliteStore(db)
    with pytest.raises(StoreError, match="simulated"):
        st.open()
    st.close()
    assert "emotion" not in _columns(db)  # the ALTER TABLE rolled back with the transaction
    monkeypatch.undo()
    st = SqliteStore(db)
    st.open()
    assert st.count(Filters(emotions=["angry"])) == sum(m.emotion == "angry" for m in _v2_mentions()) > 0
    st.close()
