"""Chinese full-text tokens: bigram phrases find exactly the substrings, nothing else."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from core.mention import Mention
from store.base import Filters
from store.cjk import fts_query, index_tokens, normalize, query_terms


def test_index_tokens_are_bigrams_plus_the_last_character_and_words():
    assert index_tokens("小米手机") == "小米 米手 手机 机"
    assert index_tokens("买了小 米！") == "买了 了小 小 米"
    assert index_tokens("ＸＩＡＯＭＩ 14Pro，好") == "xiaomi 14pro 好"


def test_queries_become_phrases_and_one_character_is_a_prefix():
    assert fts_query("小米") == '"小米"'
    assert fts_query("小米手机 售后") == '"小米 米手 手机" AND "售后"'
    assert fts_query("米") == '"米" *'
    assert fts_query("小米14") == '"小米 米 14"'
    assert fts_query("、。！") is None
    assert query_terms("  ") == []


@pytest.fixture(scope="module")
def random_store(tmp_path_factory):
    """Texts over a tiny alphabet, so every 2- and 4-character query has many near misses."""
    from store.sqlite import SqliteStore

    rng = random.Random(3)
    alphabet = "小米华为大手机， "
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))).strip() or "空" for _ in range(600)]
    st = SqliteStore(tmp_path_factory.mktemp("cjk") / "m.db")
    st.open()
    at = datetime(2026, 11, 1, tzinfo=UTC)
    st.upsert([Mention(id=f"weibo:{i}", source="weibo", kind="post", text=t, published_at=at)
               for i, t in enumerate(texts)])
    yield st, texts
    st.close()


def _expected(texts, q):
    return sum(normalize(q) in normalize(t) for t in texts)


@pytest.mark.parametrize("q", ["小米", "华为", "米华", "大手", "手机", "机小", "为为",
                               "小米手机", "华为大手", "米小米小", "为大手机", "小", "机", "米"])
def test_fts_counts_equal_substring_counts(random_store, q):
    st, texts = random_store
    assert st.count(Filters(q=q)) == _expected(texts, q)


def test_every_two_character_query_is_exact(random_store):
    st, texts = random_store
    chars = "小米华为大手机"
    for a in chars:
        for b in chars:
            assert st.count(Filters(q=a + b)) == _expected(texts, a + b), a + b


def test_hour_buckets_cross_a_half_hour_dst_change():
    """Lord Howe Island moves its clocks by 30 minutes: hour buckets must still advance."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from store.buckets import bucket_starts

    since = datetime(2026, 4, 4, 13, tzinfo=UTC)
    starts, end = bucket_starts(since, since + timedelta(hours=5), "hour", ZoneInfo("Australia/Lord_Howe"))
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert starts[0] <= since < end and end >= since + timedelta(hours=5)
    assert 5 <= len(starts) <= 7
