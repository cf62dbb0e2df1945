"""One behaviour suite for every Store backend (SQLite always; Elasticsearch when ES_URL is set).

Expected answers are computed in plain Python from the same mentions, never hard-coded.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bench.mentiongen import generate
from core.errors import InvalidInput
from core.mention import Mention
from store.base import EMOTIONS, Filters, SearchQuery, SeriesQuery, TrendQuery
from store.cjk import normalize

SH = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # generated data ends here (in the past)
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=SH)


def mk(i: int | str, text: str, *, at: datetime = T0, source: str = "weibo", **kw) -> Mention:
    sid = f"discuz:bbs.example.com:{i}" if source == "discuz" else f"{source}:{i}"
    return Mention.model_validate({"id": sid, "source": source, "kind": kw.pop("kind", "post"), "text": text,
                                   "published_at": at, **kw})


def scored(label: str) -> dict:
    p = {"positive": 0.1, "neutral": 0.1, "negative": 0.1}
    p[label] = 0.8
    return {"label": label, "probs": p, "score": p["positive"] - p["negative"], "model": "t"}


@pytest.fixture(scope="module")
def corpus() -> list[Mention]:
    return list(generate(400, seed=7, days=20, end=END))


@pytest.fixture
def loaded(store, corpus):
    store.upsert(corpus)
    return store


def ids(items) -> list[str]:
    return [m.id for m in items]


def all_pages(store, **q) -> list[Mention]:
    out, cursor = [], None
    for _ in range(1000):
        page = store.search(SearchQuery(cursor=cursor, **q))
        out.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("pagination did not end")


def newest(ms):
    return sorted(ms, key=lambda m: (m.published_at, m.id), reverse=True)


# Writes and reads -------------------------------------------------------------------------------

def test_upsert_then_get_round_trips_and_missing_is_none(store):
    m = mk(1, "小米手机很好用", title="测评", brands=["小米"], sentiment=scored("positive"),
           metrics={"likes": 3, "reposts": 1}, aspects=[{"touchpoint": "物流", "sentiment": "negative"}])
    assert store.upsert([m]).inserted == 1
    assert store.get(m.id) == m
    assert store.get("weibo:nope") is None
    assert store.ping()


def test_reupsert_never_duplicates_and_updates_metrics(store):
    ms = [mk(i, f"华为第{i}条") for i in range(5)]
    assert store.upsert(ms).model_dump() == {"inserted": 5, "updated": 0}
    again = [m.model_copy(update={"metrics": m.metrics.model_copy(update={"likes": 99})}) for m in ms]
    assert store.upsert(again).model_dump() == {"inserted": 0, "updated": 5}
    assert store.count(Filters()) == 5
    assert store.get("weibo:3").metrics.likes == 99


def test_recrawl_keeps_enrichment_it_does_not_carry(store):
    enriched = mk(1, "海底捞服务好", brands=["海底捞"], sentiment=scored("positive"), keywords=["服务"])
    store.upsert([enriched])
    store.upsert([mk(1, "海底捞服务好", metrics={"likes": 5})])  # a bare re-crawl
    got = store.get("weibo:1")
    assert got.metrics.likes == 5 and got.sentiment.label == "positive" and got.brands == ["海底捞"]


def test_update_moves_counts_between_sentiments_and_brands_exactly(store):
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=1)
    store.upsert([mk(1, "一条", brands=["小米"], sentiment=scored("positive")),
                  mk(2, "二条", brands=["小米"], sentiment=scored("positive"))])
    store.upsert([mk(1, "一条", brands=["华为"], sentiment=scored("negative"))])
    def totals(brands):
        bs = store.trend(TrendQuery(brands=brands, since=since, until=until, interval="day"))
        return sum(b.total for b in bs), sum(b.negative for b in bs), sum(b.positive for b in bs)
    assert totals(["小米"]) == (1, 0, 1)
    assert totals(["华为"]) == (1, 1, 0)
    assert totals([]) == (2, 1, 1)


# Full-text search --------------------------------------------------------------------------------

@pytest.mark.parametrize("q", ["小米", "华为", "物流", "客服", "续航", "售后服务", "一般般吧", "没什么特别",
                               "小米手机", "问问大家", "比亚迪"])
def test_two_and_four_character_queries_find_exactly_the_substring_matches(loaded, corpus, q):
    want = {m.id for m in corpus if normalize(q) in normalize(m.text) or (m.title and normalize(q) in normalize(m.title))}
    got = {m.id for m in all_pages(loaded, q=q, limit=200)}
    assert got == want
    assert loaded.count(Filters(q=q)) == len(want)


def test_search_is_exact_on_tricky_texts(store):
    store.upsert([
        mk(1, "小米手机发热严重"), mk(2, "买了小 米，还有大米"), mk(3, "ＸＩＡＯＭＩ 小米14 Pro"),
        mk(4, "没提到", title="小米社区帖子"), mk(5, "米小"), mk(6, "华为和小米"),
    ])
    assert {m.id for m in all_pages(store, q="小米")} == {"weibo:1", "weibo:3", "weibo:4", "weibo:6"}
    assert {m.id for m in all_pages(store, q="xiaomi")} == {"weibo:3"}  # full-width, any case
    assert {m.id for m in all_pages(store, q="小米 发热")} == {"weibo:1"}  # terms are AND-ed
    assert {m.id for m in all_pages(store, q="米")} == {"weibo:1", "weibo:2", "weibo:3", "weibo:4",
                                                       "weibo:5", "weibo:6"}
    assert {m.id for m in all_pages(store, q="大米")} == {"weibo:2"}
    assert all_pages(store, q="！！") == []


# Filters and pagination --------------------------------------------------------------------------

def test_filters_combine_like_the_reference(loaded, corpus):
    since, until = END - timedelta(days=10), END - timedelta(days=3)
    f = dict(brands=["小米", "华为"], sources=["weibo", "jd"], sentiments=["negative", "neutral"],
             since=since, until=until)
    want = [m for m in corpus if set(m.brands) & {"小米", "华为"} and m.source in ("weibo", "jd")
            and m.sentiment and m.sentiment.label in ("negative", "neutral") and since <= m.published_at < until]
    assert want, "the corpus should exercise this filter"
    assert ids(all_pages(loaded, limit=9, **f)) == ids(newest(want))
    assert loaded.count(Filters(**f)) == len(want)
    reviews = [m for m in corpus if m.kind == "review"]
    assert loaded.count(Filters(kinds=["review"])) == len(reviews)


def test_pages_are_newest_first_without_gaps_or_repeats(loaded, corpus):
    got = all_pages(loaded, limit=17)
    assert ids(got) == ids(newest(corpus))
    first = loaded.search(SearchQuery(limit=17))
    assert first.total == len(corpus) and first.next_cursor


def test_engagement_sort_pages_through_everything(loaded, corpus):
    got = all_pages(loaded, limit=50, sort="engagement")
    want = sorted(corpus, key=lambda m: (m.metrics.engagement(), m.published_at, m.id), reverse=True)
    assert ids(got) == ids(want)


def test_duplicates_can_be_left_out(store):
    store.upsert([mk(1, "原帖"), mk(2, "原帖", dup_of="weibo:1")])
    assert ids(all_pages(store, include_dups=False)) == ["weibo:1"]
    assert store.count(Filters()) == 2


@pytest.mark.parametrize("bad", ["garbage", "", "eyJ4Ijog", "W1siZXhwb3J0IiwgWzFdXV0"])
def test_malformed_cursor_is_invalid_input(loaded, bad):
    with pytest.raises(InvalidInput):
        loaded.search(SearchQuery(cursor=bad or "x"))


def test_cursor_of_another_sort_is_rejected(loaded):
    cur = loaded.search(SearchQuery(limit=5, sort="engagement")).next_cursor
    with pytest.raises(InvalidInput):
        loaded.search(SearchQuery(limit=5, cursor=cur))
    with pytest.raises(InvalidInput):
        loaded.export(cur)


# Trends ------------------------------------------------------------------------------------------

def _ref_trend(corpus, since, until, tz, bucket_of, key_of=lambda m: [None]):
    c: Counter = Counter()
    for m in corpus:
        if since <= m.published_at < until:
            label = m.sentiment.label.value if m.sentiment else "unscored"
            for k in key_of(m):
                b = bucket_of(m.published_at.astimezone(tz))
                c[(k, b, "total")] += 1
                c[(k, b, label)] += 1
    return c


def test_day_trend_in_shanghai_is_zero_filled_and_exact(loaded, corpus):
    since = datetime(2026, 10, 25, tzinfo=SH)
    until = datetime(2026, 11, 25, tzinfo=SH)  # past the data: trailing buckets are zeros
    buckets = loaded.trend(TrendQuery(since=since, until=until, interval="day"))
    assert len(buckets) == 31
    assert [b.start for b in buckets] == [since + timedelta(days=i) for i in range(31)]
    assert all(b.start.utcoffset() == timedelta(hours=8) for b in buckets)
    ref = _ref_trend(corpus, since, until, SH, lambda t: t.date())
    for b in buckets:
        d = b.start.date()
        assert (b.total, b.positive, b.negative, b.unscored) == (
            ref[(None, d, "total")], ref[(None, d, "positive")], ref[(None, d, "negative")],
            ref[(None, d, "unscored")])
        assert b.total == b.positive + b.neutral + b.negative + b.unscored
    assert sum(b.total for b in buckets) == sum(since <= m.published_at < until for m in corpus)
    assert buckets[-1].total == 0


def test_week_trend_starts_on_monday_in_other_zones(loaded, corpus):
    tz = ZoneInfo("America/New_York")
    since, until = datetime(2026, 10, 28, tzinfo=tz), datetime(2026, 11, 20, tzinfo=tz)
    buckets = loaded.trend(TrendQuery(since=since, until=until, interval="week", tz="America/New_York"))
    assert [b.start.weekday() for b in buckets] == [0] * len(buckets)
    assert all(b.start.hour == 0 for b in buckets)  # local midnight, across the DST change
    lo, hi = buckets[0].start, buckets[-1].start + timedelta(days=7)
    assert sum(b.total for b in buckets) == sum(lo <= m.published_at < hi for m in corpus)


def test_hour_trend_split_by_source_names_every_requested_source(loaded, corpus):
    since = datetime(2026, 11, 15, tzinfo=SH)
    until = since + timedelta(hours=48)
    buckets = loaded.trend(TrendQuery(since=since, until=until, interval="hour", split_by="source",
                                      sources=["weibo", "jd", "nosuch"]))
    assert {b.key for b in buckets} == {"weibo", "jd", "nosuch"}
    assert len(buckets) == 3 * 48
    ref = _ref_trend(corpus, since, until, SH, lambda t: t.replace(minute=0, second=0, microsecond=0),
                     lambda m: [m.source])
    for b in buckets:
        assert b.total == ref[(b.key, b.start, "total")]
        assert b.negative == ref[(b.key, b.start, "negative")]


def test_brand_split_and_multi_brand_trend_count_each_mention_once(loaded, corpus):
    since, until = END - timedelta(days=20), END
    split = loaded.trend(TrendQuery(brands=["小米", "华为"], since=since, until=until, split_by="brand"))
    per_brand = Counter()
    for b in split:
        per_brand[b.key] += b.total
    lo = split[0].start
    for brand in ("小米", "华为"):
        assert per_brand[brand] == sum(brand in m.brands and lo <= m.published_at < until for m in corpus)
    both = loaded.trend(TrendQuery(brands=["小米", "华为"], since=since, until=until))
    assert sum(b.total for b in both) == sum(bool({"小米", "华为"} & set(m.brands)) and lo <= m.published_at < until
                                             for m in corpus)


def test_five_minute_trend_and_series_agree(store):
    base = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    ms = [mk(i, "一条", at=base + timedelta(minutes=i * 3), brands=["小米"],
             sentiment=scored("negative" if i % 2 else "positive")) for i in range(20)]
    store.upsert(ms)
    trend = store.trend(TrendQuery(brands=["小米"], since=base, until=base + timedelta(hours=1), interval="5min"))
    assert len(trend) == 12
    series = store.series(SeriesQuery(brand="小米", since=base, until=base + timedelta(hours=1)))
    assert series.total == [b.total for b in trend]
    assert series.negative == [b.negative for b in trend]
    assert series.start == base
    assert sum(series.total) == 20
    quarter = store.series(SeriesQuery(since=base, until=base + timedelta(hours=1), step=timedelta(minutes=15)))
    assert quarter.total == [5, 5, 5, 5]


def test_bad_trend_queries_are_invalid_input(store):
    with pytest.raises(InvalidInput):
        store.trend(TrendQuery(since=T0, until=T0 + timedelta(days=1), tz="Mars/Olympus"))
    with pytest.raises(InvalidInput):
        store.trend(TrendQuery(since=T0, until=T0 - timedelta(days=1)))
    with pytest.raises(InvalidInput):
        store.series(SeriesQuery(since=T0, until=T0 + timedelta(hours=1), step=timedelta(minutes=7)))


# Aggregations ------------------------------------------------------------------------------------

def test_top_keywords_breakdowns_and_touchpoints_match_the_reference(loaded, corpus):
    f = Filters(sources=["weibo"])
    sub = [m for m in corpus if m.source == "weibo"]
    kw = Counter(k for m in sub for k in set(m.keywords))
    got = loaded.top_keywords(f, limit=5)
    assert [(k.term, k.count) for k in got] == sorted(kw.items(), key=lambda kv: (-kv[1], kv[0]))[:5]

    assert loaded.breakdown(Filters(), "source", limit=10) == dict(
        sorted(Counter(m.source for m in corpus).items(), key=lambda kv: (-kv[1], kv[0])))
    sent = Counter(m.sentiment.label.value if m.sentiment else "unscored" for m in corpus)
    assert loaded.breakdown(Filters(), "sentiment") == dict(sorted(sent.items(), key=lambda kv: (-kv[1], kv[0])))
    brands = Counter(b for m in corpus for b in set(m.brands))
    assert loaded.breakdown(Filters(), "brand", limit=3) == dict(
        sorted(brands.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    tp_once = Counter(t for m in sub for t in {a.touchpoint for a in m.aspects})
    assert loaded.breakdown(f, "touchpoint", limit=50) == dict(
        sorted(tp_once.items(), key=lambda kv: (-kv[1], kv[0])))
    locs = Counter(m.location for m in corpus if m.location)
    assert loaded.breakdown(Filters(), "location", limit=50) == dict(
        sorted(locs.items(), key=lambda kv: (-kv[1], kv[0])))

    ref: dict[str, Counter] = {}
    for m in sub:
        for a in m.aspects:
            ref.setdefault(a.touchpoint, Counter())[a.sentiment.value] += 1
    got_tp = loaded.touchpoints(f)
    assert set(got_tp) == set(ref)
    for tp, counts in got_tp.items():
        assert counts == {k: ref[tp][k] for k in ("positive", "neutral", "negative")}


# Export ------------------------------------------------------------------------------------------

def test_export_streams_in_ingest_order_without_gaps_or_repeats(store):
    first = [mk(i, f"第{i}条", at=T0 - timedelta(minutes=i)) for i in range(25)]
    store.upsert(first[:10])
    store.upsert(first[10:])
    seen, cursor = [], None
    for _ in range(20):
        batch = store.export(cursor, limit=7)
        if not batch.items:
            break
        seen.extend(ids(batch.items))
        cursor = batch.next_cursor
    assert seen == ids(first)
    # Caught up: the cursor is stable and nothing repeats.
    idle = store.export(cursor, limit=7)
    assert idle.items == [] and store.export(idle.next_cursor).items == []
    # An update does not re-emit; a new mention does, once.
    store.upsert([first[3].model_copy(update={"text": "改过"}), mk(100, "新来的")])
    more = store.export(cursor, limit=7)
    assert ids(more.items) == ["weibo:100"]
    assert store.export(more.next_cursor).items == []
    again = [m.id for b in store.iter_export(None, batch=4) for m in b.items]
    assert again == [*ids(first), "weibo:100"]


# Crawl state -------------------------------------------------------------------------------------

def test_crawl_state_round_trips_and_overwrites(store):
    assert store.get_crawl_state("weibo", "小米") is None
    store.set_crawl_state("weibo", "小米", {"since_id": "123", "pages": 3})
    store.set_crawl_state("weibo", "华为", {"since_id": "9"})
    store.set_crawl_state("weibo", "小米", {"since_id": "456"})
    assert store.get_crawl_state("weibo", "小米") == {"since_id": "456"}
    assert store.get_crawl_state("weibo", "华为") == {"since_id": "9"}
    assert store.get_crawl_state("tieba", "小米") is None


def test_week_trend_in_shanghai_counts_whole_monday_weeks(loaded, corpus):
    since, until = datetime(2026, 10, 28, tzinfo=SH), datetime(2026, 11, 21, tzinfo=SH)
    buckets = loaded.trend(TrendQuery(since=since, until=until, interval="week"))
    assert [b.start for b in buckets] == [datetime(2026, 10, 26, tzinfo=SH) + timedelta(weeks=i) for i in range(4)]
    for b in buckets:
        assert b.total == sum(b.start <= m.published_at < b.start + timedelta(weeks=1) for m in corpus)
        assert b.negative == sum(b.start <= m.published_at < b.start + timedelta(weeks=1)
                                 and m.sentiment is not None and m.sentiment.label == "negative" for m in corpus)


# Emotions ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emo_corpus() -> list[Mention]:
    """Generated mentions with emotions as the NLP head fills them; some have none yet."""
    rng = random.Random(4)
    return [m.model_copy(update={"emotion": rng.choice([*EMOTIONS, "neutral", None])})
            for m in generate(300, seed=9, days=20, end=END)]


def _sorted_counts(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def test_emotion_filters_combine_with_brand_time_text_and_sentiment(store, emo_corpus):
    store.upsert(emo_corpus)
    since, until = END - timedelta(days=12), END - timedelta(days=2)
    brand = Counter(b for m in emo_corpus for b in m.brands).most_common(1)[0][0]
    cases = [
        dict(emotions=["angry"]),
        dict(emotions=["angry", "sad"], brands=[brand], since=since, until=until),
        dict(emotions=["happy"], sentiments=["positive", "neutral"], sources=["weibo", "jd", "tieba"]),
        # Text + one brand is a dedicated search plan in the embedded store: the emotion must hold there too.
        dict(q="物流", brands=[brand], emotions=["neutral", "fear"]),
        dict(emotions=["surprise"], kinds=["review"], since=since),
    ]

    def matches(m: Mention, c: dict) -> bool:
        text = [m.title or "", m.text]
        return (m.emotion in c["emotions"]
                and (not c.get("brands") or bool(set(m.brands) & set(c["brands"])))
                and (not c.get("sources") or m.source in c["sources"])
                and (not c.get("kinds") or m.kind in c["kinds"])
                and (not c.get("sentiments") or (m.sentiment is not None and m.sentiment.label in c["sentiments"]))
                and (c.get("since") is None or m.published_at >= c["since"])
                and (c.get("until") is None or m.published_at < c["until"])
                and (c.get("q") is None or any(c["q"] in t for t in text)))

    for c in cases:
        want = [m for m in emo_corpus if matches(m, c)]
        assert want, f"the corpus should exercise {c}"
        assert ids(all_pages(store, limit=7, **c)) == ids(newest(want)), c
        assert store.count(Filters(**c)) == len(want), c
        assert store.search(SearchQuery(limit=3, **c)).total == len(want), c


def test_breakdown_by_emotion_counts_unscored_mentions_too(store, emo_corpus):
    store.upsert(emo_corpus)
    assert store.breakdown(Filters(), "emotion") == _sorted_counts(m.emotion or "unscored" for m in emo_corpus)
    brand = emo_corpus[0].brands[0]
    sub = [m for m in emo_corpus if brand in m.brands and m.sentiment and m.sentiment.label == "negative"]
    assert store.breakdown(Filters(brands=[brand], sentiments=["negative"]), "emotion", limit=2) == dict(
        list(_sorted_counts(m.emotion or "unscored" for m in sub).items())[:2])
    # And the other way round: sentiments of the angry mentions.
    angry = [m for m in emo_corpus if m.emotion == "angry"]
    assert store.breakdown(Filters(emotions=["angry"]), "sentiment") == _sorted_counts(
        m.sentiment.label.value if m.sentiment else "unscored" for m in angry)


def test_an_update_moves_a_mention_between_emotions_and_a_recrawl_keeps_it(store):
    store.upsert([mk(1, "客服态度太差了", brands=["小米"], emotion="angry"), mk(2, "还行", emotion="neutral")])
    assert store.count(Filters(emotions=["angry"])) == 1
    store.upsert([mk(1, "客服后来解决了", brands=["小米"], emotion="happy")])
    assert store.count(Filters(emotions=["angry"])) == 0
    assert ids(all_pages(store, emotions=["happy"], brands=["小米"])) == ["weibo:1"]
    store.upsert([mk(1, "客服后来解决了", brands=["小米"], metrics={"likes": 9})])  # a re-crawl: no emotion
    assert store.get("weibo:1").emotion == "happy"
    assert store.breakdown(Filters(), "emotion") == {"happy": 1, "neutral": 1}


def test_only_the_six_emotions_are_accepted_as_filters():
    assert EMOTIONS == ("happy", "angry", "sad", "fear", "surprise", "neutral")
    with pytest.raises(ValidationError, match="'happy', 'angry', 'sad', 'fear', 'surprise' or 'neutral'"):
        Filters(emotions=["furious"])
    with pytest.raises(ValidationError):
        SearchQuery(emotions=["Angry"])


def test_store_emotions_are_the_labels_the_nlp_head_gives():
    nlp_emotion = pytest.importorskip("nlp.emotion")
    assert set(nlp_emotion.EMOTIONS) == set(EMOTIONS)
