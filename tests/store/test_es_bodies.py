"""Elasticsearch request bodies, mappings and response parsing, without a cluster.

Responses below have the exact shape Elasticsearch 8 returns (trimmed to the fields we read).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import ConfigError, InvalidInput, StoreUnavailable
from core.mention import Mention
from store import cursor as cursors
from store import es_bodies as eb
from store.base import Filters, SearchQuery, TrendQuery
from store.buckets import bucket_starts

SH = ZoneInfo("Asia/Shanghai")


def _props(tpl):
    return tpl["template"]["mappings"]["properties"]


# Mappings --------------------------------------------------------------------------------------

def test_every_mapping_file_is_valid_json_with_a_template_pattern():
    files = sorted(eb.MAPPINGS_DIR.glob("*.json"))
    assert {f.stem for f in files} >= {"mentions", "crawl_state"}
    for f in files:
        body = json.loads(f.read_text(encoding="utf-8"))
        assert body["index_patterns"] and body["template"]["mappings"]["dynamic"] == "strict"


def test_mentions_template_uses_cjk_analysis_and_matches_the_rollover_indices():
    tpl = eb.load_templates()["opmon-mentions"]
    props = _props(tpl)
    assert props["text"]["analyzer"] == "cjk" and props["title"]["analyzer"] == "cjk"
    uni = tpl["template"]["settings"]["analysis"]["analyzer"]["opmon_unigram"]
    assert props["text"]["fields"]["uni"]["analyzer"] == "opmon_unigram"
    assert uni["tokenizer"] == "standard" and "cjk_width" in uni["filter"]
    names = eb.Names()
    import fnmatch

    assert any(fnmatch.fnmatch(names.first_index, p) for p in tpl["index_patterns"])
    assert not any(fnmatch.fnmatch(names.alias, p) for p in tpl["index_patterns"])  # alias != index
    assert tpl["template"]["settings"]["index.default_pipeline"] == names.pipeline
    assert props["aspects"]["type"] == "nested"
    assert props["published_at"]["type"] == "date_nanos" and props["ingested_at"]["type"] == "date_nanos"


def test_every_mention_field_is_mapped_so_strict_mapping_accepts_documents():
    props = _props(eb.load_templates()["opmon-mentions"])
    assert set(Mention.model_fields) <= set(props)
    doc = eb.to_doc(Mention.model_validate({
        "id": "weibo:1", "source": "weibo", "kind": "post", "text": "小米", "published_at": "2026-11-01T10:00:00+08:00",
        "author": {"id": "1", "name": "n", "followers": 2, "verified": True}, "metrics": {"likes": 2, "rating": 4},
        "sentiment": {"label": "negative", "probs": {"positive": 0.1, "neutral": 0.1, "negative": 0.8},
                      "score": -0.7, "model": "m"},
        "aspects": [{"touchpoint": "物流", "sentiment": "negative", "text": "慢"}]}))

    def check(d, p, path=""):
        for k, v in d.items():
            assert k in p, f"{path}{k} is not mapped"
            if isinstance(v, dict) and "properties" in p[k]:
                check(v, p[k]["properties"], f"{path}{k}.")
            if isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    check(item, p[k]["properties"], f"{path}{k}.")
    check(doc, props)
    assert doc["engagement"] == 2 and "ingested_at" not in doc


def test_prefix_is_applied_to_patterns_pipeline_and_names():
    tpls = eb.load_templates("acme")
    assert set(tpls) == {"acme-mentions", "acme-crawl-state"}
    assert tpls["acme-mentions"]["index_patterns"] == ["acme-mentions-*"]
    assert tpls["acme-mentions"]["template"]["settings"]["index.default_pipeline"] == "acme-mentions-ingest"
    assert eb.Names("acme").first_index == "acme-mentions-000001"


def test_ingest_pipeline_stamps_ingested_at_only_once():
    (proc,) = eb.ingest_pipeline()["processors"]
    assert proc["set"]["field"] == "ingested_at" and proc["set"]["override"] is False
    assert "_ingest.timestamp" in proc["set"]["value"]


# Queries ---------------------------------------------------------------------------------------

def test_filters_become_bool_filters():
    since = datetime(2026, 11, 1, tzinfo=SH)
    body = eb.filters_query(Filters(q="小米 售后", brands=["小米"], sources=["weibo"], kinds=["review"],
                                    sentiments=["negative"], since=since, include_dups=False))
    b = body["bool"]
    assert {"terms": {"brands": ["小米"]}} in b["filter"]
    assert {"terms": {"kind": ["review"]}} in b["filter"]
    assert {"terms": {"sentiment.label": ["negative"]}} in b["filter"]
    assert {"range": {"published_at": {"gte": "2026-10-31T16:00:00+00:00"}}} in b["filter"]
    assert b["must"] == [{"multi_match": {"query": "小米", "type": "phrase", "fields": ["title", "text"]}},
                         {"multi_match": {"query": "售后", "type": "phrase", "fields": ["title", "text"]}}]
    assert b["must_not"] == [{"exists": {"field": "dup_of"}}]


def test_emotions_are_a_terms_filter_on_the_keyword_field():
    props = _props(eb.load_templates()["opmon-mentions"])
    assert props["emotion"] == {"type": "keyword"}  # exact values: filterable and aggregatable
    b = eb.filters_query(Filters(brands=["小米"], emotions=["angry", "sad"]))["bool"]
    assert {"terms": {"emotion": ["angry", "sad"]}} in b["filter"]
    assert {"terms": {"brands": ["小米"]}} in b["filter"]
    assert not any("emotion" in c.get("terms", {}) for c in eb.filters_query(Filters())["bool"]["filter"])
    body = eb.search_body(SearchQuery(emotions=["fear"], limit=5))
    assert {"terms": {"emotion": ["fear"]}} in body["query"]["bool"]["filter"]
    assert {"terms": {"emotion": ["happy"]}} in eb.count_body(Filters(emotions=["happy"]))["query"]["bool"]["filter"]


def test_breakdown_by_emotion_is_a_terms_aggregation_with_unscored_for_missing():
    body = eb.breakdown_body(Filters(brands=["小米"], emotions=["angry"]), "emotion", 4)
    assert body["size"] == 0
    assert body["aggs"]["b"] == {"terms": {"field": "emotion", "size": 4, "missing": "unscored",
                                           "order": [{"_count": "desc"}, {"_key": "asc"}]}}
    assert {"terms": {"emotion": ["angry"]}} in body["query"]["bool"]["filter"]
    # The response of that aggregation (Elasticsearch 8 shape), zero buckets dropped, ties by key, limited.
    resp = {"aggregations": {"b": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 3, "buckets": [
        {"key": "neutral", "doc_count": 9}, {"key": "unscored", "doc_count": 4}, {"key": "angry", "doc_count": 4},
        {"key": "sad", "doc_count": 0}]}}}
    assert eb.parse_breakdown(resp, "emotion", 2) == {"neutral": 9, "angry": 4}
    assert eb.parse_breakdown(resp, "emotion", 10) == {"neutral": 9, "angry": 4, "unscored": 4}


def test_single_character_and_punctuation_queries():
    assert eb.text_clause("米")["multi_match"]["fields"] == ["title.uni", "text.uni"]
    assert eb.text_clause("ＡＢ")["multi_match"]["query"] == "ab"
    none = eb.filters_query(Filters(q="！！"))
    assert none == {"bool": {"must_not": [{"match_all": {}}]}}


def test_search_body_pages_with_search_after_and_one_extra_hit():
    first = eb.search_body(SearchQuery(limit=20))
    assert first["sort"] == [{"published_at": "desc"}, {"id": "desc"}]
    assert first["size"] == 21 and first["track_total_hits"] is True and "search_after" not in first
    cur = cursors.encode("newest", [1762000000000000000, "weibo:9"])
    nxt = eb.search_body(SearchQuery(limit=20, cursor=cur))
    assert nxt["search_after"] == [1762000000000000000, "weibo:9"] and nxt["track_total_hits"] is False
    eng = eb.search_body(SearchQuery(sort="engagement"))
    assert eng["sort"][0] == {"engagement": "desc"}
    with pytest.raises(InvalidInput):
        eb.search_body(SearchQuery(cursor=cur, sort="engagement"))
    with pytest.raises(InvalidInput):
        eb.search_body(SearchQuery(cursor=cursors.encode("newest", ["x", "y"])))


def _hit(i, sort):
    return {"_index": "opmon-mentions-000001", "_id": f"weibo:{i}", "_score": None, "sort": sort,
            "_source": {"id": f"weibo:{i}", "source": "weibo", "kind": "post", "text": f"第{i}条",
                        "published_at": "2026-11-01T02:00:00Z", "crawled_at": "2026-11-01T03:00:00Z",
                        "engagement": 0, "ingested_at": "2026-11-01T03:00:01.123456789Z"}}


def test_parse_search_reads_hits_cursor_and_total():
    resp = {"took": 3, "timed_out": False, "hits": {"total": {"value": 57, "relation": "eq"}, "max_score": None,
                                                     "hits": [_hit(3, [3, "weibo:3"]), _hit(2, [2, "weibo:2"]),
                                                              _hit(1, [1, "weibo:1"])]}}
    items, nxt, total = eb.parse_search(resp, SearchQuery(limit=2))
    assert [m.id for m in items] == ["weibo:3", "weibo:2"] and total == 57
    assert cursors.decode(nxt, "newest") == [2, "weibo:2"]
    _, last, _ = eb.parse_search({"hits": {"total": {"value": 1}, "hits": [_hit(1, [1, "weibo:1"])]}},
                                 SearchQuery(limit=2))
    assert last is None


def test_trend_body_is_a_zoned_histogram_with_bounds_and_sentiment_filters():
    since, until = datetime(2026, 11, 1, tzinfo=SH), datetime(2026, 11, 8, tzinfo=SH)
    q = TrendQuery(since=since, until=until, interval="day", brands=["小米", "华为"], split_by="brand")
    starts, end = bucket_starts(since, until, "day", SH)
    body = eb.trend_body(q, starts, end)
    assert body["size"] == 0
    terms = body["aggs"]["k"]["terms"]
    assert terms == {"field": "brands", "size": 2, "include": ["小米", "华为"]}
    hist = body["aggs"]["k"]["aggs"]["h"]["date_histogram"]
    assert hist["calendar_interval"] == "day" and hist["time_zone"] == "Asia/Shanghai"
    assert hist["min_doc_count"] == 0
    base = int(since.timestamp()) * 1000
    assert hist["extended_bounds"] == {"min": base, "max": base + 6 * 86400000}
    s = body["aggs"]["k"]["aggs"]["h"]["aggs"]["s"]["filters"]
    assert s["other_bucket_key"] == "unscored" and set(s["filters"]) == {"positive", "neutral", "negative"}
    five = eb.trend_body(TrendQuery(since=since, until=since + timedelta(hours=1), interval="5min"),
                         *bucket_starts(since, since + timedelta(hours=1), "5min", SH))
    assert five["aggs"]["h"]["date_histogram"]["fixed_interval"] == "5m"


def _sent(p, n, neg, u):
    return {"buckets": {"positive": {"doc_count": p}, "neutral": {"doc_count": n},
                        "negative": {"doc_count": neg}, "unscored": {"doc_count": u}}}


def test_parse_trend_zero_fills_and_converts_keys_to_the_zone():
    since = datetime(2026, 11, 1, tzinfo=SH)
    q = TrendQuery(since=since, until=since + timedelta(days=3), split_by="source", sources=["weibo", "jd"])
    starts, _ = bucket_starts(q.since, q.until, "day", SH)
    day = 86400000
    base = int(since.timestamp()) * 1000
    resp = {"aggregations": {"k": {"buckets": [{"key": "weibo", "doc_count": 5, "h": {"buckets": [
        {"key_as_string": "2026-11-01T00:00:00.000+08:00", "key": base, "doc_count": 5,
         "s": _sent(2, 1, 1, 1)},
        {"key": base + day, "doc_count": 0, "s": _sent(0, 0, 0, 0)},
        {"key": base + 2 * day, "doc_count": 0, "s": _sent(0, 0, 0, 0)},
    ]}}]}}}
    out = eb.parse_trend(resp, q, starts)
    assert [(b.key, b.start.day, b.total) for b in out] == [
        ("jd", 1, 0), ("jd", 2, 0), ("jd", 3, 0), ("weibo", 1, 5), ("weibo", 2, 0), ("weibo", 3, 0)]
    w = out[3]
    assert (w.positive, w.neutral, w.negative, w.unscored) == (2, 1, 1, 1)
    assert w.start == since and w.start.utcoffset() == timedelta(hours=8)


def test_series_keywords_breakdowns_and_touchpoints_parse():
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    step = timedelta(minutes=5)
    body = eb.series_body("小米", start, step, 3)
    assert body["aggs"]["h"]["date_histogram"]["fixed_interval"] == "300s"
    ms = eb._ms(start)
    total, neg = eb.parse_series({"aggregations": {"h": {"buckets": [
        {"key": ms, "doc_count": 4, "neg": {"doc_count": 1}},
        {"key": ms + 600000, "doc_count": 2, "neg": {"doc_count": 2}}]}}}, start, step, 3)
    assert total == [4, 0, 2] and neg == [1, 0, 2]

    kw = eb.keywords_body(Filters(), 5)["aggs"]["k"]["terms"]
    assert kw["field"] == "keywords" and kw["order"] == [{"_count": "desc"}, {"_key": "asc"}]
    got = eb.parse_keywords({"aggregations": {"k": {"buckets": [{"key": "物流", "doc_count": 9}]}}})
    assert [(k.term, k.count) for k in got] == [("物流", 9)]

    sent = eb.parse_breakdown({"aggregations": {"b": _sent(3, 0, 5, 1)}}, "sentiment", 10)
    assert sent == {"negative": 5, "positive": 3, "unscored": 1}
    tp = eb.parse_breakdown({"aggregations": {"b": {"doc_count": 12, "t": {"buckets": [
        {"key": "物流", "doc_count": 7, "m": {"doc_count": 5}},
        {"key": "客服", "doc_count": 5, "m": {"doc_count": 5}}]}}}}, "touchpoint", 10)
    assert tp == {"客服": 5, "物流": 5}  # mentions (reverse_nested), ties by name
    assert eb.breakdown_body(Filters(), "brand", 3)["aggs"]["b"]["terms"]["field"] == "brands"
    with pytest.raises(InvalidInput):
        eb.breakdown_body(Filters(), "colour", 3)
    tps = eb.parse_touchpoints({"aggregations": {"a": {"doc_count": 9, "t": {"buckets": [
        {"key": "物流", "doc_count": 6, "s": {"buckets": [{"key": "negative", "doc_count": 4},
                                                         {"key": "positive", "doc_count": 2}]}},
        {"key": "客服", "doc_count": 3, "s": {"buckets": [{"key": "neutral", "doc_count": 3}]}}]}}}})
    assert tps == {"物流": {"positive": 2, "neutral": 0, "negative": 4},
                   "客服": {"positive": 0, "neutral": 3, "negative": 0}}


def test_export_reads_only_settled_documents_in_ingest_order():
    body = eb.export_body(None, 100, 5)
    assert body["query"] == {"range": {"ingested_at": {"lt": "now-5s"}}}
    assert body["sort"] == [{"ingested_at": "asc"}, {"id": "asc"}] and "search_after" not in body
    items, nxt = eb.parse_export({"hits": {"hits": [_hit(1, [10, "weibo:1"]), _hit(2, [11, "weibo:2"])]}}, None)
    assert [m.id for m in items] == ["weibo:1", "weibo:2"]
    assert eb.export_body(nxt, 100, 5)["search_after"] == [11, "weibo:2"]
    empty, same = eb.parse_export({"hits": {"hits": []}}, nxt)
    assert empty == [] and cursors.decode(same, "export") == [11, "weibo:2"]
    with pytest.raises(InvalidInput):
        eb.export_body(cursors.encode("export", ["a"]), 10, 5)


def test_bulk_failures_name_each_item():
    items = [(True, {"index": {"_id": "weibo:1", "status": 201}}),
             (False, {"index": {"_id": "weibo:2", "status": 400, "error": {
                 "type": "mapper_parsing_exception", "reason": "failed to parse field [published_at]",
                 "caused_by": {"type": "illegal_argument_exception", "reason": "bad date"}}}}),
             (False, {"index": {"_id": "weibo:3", "status": 429, "error": {"type": "es_rejected_execution_exception",
                                                                          "reason": "queue full"}}})]
    assert eb.bulk_failures(items) == [
        "weibo:2: 400 mapper_parsing_exception: failed to parse field [published_at] (bad date)",
        "weibo:3: 429 es_rejected_execution_exception: queue full"]


# Wiring ----------------------------------------------------------------------------------------

def test_unreachable_cluster_is_store_unavailable():
    from store.elastic import ElasticStore

    st = ElasticStore("http://127.0.0.1:9", request_timeout=2)
    with pytest.raises(StoreUnavailable):
        st.open()
    assert st.ping() is False
    st.close()


def test_factory_picks_the_configured_backend(settings, monkeypatch):
    from core.settings import Settings
    from store.factory import make_store, open_store
    from store.sqlite import SqliteStore

    st = open_store(settings)
    assert isinstance(st, SqliteStore) and st.path == settings.mentions_db and st.ping()
    st.close()
    with pytest.raises(ConfigError):
        make_store(Settings(store="elasticsearch", es_url=None))
    monkeypatch.setenv("OPMON_ES_URL", "http://127.0.0.1:9")
    es = make_store(Settings(store="elasticsearch", es_index_prefix="acme"))
    assert es.name == "elasticsearch" and es.names.alias == "acme-mentions"
