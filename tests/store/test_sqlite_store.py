"""What only the embedded store promises: exact rollups, rollup-only trends, several processes."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.mentiongen import generate
from core.errors import InvalidInput
from core.mention import Mention
from store.base import Filters, SearchQuery, SeriesQuery, TrendQuery
from store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 20, tzinfo=UTC)


def test_rollups_stay_exact_through_updates_that_move_everything(sqlite_store):
    rng = random.Random(5)
    base = list(generate(600, seed=11, days=10, end=END))
    sqlite_store.upsert(base)
    labels = ["positive", "neutral", "negative", None]
    changed = []
    for m in rng.sample(base, 250):
        label = rng.choice(labels)
        sentiment = None if label is None else {"label": label, "probs": {"positive": .2, "neutral": .2,
                                                                          "negative": .6}, "score": 0, "model": "t"}
        changed.append(Mention.model_validate({
            **m.model_dump(), "published_at": m.published_at + timedelta(hours=rng.randint(-30, 30)),
            "brands": rng.choice([["小米"], ["华为", "小米"], ["蔚来"], m.brands]), "sentiment": sentiment,
            "aspects": [] if sentiment is None else m.model_dump()["aspects"]}))
    sqlite_store.upsert(changed)
    sqlite_store.upsert(changed[:50])  # same again: no change
    assert sqlite_store.rollup_mismatches() == []
    # The 5-minute rollup agrees with the raw rows as well.
    since, until = END - timedelta(days=12), END + timedelta(days=2)
    series = sqlite_store.series(SeriesQuery(since=since, until=until, step=timedelta(days=1)))
    assert sum(series.total) == 600
    xiaomi = sqlite_store.series(SeriesQuery(brand="小米", since=since, until=until, step=timedelta(hours=1)))
    assert sum(xiaomi.total) == sqlite_store.count(Filters(brands=["小米"]))


def test_trend_reads_rollups_not_mentions(sqlite_store):
    sqlite_store.upsert(list(generate(200, seed=1, days=10, end=END)))
    seen: list[str] = []
    sqlite_store._conn().set_trace_callback(seen.append)
    for q in (TrendQuery(since=END - timedelta(days=10), until=END),
              TrendQuery(brands=["小米"], since=END - timedelta(days=10), until=END, interval="week"),
              TrendQuery(since=END - timedelta(days=2), until=END, interval="hour", split_by="source"),
              TrendQuery(brands=["小米", "华为"], since=END - timedelta(days=9), until=END, split_by="brand")):
        assert sqlite_store.trend(q)
    sqlite_store._conn().set_trace_callback(None)
    assert seen and all("rollup_" in s and " mentions" not in s for s in seen), seen


def test_reopen_is_idempotent_and_keeps_data(tmp_path):
    st = SqliteStore(tmp_path / "m.db")
    st.open()
    st.upsert(list(generate(10, seed=1, end=END)))
    st.close()
    again = SqliteStore(tmp_path / "m.db")
    again.open()
    again.open()
    assert again.count(Filters()) == 10
    again.close()


def test_last_copy_of_an_id_in_one_call_wins(sqlite_store):
    (m,) = generate(1, seed=2, end=END)
    newer = m.model_copy(update={"text": "第二个版本"})
    res = sqlite_store.upsert([m, newer])
    assert (res.inserted, res.updated) == (1, 1)
    assert sqlite_store.get(m.id).text == "第二个版本"
    assert sqlite_store.count(Filters(q="第二个版本")) == 1 and sqlite_store.count(Filters(q=m.text[:4])) == 0


def test_naive_times_in_filters_are_invalid_input(sqlite_store):
    with pytest.raises(InvalidInput):
        sqlite_store.search(SearchQuery(since=datetime(2026, 1, 1)))


WRITER = textwrap.dedent("""
    import sys
    from bench.mentiongen import generate
    from datetime import datetime, timezone
    from store.sqlite import SqliteStore
    st = SqliteStore(sys.argv[1]); st.open()
    ms = list(generate(1500, seed=int(sys.argv[2]), end=datetime(2026, 11, 20, tzinfo=timezone.utc)))
    for i in range(0, len(ms), 50):
        st.upsert(ms[i:i + 50])
    print("ok")
""")


def test_several_writer_processes_and_a_reader_never_see_a_lock_error(tmp_path):
    path = tmp_path / "m.db"
    st = SqliteStore(path)
    st.open()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(seed)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2, 3)]
    reads = 0
    while any(p.poll() is None for p in procs) and reads < 10_000:
        st.search(SearchQuery(q="小米", limit=5))
        st.count(Filters(sources=["weibo"]))
        reads += 1
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    assert reads > 0
    ids = {m.id for seed in (1, 2, 3) for m in generate(1500, seed=seed, end=END)}
    assert len(ids) < 4500  # the writers did upsert some of the same ids
    assert st.count(Filters()) == len(ids)
    assert st.rollup_mismatches() == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    st.close()


def test_both_search_plans_return_the_same_pages(sqlite_store):
    sqlite_store.upsert(list(generate(500, seed=8, days=10, end=END)))
    queries = [dict(q="物流"), dict(q="小米", sort="engagement"), dict(q="一般般吧", brands=["小米", "华为"]),
               dict(q="客服", since=END - timedelta(days=4), sources=["weibo"])]

    def pages(**q):
        out, cur, totals = [], None, []
        while True:
            page = sqlite_store.search(SearchQuery(limit=9, cursor=cur, **q))
            out += [m.id for m in page.items]
            totals.append(page.total)
            cur = page.next_cursor
            if cur is None:
                return out, totals[0]

    for q in queries:
        sqlite_store.fts_walk_threshold = 10**9  # sort the matches
        by_sort = pages(**q)
        sqlite_store.fts_walk_threshold = 0  # walk the index
        assert pages(**q) == by_sort and by_sort[1] == len(by_sort[0]) > 0, q


def test_emotion_filters_take_every_search_plan_and_never_the_rollups(sqlite_store):
    from store.base import EMOTIONS

    rng = random.Random(2)
    ms = [m.model_copy(update={"emotion": rng.choice([*EMOTIONS, None])})
          for m in generate(500, seed=8, days=10, end=END)]
    sqlite_store.upsert(ms)
    since = END - timedelta(days=4)  # whole hours: a count the rollups could answer without emotions
    queries = [dict(emotions=["angry"]), dict(q="物流", emotions=["happy", "sad"]),
               dict(q="小米", brands=["小米"], emotions=["neutral"], since=since),
               dict(brands=["小米", "华为"], emotions=["fear", "surprise"], sort="engagement"),
               dict(brands=["小米"], emotions=["angry"], since=since)]
    for q in queries:
        got = []
        for threshold in (10**9, 0):  # sort the candidates / walk the sort index
            sqlite_store.fts_walk_threshold = threshold
            out, cur, total = [], None, None
            while True:
                page = sqlite_store.search(SearchQuery(limit=6, cursor=cur, **q))
                total = page.total if cur is None else total
                out += [m.id for m in page.items]
                cur = page.next_cursor
                if cur is None:
                    break
            got.append((out, total))
        want = {m.id for m in ms if m.emotion in q["emotions"]
                and (not q.get("brands") or set(m.brands) & set(q["brands"]))
                and (not q.get("q") or q["q"] in f"{m.title or ''}\n{m.text}")
                and (q.get("since") is None or m.published_at >= q["since"])}
        assert got[0] == got[1] and set(got[0][0]) == want and got[0][1] == len(want) > 0, q
    f = Filters(brands=["小米"], emotions=["angry"], since=since)
    assert sqlite_store._count_from_rollup(f) is None  # the rollups have no emotion dimension
    assert sqlite_store.count(f) == sum("小米" in m.brands and m.emotion == "angry" and m.published_at >= since
                                        for m in ms)
    # Updates move mentions between emotions, brands and times: the brand rows (which carry the
    # emotion) follow, and brand + emotion answers stay exact.
    changed = [m.model_copy(update={"emotion": rng.choice([*EMOTIONS, None]),
                                    "brands": rng.choice([m.brands, ["小米"], ["小米", "华为"]]),
                                    "published_at": m.published_at + timedelta(hours=rng.randint(-5, 5))})
               for m in rng.sample(ms, 200)]
    sqlite_store.upsert(changed)
    assert sqlite_store.rollup_mismatches() == []
    now = {m.id: m for m in ms} | {m.id: m.model_copy(update={"emotion": m.emotion or prev.emotion})
                                   for m, prev in ((c, next(x for x in ms if x.id == c.id)) for c in changed)}
    for emotions in (["angry"], ["happy", "fear"]):
        f = Filters(brands=["小米", "华为"], emotions=emotions, since=since)
        want = {i for i, m in now.items() if set(m.brands) & {"小米", "华为"} and m.emotion in emotions
                and m.published_at >= since}
        got = {m.id for m in sqlite_store.search(SearchQuery(limit=1000, **f.model_dump())).items}
        assert got == want and sqlite_store.count(f) == len(want)
        assert sqlite_store.breakdown(f.model_copy(update={"emotions": []}), "emotion")[emotions[0]] == sum(
            bool(set(m.brands) & {"小米", "华为"}) and m.emotion == emotions[0] and m.published_at >= since
            for m in now.values())


def test_counts_from_rollups_equal_counts_of_rows(sqlite_store):
    ms = list(generate(500, seed=9, days=10, end=END))
    sqlite_store.upsert(ms)
    since = END - timedelta(days=5)  # whole hours: answered from the hourly rollup
    f = Filters(brands=["小米"], sources=["weibo", "jd"], sentiments=["negative", "neutral"], since=since)
    want = sum("小米" in m.brands and m.source in ("weibo", "jd") and m.sentiment is not None
               and m.sentiment.label in ("negative", "neutral") and m.published_at >= since for m in ms)
    assert sqlite_store._count_from_rollup(f) == want == sqlite_store.count(f)
    odd = f.model_copy(update={"since": since + timedelta(minutes=1)})
    assert sqlite_store._count_from_rollup(odd) is None  # not hour-aligned: counted from rows
    assert sqlite_store.count(odd) == sum("小米" in m.brands and m.source in ("weibo", "jd") and m.sentiment is not None
                                          and m.sentiment.label in ("negative", "neutral")
                                          and m.published_at >= odd.since for m in ms)
