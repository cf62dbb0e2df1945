"""`opmon brands rematch`: stored mentions follow changed brand rules (SQLite always; Elasticsearch
when ES_URL is set), `upsert(..., replace=)` and `merge(..., replace=)`, and the CLI end to end."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from core.brands import Brand, BrandMatcher, BrandRepo
from core.cli import main
from core.errors import InvalidInput
from core.mention import Mention
from core.settings import get_settings
from store.base import Filters, SearchQuery, SeriesQuery, TrendQuery
from store.factory import open_store
from store.merge import merge
from store.rematch import rematch_brands
from store.sqlite_db import StateDB

SH = ZoneInfo("Asia/Shanghai")
DAY0 = datetime(2026, 11, 10, 12, 0, tzinfo=SH)

XIAOMI_OLD = Brand(name="小米", keywords=["小米手机"], aliases=["Xiaomi"])  # the rule at crawl time
XIAOMI = XIAOMI_OLD.model_copy(update={"exclusions": ["小米粥"]})  # an analyst adds the exclusion
HUAWEI = Brand(name="华为", aliases=["Huawei"])  # a brand added after the crawl

# (id, day, text, brands as tagged at crawl time)
ROWS = [
    (1, 0, "小米手机屏幕坏了，售后太差", ["小米"]),
    (2, 0, "早餐喝小米粥很养胃", ["小米"]),
    (3, 1, "一边喝小米粥一边刷小米手机", ["小米"]),  # the exclusion vetoes the brand, as at crawl time
    (4, 1, "小米和华为的屏幕对比", ["小米"]),
    (5, 2, "小米粥的做法", ["小米", "某CEM品牌"]),  # the CEM's brand is not ours to decide
    (6, 2, "和品牌无关的内容", ["某CEM品牌"]),
    (7, 3, "HUAWEI Mate 发布会", []),
    (8, 3, "今天天气不错", []),
]
PORRIDGE = {"weibo:2", "weibo:3", "weibo:5"}


def mk(i: int, day: int, text: str, brands: list[str], **kw) -> Mention:
    return Mention.model_validate({"id": f"weibo:{i}", "source": "weibo", "kind": "post", "text": text,
                                   "published_at": DAY0 + timedelta(days=day, minutes=i), "brands": brands, **kw})


def corpus() -> list[Mention]:
    return [mk(*r) for r in ROWS]


@pytest.fixture
def loaded(store):
    store.upsert(corpus())
    return store


def brands_of(store) -> dict[str, list[str]]:
    return {f"weibo:{r[0]}": sorted(store.get(f"weibo:{r[0]}").brands) for r in ROWS}


def trend_total(store, brand: str) -> int:
    buckets = store.trend(TrendQuery(brands=[brand], since=DAY0 - timedelta(days=1),
                                     until=DAY0 + timedelta(days=5), interval="day"))
    return sum(b.total for b in buckets)


def searched(store, brand: str) -> set[str]:
    return {m.id for m in store.search(SearchQuery(brands=[brand], limit=100)).items}


def series_total(store, brand: str) -> int:
    s = store.series(SeriesQuery(brand=brand, since=DAY0 - timedelta(hours=1), until=DAY0 + timedelta(days=4),
                                 step=timedelta(hours=1)))
    return sum(s.total)


def assert_exact_rollups(store) -> None:
    if hasattr(store, "rollup_mismatches"):  # SQLite keeps rollups and brand rows next to the mentions
        assert store.rollup_mismatches() == []


# The matcher ------------------------------------------------------------------------------------

def test_matcher_terms_aliases_exclusions_and_title():
    m = BrandMatcher([XIAOMI, HUAWEI])
    assert m.match(None, "小米和华为的屏幕对比") == ["小米", "华为"]
    assert m.match(None, "xiaomi store") == ["小米"]  # lower-cased terms
    assert m.match("华为新品", "发布会") == ["华为"]  # the title counts
    assert m.match(None, "喝小米粥，用华为") == ["华为"]  # the exclusion vetoes only its brand
    assert m.match(None, "无关") == []
    assert not BrandMatcher([])


# merge / upsert(replace=) ---------------------------------------------------------------------

def test_merge_keeps_empty_enrichment_unless_replaced():
    old = mk(1, 0, "小米粥", ["小米"], keywords=["小米粥"])
    new = mk(1, 0, "小米粥", [], metrics={"likes": 5})
    kept = merge(old, new)
    assert kept.brands == ["小米"] and kept.keywords == ["小米粥"] and kept.metrics.likes == 5
    cleared = merge(old, new, replace={"brands"})
    assert cleared.brands == [] and cleared.keywords == ["小米粥"] and cleared.metrics.likes == 5
    changed = merge(old, mk(1, 0, "小米粥", ["华为"]), replace={"brands"})
    assert changed.brands == ["华为"]


def test_upsert_replace_clears_brands_and_rejects_non_enrichment(store):
    store.upsert([mk(1, 0, "小米粥", ["小米"])])
    store.upsert([mk(1, 0, "小米粥", [])])
    assert store.get("weibo:1").brands == ["小米"]  # a re-crawl without brands keeps them
    store.upsert([mk(1, 0, "小米粥", [])], replace={"brands"})
    assert store.get("weibo:1").brands == []
    assert store.count(Filters(brands=["小米"])) == 0
    for bad in ({"text"}, {"brands", "published_at"}, "metrics"):
        with pytest.raises(InvalidInput, match="not enrichment"):
            store.upsert([mk(1, 0, "小米粥", ["小米"])], replace=bad)
    assert store.get("weibo:1").brands == []  # the refused call wrote nothing
    assert_exact_rollups(store)


def test_elastic_upsert_writes_the_replaced_field_into_the_stored_index(monkeypatch):
    """The Elasticsearch write path without a cluster: the document written back for an existing id
    (into the index that holds it, keeping ingested_at) carries the cleared brands only with replace."""
    from elasticsearch import helpers

    from store import es_bodies as eb
    from store.elastic import ElasticStore

    st = ElasticStore("http://127.0.0.1:9", prefix="opmon-unit")
    st._es = object()  # never called: the lookup and the bulk write are replaced below
    stored = eb.to_doc(mk(1, 0, "小米粥", ["小米"]), "2026-11-10T04:00:00Z")
    monkeypatch.setattr(st, "_lookup", lambda ids: {"weibo:1": {"_id": "weibo:1", "_index": "opmon-unit-mentions-000001",
                                                              "_source": stored}})
    sent: list[dict] = []

    def bulk(client, actions, **kw):
        for a in actions:
            sent.append(a)
            yield True, {"index": {"_id": a["_id"], "status": 200}}

    monkeypatch.setattr(helpers, "streaming_bulk", bulk)
    assert st.upsert([mk(1, 0, "小米粥", [])]).updated == 1
    assert sent[-1]["_source"]["brands"] == ["小米"]
    st.upsert([mk(1, 0, "小米粥", [])], replace={"brands"})
    assert sent[-1]["_index"] == "opmon-unit-mentions-000001"
    assert sent[-1]["_source"]["brands"] == [] and sent[-1]["_source"]["ingested_at"] == "2026-11-10T04:00:00Z"
    with pytest.raises(InvalidInput):
        st.upsert([mk(1, 0, "小米粥", [])], replace={"text"})


# The rematch ----------------------------------------------------------------------------------

def test_exclusion_and_new_brand_follow_into_trends_and_search(loaded):
    store = loaded
    before = {b: (trend_total(store, b), searched(store, b), series_total(store, b)) for b in ("小米", "华为")}
    assert before["小米"][0] == 5 and before["华为"][0] == 0

    res = rematch_brands(store, [XIAOMI, HUAWEI], batch=2)
    assert res.scanned == len(ROWS)
    assert res.removed == {"小米": len(PORRIDGE)}
    assert res.added == {"华为": 2}  # weibo:4 (co-mention) and weibo:7 (alias, any case)
    assert res.changed == res.written == 5

    after = brands_of(store)
    assert after == {"weibo:1": ["小米"], "weibo:2": [], "weibo:3": [], "weibo:4": ["华为", "小米"],
                     "weibo:5": ["某CEM品牌"], "weibo:6": ["某CEM品牌"], "weibo:7": ["华为"], "weibo:8": []}
    # 小米's trend, series and brand search drop by exactly the porridge posts.
    assert trend_total(store, "小米") == before["小米"][0] - len(PORRIDGE)
    assert searched(store, "小米") == before["小米"][1] - PORRIDGE
    assert series_total(store, "小米") == before["小米"][2] - len(PORRIDGE)
    assert searched(store, "华为") == {"weibo:4", "weibo:7"} and trend_total(store, "华为") == 2
    assert searched(store, "某CEM品牌") == {"weibo:5", "weibo:6"}  # out of scope: untouched
    assert store.breakdown(Filters(), "brand") == {"小米": 2, "华为": 2, "某CEM品牌": 2}
    assert store.get("weibo:4").text == "小米和华为的屏幕对比"  # nothing but the brands changed
    assert_exact_rollups(store)

    again = rematch_brands(store, [XIAOMI, HUAWEI])
    assert (again.scanned, again.changed, again.written) == (len(ROWS), 0, 0)
    assert brands_of(store) == after


def test_scope_limits_what_changes(loaded):
    res = rematch_brands(loaded, [XIAOMI, HUAWEI], scope=["华为"])
    assert res.added == {"华为": 2} and not res.removed and res.scope == ["华为"]
    after = brands_of(loaded)
    assert after["weibo:2"] == ["小米"] and after["weibo:4"] == ["华为", "小米"]  # 小米 not decided
    with pytest.raises(InvalidInput, match=r"not a monitored brand: 苹果 \(monitored: 小米, 华为\)"):
        rematch_brands(loaded, [XIAOMI, HUAWEI], scope=["苹果"])


def test_dry_run_counts_the_same_and_writes_nothing(loaded):
    before = brands_of(loaded)
    dry = rematch_brands(loaded, [XIAOMI, HUAWEI], dry_run=True)
    assert brands_of(loaded) == before and trend_total(loaded, "小米") == 5
    assert dry.written == 0 and dry.dry_run
    real = rematch_brands(loaded, [XIAOMI, HUAWEI])
    assert (dry.scanned, dry.changed, dry.added, dry.removed) == (real.scanned, real.changed, real.added, real.removed)


def test_published_window_limits_what_is_scanned(loaded):
    res = rematch_brands(loaded, [XIAOMI, HUAWEI], since=DAY0 + timedelta(days=1), until=DAY0 + timedelta(days=2))
    assert res.scanned == 2  # weibo:3, weibo:4
    assert res.removed == {"小米": 1} and res.added == {"华为": 1}
    after = brands_of(loaded)
    assert after["weibo:2"] == ["小米"] and after["weibo:5"] == ["小米", "某CEM品牌"]  # outside: untouched
    assert after["weibo:3"] == []
    with pytest.raises(InvalidInput, match="time zone"):
        rematch_brands(loaded, [XIAOMI], since=datetime(2026, 11, 10))


def test_a_brand_removed_from_the_rules_keeps_its_tags_unless_in_scope(loaded):
    # Rules for 华为 only: 小米 is then not a monitored brand, so its tags are not ours to decide.
    res = rematch_brands(loaded, [HUAWEI])
    assert not res.removed and brands_of(loaded)["weibo:2"] == ["小米"]

    # ... unless named in `remove` (小米 deleted): its tags go, the CEM's brand and the rules' stay
    res = rematch_brands(loaded, [HUAWEI], remove=["小米"])
    assert res.removed == {"小米": 5} and res.added == {}  # 华为 was already added by the first pass
    got = brands_of(loaded)
    assert got["weibo:4"] == ["华为"] and got["weibo:5"] == ["某CEM品牌"] and got["weibo:1"] == []
    assert trend_total(loaded, "小米") == 0 and searched(loaded, "小米") == set()
    assert_exact_rollups(loaded)
    with pytest.raises(InvalidInput, match="still monitored: 华为"):
        rematch_brands(loaded, [HUAWEI], remove=["华为"])


# The CLI --------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A data dir with a stored crawl and the monitored brands in the state DB, as the API keeps them;
    a brands.yaml that seeds one more brand."""
    yaml = tmp_path / "brands.yaml"
    yaml.write_text("brands:\n  - name: 华为\n    aliases: [Huawei]\n", encoding="utf-8")
    monkeypatch.setenv("OPMON_BRANDS_FILE", str(yaml))
    get_settings.cache_clear()
    settings = get_settings()
    store = open_store(settings)
    store.upsert(corpus())
    store.close()
    db = StateDB(settings.state_db)
    BrandRepo(db).create(XIAOMI)
    db.close()
    return settings


def _stored(settings):
    store = open_store(settings)
    try:
        return brands_of(store), trend_total(store, "小米")
    finally:
        store.close()


def test_cli_dry_run_then_rematch_then_nothing_left(cli_env):
    runner = CliRunner()
    dry = runner.invoke(main, ["brands", "rematch", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "8 mentions scanned, 5 would change" in dry.stdout
    assert "小米: +0 -3" in dry.stdout and "华为: +2 -0" in dry.stdout
    assert "dry run: nothing was written" in dry.stdout
    assert _stored(cli_env)[1] == 5

    run = runner.invoke(main, ["brands", "rematch", "--json"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary == {"scanned": 8, "changed": 5, "written": 5, "dry_run": False, "scope": ["华为", "小米"],
                       "added": {"华为": 2}, "removed": {"小米": 3}}
    brands, trend = _stored(cli_env)
    assert trend == 2 and brands["weibo:2"] == [] and brands["weibo:5"] == ["某CEM品牌"]

    again = runner.invoke(main, ["brands", "rematch"])
    assert again.exit_code == 0 and "8 mentions scanned, 0 changed" in again.stdout


def test_cli_brand_scope_window_and_unknown_brand(cli_env):
    runner = CliRunner()
    res = runner.invoke(main, ["brands", "rematch", "--brand", "小米", "--since", "2026-11-11",
                               "--until", "2026-11-12", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["scanned"] == 2 and summary["removed"] == {"小米": 1} and summary["added"] == {}
    brands, _ = _stored(cli_env)
    assert brands["weibo:3"] == [] and brands["weibo:2"] == ["小米"] and brands["weibo:4"] == ["小米"]

    bad = runner.invoke(main, ["brands", "rematch", "--brand", "苹果"])
    assert bad.exit_code == 2
    assert "not a monitored brand: 苹果" in bad.output and "monitored: 华为, 小米" in bad.output
    backwards = runner.invoke(main, ["brands", "rematch", "--since", "2026-11-12", "--until", "2026-11-11"])
    assert backwards.exit_code == 2 and "--until must be after --since" in backwards.output


def test_cli_remove_strips_a_brand_no_longer_monitored(cli_env):
    runner = CliRunner()
    monitored = runner.invoke(main, ["brands", "rematch", "--remove", "小米"])
    assert monitored.exit_code == 2 and "still monitored: 小米" in monitored.output
    res = runner.invoke(main, ["brands", "rematch", "--brand", "华为", "--remove", "某CEM品牌", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["removed"] == {"某CEM品牌": 2}
    brands, _ = _stored(cli_env)
    assert brands["weibo:5"] == ["小米"] and brands["weibo:6"] == []
