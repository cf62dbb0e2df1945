"""`store.bulk.ingest_jsonl`: preparer processes + one writer give the same store as plain upserts."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import orjson
import pytest

import store.sqlite_rows as sqlite_rows
from bench.mentiongen import generate
from core.errors import StoreError
from core.mention import Mention
from store.base import EMOTIONS, Filters, SearchQuery
from store.bulk import ingest_jsonl
from store.sqlite import SqliteStore

END = datetime(2026, 11, 20, tzinfo=UTC)


def _jsonl(tmp_path, n=1200, seed=3):
    # Emotions as the NLP head fills them (every 5th mention has none).
    rows = [orjson.dumps({**d, "emotion": EMOTIONS[i % 6]} if i % 5 else d)
            for i, d in enumerate(generate(n, seed=seed, end=END, as_dict=True))]
    # Bad lines, a blank line, and ids repeated later in the file (inside one chunk and across
    # chunks): the last copy wins, as with upsert.
    again = [orjson.dumps({**orjson.loads(rows[i]), "text": f"改过的文本 {i}"}) for i in (5, 700)]
    lines = (rows[:300] + [b"not json", b""] + rows[300:900]
             + [b'{"id": "weibo:1", "source": "weibo", "kind": "tweet", "text": "x", '
                b'"published_at": "2026-11-01T00:00:00+08:00"}'] + [again[0]] + rows[900:] + [again[1]])
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, n


def _content(st: SqliteStore) -> list[tuple]:
    return [tuple(r) for r in st._read("SELECT seq, id, published_us, label, engagement, coalesce(brands, '') || '|' || "
                                       "coalesce(emotion, '-'), body FROM mentions ORDER BY seq")]


@pytest.mark.parametrize(("workers", "start"), [(0, None), (2, "fork"), (2, "forkserver")])
def test_parallel_ingest_matches_in_process_upserts(tmp_path, workers, start):
    path, n = _jsonl(tmp_path)
    rejected: list[tuple[int, str]] = []
    st = SqliteStore(tmp_path / "a.db")
    st.open()
    with open(path, "rb") as f:
        res = ingest_jsonl(st, f, batch=250, workers=workers, parallel_min_lines=0,
                           on_reject=lambda no, why: rejected.append((no, why)), start_method=start)
    assert (res.inserted, res.updated, res.rejected) == (n, 2, 2)
    assert [no for no, _ in rejected] == [301, 903]
    assert rejected[0][1].startswith("not valid JSON") and rejected[1][1].startswith("kind: ")
    assert st.rollup_mismatches() == []
    assert st.get(f"{orjson.loads(path.read_bytes().splitlines()[5])['id']}").text == "改过的文本 5"
    # The same lines through plain upserts give the same rows, in the same order.
    ref = SqliteStore(tmp_path / "b.db")
    ref.open()
    for line in path.read_bytes().splitlines():
        m, _ = sqlite_rows.parse_line(line) if line.strip() else (None, None)
        if m is not None:
            ref.upsert([m])
    # Bodies: the import keeps each validated line as it came (nulls included), upsert()
    # serialises the model; both must read back as the same mention.
    strip = [(seq, i, pub, lab, eng, br, Mention.model_validate_json(body))
             for seq, i, pub, lab, eng, br, body in _content(st)]
    want = [(seq, i, pub, lab, eng, br, Mention.model_validate_json(body))
            for seq, i, pub, lab, eng, br, body in _content(ref)]
    assert strip == want
    # The import path fills the emotion column from each line, as upsert() does.
    emo = st._read("SELECT emotion, json_extract(body, '$.emotion') FROM mentions")
    assert all(a == b for a, b in emo) and 0 < sum(a is not None for a, _ in emo) < len(emo)
    assert st.count(Filters(emotions=["angry"])) == ref.count(Filters(emotions=["angry"])) > 0
    # Export walks every mention once, in ingest order, and full-text search finds them.
    seen, cursor = [], None
    while True:
        batch = st.export(cursor, limit=500)
        if not batch.items:
            break
        seen.extend(m.id for m in batch.items)
        cursor = batch.next_cursor
    assert seen == [r[1] for r in _content(ref)]
    q = SearchQuery(q="小米", limit=5)
    assert st.search(q).total == ref.search(q).total > 0
    # The sort indexes, deferred during the load into an empty store, are back.
    names = {r[0] for r in st._read("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"mentions_newest", "mentions_engagement"} <= names
    # Idempotent: the same file again inserts nothing.
    with open(path, "rb") as f:
        again = ingest_jsonl(st, f, batch=250, workers=workers, parallel_min_lines=0, start_method=start)
    assert (again.inserted, again.updated, again.rejected) == (0, n + 2, 2)
    assert st.count(Filters()) == n and st.rollup_mismatches() == []
    st.close()
    ref.close()


def _die_on_line_601(lines, first_line):
    if first_line <= 601 < first_line + len(lines):
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_prepare_lines(lines, first_line)


_real_prepare_lines = sqlite_rows.prepare_lines


def test_a_preparer_killed_is_an_error_and_a_rerun_completes(tmp_path, monkeypatch):
    path, n = _jsonl(tmp_path, n=1000, seed=9)
    st = SqliteStore(tmp_path / "c.db")
    st.open()
    # Forked preparers inherit the patch: the one that gets lines 601.. kills itself.
    monkeypatch.setattr(sqlite_rows, "prepare_lines", _die_on_line_601)
    with pytest.raises(StoreError, match="preparer process died"), open(path, "rb") as f:
        ingest_jsonl(st, f, batch=200, workers=2, parallel_min_lines=0, start_method="fork")
    monkeypatch.setattr(sqlite_rows, "prepare_lines", _real_prepare_lines)
    kept = st.count(Filters())
    assert 0 < kept < n  # the batches before the dead one are stored, whole
    assert st.rollup_mismatches() == []
    with open(path, "rb") as f:
        res = ingest_jsonl(st, f, batch=200, workers=2, parallel_min_lines=0, start_method="fork")
    assert res.inserted == n - kept and st.count(Filters()) == n
    assert st.rollup_mismatches() == []
    st.close()


def test_searches_work_while_the_sort_indexes_are_deferred(tmp_path):
    st = SqliteStore(tmp_path / "d.db")
    st.open()
    with st.deferred_indexes():
        st.upsert(list(generate(300, seed=2, end=END)))
        names = {r[0] for r in st._read("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "mentions_newest" not in names
        st.fts_walk_threshold = 0  # force the plan that names the index
        page = st.search(SearchQuery(q="小米", limit=5))
        assert page.items and page.total == st.count(Filters(q="小米"))
    st.fts_walk_threshold = 20_000
    assert st.search(SearchQuery(q="小米", limit=5)).items == page.items
    st.close()


def test_imported_lines_are_kept_as_bodies_only_when_they_read_back_the_same(tmp_path):
    # A valid line is stored as it came (cheaper than serialising the model again), so reading
    # it back must give exactly the mention that was validated; a line that leaves out
    # crawled_at (a default computed from the clock) is serialised instead, or every read
    # would get a different crawled_at.
    full = {"id": "weibo:1", "source": "weibo", "kind": "post", "text": "  小米售后不错  ", "title": None,
            "published_at": "2026-11-01T08:00:00+08:00", "crawled_at": "2026-11-02T00:00:00Z",
            "metrics": {"likes": "3", "rating": None}, "brands": ["小米", "小米"]}
    no_crawled = {"id": "weibo:2", "source": "weibo", "kind": "post", "text": "华为",
                  "published_at": "2026-11-01T09:00:00+08:00"}
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"  " + orjson.dumps(full) + b"  \r\n" + orjson.dumps(no_crawled) + b"\n")
    st = SqliteStore(tmp_path / "e.db")
    st.open()
    with open(path, "rb") as f:
        ingest_jsonl(st, f, workers=0)
    bodies = dict(st._read("SELECT id, body FROM mentions"))
    assert bodies["weibo:1"] == orjson.dumps(full).decode()  # the line, trimmed
    assert "crawled_at" in orjson.loads(bodies["weibo:2"])  # serialised: the default is frozen
    want = sqlite_rows.parse_line(orjson.dumps(full))[0]
    got = st.get("weibo:1")
    assert got == want and got.text == "小米售后不错" and got.metrics.likes == 3
    assert st.get("weibo:2").crawled_at == st.get("weibo:2").crawled_at
    assert st.export(None).items == [got, st.get("weibo:2")]
    assert st.search(SearchQuery(q="小米", brands=["小米"])).total == 1
    assert st.rollup_mismatches() == []
    st.close()


_OK = {"id": "jd:1", "source": "jd", "kind": "review", "text": " 好评 ", "published_at": "2026-11-01T08:00:00+08:00",
       "crawled_at": "2026-11-02T00:00:00Z",
       "metrics": {"rating": 5}, "brands": ["京东"]}


@pytest.mark.parametrize("line", [
    orjson.dumps(_OK),
    orjson.dumps({**_OK, "zzz": 1}),  # unknown field
    orjson.dumps({**_OK, "published_at": "2026-11-01T08:00:00"}),  # naive datetime
    orjson.dumps({**_OK, "source": "JD!"}),
    orjson.dumps({**_OK, "id": "weibo:1"}),  # id of another source
    orjson.dumps({**_OK, "metrics": {"rating": 7}}),
    orjson.dumps({**_OK, "kind": "tweet"}),
    orjson.dumps({**_OK, "text": "", "metrics": {}}),  # empty text, no rating
    b'{"id": "jd:1", ',
])
def test_import_validation_is_the_mention_models(line):
    # parse_line uses its own validator (a cheaper string cache): it must accept and reject
    # exactly what Mention.model_validate_json does, with the same reasons.
    m, reason = sqlite_rows.parse_line(line)
    try:
        want = Mention.model_validate_json(line)
    except ValueError as exc:
        assert m is None and reason is not None
        if "json_invalid" not in str(exc.errors()[0]["type"]):
            assert reason == sqlite_rows.mention_errors(exc)
    else:
        assert reason is None and m == want and type(m) is Mention
        assert m.model_fields_set == want.model_fields_set
