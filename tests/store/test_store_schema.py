"""Schema versions of the embedded store, and the text + brand + time search path that version 2's
(brand, published_us, seq) key serves."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.mentiongen import generate
from core.errors import StoreError
from core.mention import Mention
from store.base import Filters, SearchQuery
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
    assert st._read("SELECT value FROM meta WHERE key = 'schema'")[0][0] == SCHEMA_VERSION == "2"
    cols = [r[1] for r in st._read("PRAGMA table_info(mention_brands)")]
    assert cols == ["brand", "published_us", "seq"]
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
