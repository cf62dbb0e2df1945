"""Pipeline stages one by one (validate, brands, dedupe, batching), on a real Scrapy crawler object."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from core.brands import Brand, BrandRepo
from core.mention import SHANGHAI, Mention
from core.settings import get_settings
from crawlers.pipelines import BrandPipeline, DedupePipeline, ValidatePipeline
from crawlers.pipelines.base import BatchingPipeline
from crawlers.pipelines.neardup import NearDupIndex, fingerprint_text, minhash, similarity
from store.sqlite_db import StateDB


class _Spider:
    name = "t"
    keyword = "小米"
    since = None

    def __init__(self):
        self.marks = []

    def note_published(self, when):
        self.marks.append(when)


def _crawler(**settings):
    crawler = get_crawler(settings_dict=settings)
    crawler.spider = _Spider()
    return crawler


def _item(n=1, text="小米手机屏幕坏了", **kw):
    return {"id": f"weibo:{n}", "source": "weibo", "kind": "post", "text": text,
            "published_at": "2026-11-21T10:00:00+08:00", **kw}


def _mention(n=1, text="小米手机屏幕坏了", **kw):
    return Mention.model_validate(_item(n, text, **kw))


def test_validate_normalises_and_counts_drops():
    crawler = _crawler()
    stage = ValidatePipeline.from_crawler(crawler)
    m = stage.process_item(_item(location="发布于 上海"))
    assert isinstance(m, Mention) and m.location == "上海" and m.keyword == "小米"
    assert crawler.spider.marks == [m.published_at]
    with pytest.raises(DropItem, match="invalid"):
        stage.process_item(_item(2, text="   "))
    with pytest.raises(DropItem, match="invalid"):
        stage.process_item({"id": "weibo:3", "source": "weibo", "kind": "post", "text": "x",
                            "published_at": "2026-11-21T10:00:00"})  # naive datetime
    with pytest.raises(DropItem, match="not_a_mention"):
        stage.process_item(["not", "a", "dict"])
    stats = crawler.stats.get_stats()
    assert stats["pipeline/validate/dropped/invalid"] == 2
    assert stats["pipeline/validate/invalid_field/mention"] == 1  # "text is empty" is a model-level rule
    assert stats["pipeline/validate/invalid_field/published_at"] == 1


def test_validate_enforces_since():
    crawler = _crawler()
    crawler.spider.since = datetime(2026, 11, 21, 12, 0, tzinfo=SHANGHAI)
    stage = ValidatePipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match="before_since"):
        stage.process_item(_item())
    assert stage.process_item(_item(2, published_at="2026-11-21T13:00:00+08:00")).id == "weibo:2"


def test_brands_match_several_respect_exclusions_and_keep_unmatched(tmp_path):
    settings = get_settings()
    repo = BrandRepo(StateDB(settings.state_db))
    repo.create(Brand(name="小米", keywords=["小米手机"], aliases=["Xiaomi"], exclusions=["小米粥"]))
    repo.create(Brand(name="华为", keywords=["华为"]))
    repo.create(Brand(name="停用", keywords=["屏幕"], enabled=False))
    crawler = _crawler()
    stage = BrandPipeline.from_crawler(crawler)
    stage.open_spider()
    assert stage.process_item(_mention(1, "小米和华为的屏幕对比")).brands == ["华为", "小米"]
    assert stage.process_item(_mention(2, "XIAOMI store")).brands == ["小米"]
    assert stage.process_item(_mention(3, "早餐喝小米粥")).brands == []
    assert stage.process_item(_mention(4, "与品牌无关的内容")).brands == []
    assert crawler.stats.get_value("pipeline/brands/matched") == 2
    assert crawler.stats.get_value("pipeline/brands/unmatched") == 2


def test_brands_yaml_seeds_and_db_wins(tmp_path, monkeypatch):
    path = tmp_path / "brands.yaml"
    path.write_text("brands:\n  - name: 蔚来\n    keywords: [蔚来, NIO]\n  - name: 小米\n    keywords: [红米]\n",
                    encoding="utf-8")
    monkeypatch.setenv("OPMON_BRANDS_FILE", str(path))
    get_settings.cache_clear()
    BrandRepo(StateDB(get_settings().state_db)).create(Brand(name="小米", keywords=["小米"]))
    stage = BrandPipeline.from_crawler(_crawler())
    stage.open_spider()
    assert stage.process_item(_mention(1, "NIO 和 小米")).brands == ["小米", "蔚来"]
    assert stage.process_item(_mention(2, "红米新品")).brands == []  # the DB's 小米 replaced the yaml's


def test_dedupe_drops_repeated_ids_and_marks_near_duplicates():
    crawler = _crawler()
    stage = DedupePipeline.from_crawler(crawler)
    spam = "【好物推荐】小米空气净化器4 Pro 限时直降300元，点击链接购买 https://t.cn/A6abc 还送滤芯！"
    first = stage.process_item(_mention(1, spam))
    assert first.dup_of is None
    with pytest.raises(DropItem, match="duplicate_id"):
        stage.process_item(_mention(1, spam))
    variant = spam.replace("https://t.cn/A6abc", "https://t.cn/Zz999").replace("！", "!!") + " @某人"
    assert stage.process_item(_mention(2, variant)).dup_of == "weibo:1"
    edited = spam.replace("限时直降300元", "限时直降299元")
    assert stage.process_item(_mention(3, edited)).dup_of == "weibo:1"
    different = "小米汽车的试驾体验一般，销售一直催着下定，售后网点也少，不太推荐给朋友"
    assert stage.process_item(_mention(4, different)).dup_of is None
    assert stage.process_item(_mention(5, "好评")).dup_of is None  # too short to judge
    assert stage.process_item(_mention(6, "好评")).dup_of is None
    assert crawler.stats.get_value("pipeline/dedupe/near_duplicates") == 2
    assert crawler.stats.get_value("pipeline/dedupe/dropped/duplicate_id") == 1


def test_minhash_is_stable_and_separates_near_from_unrelated():
    a = fingerprint_text("小米手机的屏幕质量真的不行，用了三个月就出现了绿线，售后还不给换")
    b = fingerprint_text("小米手机的屏幕质量真的不行，用了三个月就出现绿线，售后还不给换！")
    c = fingerprint_text("今天天气很好，我们一起去公园散步，看到很多人在放风筝")
    d = fingerprint_text("小米手机的续航很好，充电也快，拍照清晰，推荐购买")
    assert (minhash(a) == minhash(a)).all()
    assert similarity(minhash(a), minhash(b)) >= 0.7
    assert similarity(minhash(a), minhash(c)) < 0.3
    assert similarity(minhash(a), minhash(d)) < 0.5  # same brand, different opinion


def test_neardup_index_grows_past_its_first_block_and_resets_at_its_cap():
    index = NearDupIndex(threshold=0.7, max_entries=3000)
    texts = [fingerprint_text(f"第{i}号用户说小米{i * 7919 % 10007}号门店的服务{i % 13}分，排队{i % 97}分钟") for i in range(2500)]
    for i, text in enumerate(texts):
        index.find_or_add(minhash(text), f"weibo:{i}")
    assert index.size > 1024  # the signature matrix grew beyond its first block
    early = texts[5] + "！"  # a near copy of an early text is still found after the growth
    assert index.find(minhash(fingerprint_text(early))) == "weibo:5"
    assert index.find(minhash(fingerprint_text("今天天气很好我们一起去公园散步看到很多人放风筝"))) is None
    for i in range(3000 - index.size + 1):  # one more than the cap allows: the index starts afresh
        index.add(minhash(fingerprint_text(f"另一批不同的文本{i}")), f"other:{i}")
    assert index.size == 1
    assert index.find(minhash(texts[5])) is None


def test_gc_tuning_raises_the_young_threshold_during_a_crawl_and_restores_it():
    import gc

    from crawlers.extensions import GcTuning

    before = gc.get_threshold()
    ext = GcTuning.from_crawler(_crawler(GC_GEN0_THRESHOLD=40_000))
    ext.engine_started()
    try:
        assert gc.get_threshold() == (40_000, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        ext.engine_stopped()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        GcTuning.from_crawler(_crawler(GC_TUNING_ENABLED=False))


class _Doubler(BatchingPipeline):
    stage = "double"

    def __init__(self, crawler):
        super().__init__(crawler)
        self.batches = []

    def process_batch(self, items):
        self.batches.append(list(items))
        if any(i == "boom" for i in items):
            raise RuntimeError("model exploded")
        return [i * 2 if i != 7 else self.drop("seven", "no sevens") for i in items], {"done": len(items)}


def test_batching_groups_items_flushes_on_close_and_isolates_failures():
    crawler = _crawler(BATCH_SIZE=3, BATCH_MAX_WAIT=30, BATCH_IDLE_FLUSH=30)

    async def main():
        stage = _Doubler.from_crawler(crawler)
        tasks = [asyncio.ensure_future(stage.process_item(i)) for i in (1, 2, 3, 4, 7)]
        await asyncio.sleep(0.05)
        assert [t.done() for t in tasks] == [True, True, True, False, False]  # one full batch ran
        await stage.close_spider()  # flushes the partial batch without waiting 30 s
        results = []
        for t in tasks:
            try:
                results.append(t.result())
            except DropItem as exc:
                results.append(str(exc))
        bad = asyncio.ensure_future(stage.process_item("boom"))
        await asyncio.sleep(0)
        await stage.close_spider()
        with pytest.raises(DropItem, match="batch_failed"):
            bad.result()
        return stage, results

    stage, results = asyncio.run(main())
    assert results[:4] == [2, 4, 6, 8] and "seven" in results[4]
    assert stage.batches == [[1, 2, 3], [4, 7], ["boom"]]
    stats = crawler.stats.get_stats()
    assert stats["pipeline/double/done"] == 5
    assert stats["pipeline/double/dropped/seven"] == 1
    assert stats["pipeline/double/failed_batches"] == 1


def test_batching_timer_flushes_a_partial_batch():
    crawler = _crawler(BATCH_SIZE=100, BATCH_MAX_WAIT=0.05, BATCH_IDLE_FLUSH=30)

    async def main():
        stage = _Doubler.from_crawler(crawler)
        return await asyncio.wait_for(stage.process_item(21), timeout=5)

    assert asyncio.run(main()) == 42


def test_batching_flushes_when_items_stop_arriving_and_keeps_a_steady_stream_together():
    crawler = _crawler(BATCH_SIZE=100, BATCH_MAX_WAIT=30, BATCH_IDLE_FLUSH=1.0)

    async def main():
        stage = _Doubler.from_crawler(crawler)
        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks = []
        for i in range(5):  # a steady stream: each item arrives before the idle timer fires
            tasks.append(asyncio.ensure_future(stage.process_item(i)))
            await asyncio.sleep(0.05)
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        return stage, results, loop.time() - started

    stage, results, took = asyncio.run(main())
    assert results == [0, 2, 4, 6, 8]
    assert stage.batches == [[0, 1, 2, 3, 4]]  # one batch, flushed once the stream went quiet
    assert took < 5


def _store_run(crawler, store=None):
    """Three mentions through a StorePipeline (batches of 2); returns the stage and the threads that wrote."""
    from crawlers.pipelines.store import StorePipeline
    from crawlers.storage import close_crawl_store, crawl_store

    if store is not None:
        store.open()
        crawler._opmon_store = store
    writers = []

    async def main():
        stage = StorePipeline.from_crawler(crawler)
        stage.open_spider()
        real = stage.store.upsert

        def upsert(items):
            writers.append(threading.current_thread().name)
            return real(items)

        stage.store.upsert = upsert
        out = await asyncio.gather(*(stage.process_item(_mention(n)) for n in (1, 2, 3)),
                                   stage.close_spider())
        return stage, out[:3]

    stage, out = asyncio.run(main())
    saved = [crawl_store(crawler).get(f"weibo:{n}") for n in (1, 2, 3)]
    close_crawl_store(crawler)
    assert [m.id for m in out] == ["weibo:1", "weibo:2", "weibo:3"] and all(saved)
    stats = crawler.stats.get_stats()
    assert stats["pipeline/store/inserted"] + stats["pipeline/store/updated"] == 3 and stats["pipeline/store/batches"] == 2
    return stage, writers


def test_store_writes_sqlite_on_the_reactor_and_a_network_store_on_a_thread(tmp_path):
    from store.sqlite import SqliteStore

    main = threading.current_thread().name
    stage, writers = _store_run(_crawler(STORE_BATCH_SIZE=2))
    assert stage.in_thread is False and writers == [main, main] and stage.executor is None

    stage, writers = _store_run(_crawler(STORE_BATCH_SIZE=2, STORE_WRITE_THREAD="1"))
    assert stage.in_thread is True and len(writers) == 2 and all(w.startswith("opmon-store") for w in writers)

    class NetworkLike(SqliteStore):  # what the choice sees of Elasticsearch: writes_over_network
        writes_over_network = True

    stage, writers = _store_run(_crawler(STORE_BATCH_SIZE=2), NetworkLike(tmp_path / "n.db"))
    assert stage.in_thread is True and all(w.startswith("opmon-store") for w in writers)

    from store.elastic import ElasticStore
    assert ElasticStore.writes_over_network is True and SqliteStore.writes_over_network is False


def test_dedupe_seeds_from_recent_stored_mentions_so_repost_storms_span_crawls():
    from datetime import UTC, timedelta

    from crawlers.storage import close_crawl_store, crawl_store

    spam = "【好物推荐】小米空气净化器4 Pro 限时直降300元，点击链接购买 https://t.cn/A6abc 还送滤芯！"
    other = "小米汽车的试驾体验一般，销售一直催着下定，售后网点也少，不太推荐给朋友"
    now = datetime.now(UTC)
    first = _crawler()
    store = crawl_store(first)
    store.upsert([_mention(1, spam, published_at=(now - timedelta(hours=3)).isoformat()),
                  _mention(2, spam + "!", published_at=(now - timedelta(hours=2)).isoformat(), dup_of="weibo:1"),
                  _mention(3, other, published_at=(now - timedelta(days=5)).isoformat())])
    close_crawl_store(first)

    crawler = _crawler()  # the next crawl, same store
    stage = DedupePipeline.from_crawler(crawler)
    stage.open_spider()
    assert crawler.stats.get_value("pipeline/dedupe/seeded") == 2  # the 5-day-old post is outside 48 h
    variant = spam.replace("https://t.cn/A6abc", "https://t.cn/Q1").replace("300", "299") + " @某人"
    assert stage.process_item(_mention(9, variant)).dup_of == "weibo:1"
    assert stage.process_item(_mention(1, spam)).dup_of is None  # the stored original, re-crawled
    assert stage.process_item(_mention(2, spam + "!")).dup_of == "weibo:1"
    assert stage.process_item(_mention(8, other)).dup_of is None  # its stored copy was not seeded
    close_crawl_store(crawler)

    off = _crawler(DEDUPE_SEED_HOURS=0)
    stage = DedupePipeline.from_crawler(off)
    stage.open_spider()
    assert off.stats.get_value("pipeline/dedupe/seeded") is None
    assert stage.process_item(_mention(9, variant)).dup_of is None
    close_crawl_store(off)


def test_dedupe_goes_on_unseeded_when_the_store_cannot_be_read(tmp_path, monkeypatch, caplog):
    (tmp_path / "blocked").write_text("a file where the data directory should be")
    monkeypatch.setenv("OPMON_DATA_DIR", str(tmp_path / "blocked"))
    get_settings.cache_clear()
    crawler = _crawler()
    stage = DedupePipeline.from_crawler(crawler)
    stage.open_spider()
    assert crawler.stats.get_value("pipeline/dedupe/seed_failed") == 1
    assert "only found within this crawl" in caplog.text
    assert stage.process_item(_mention(1)).dup_of is None


class _FlakyStore:
    """A real SQLite store whose first `fail` upserts raise StoreError (a locked or unreachable store)."""

    def __init__(self, path, fail: int):
        from store.sqlite import SqliteStore

        self.inner, self.fail, self.calls = SqliteStore(path), fail, 0
        self.writes_over_network = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def upsert(self, items):
        from core.errors import StoreError

        self.calls += 1
        if self.calls <= self.fail:
            raise StoreError(f"database is locked (attempt {self.calls})")
        return self.inner.upsert(items)


@pytest.mark.parametrize("thread", ["0", "1"])
def test_store_retries_a_failed_batch_once_then_drops_it_counted(tmp_path, thread):
    from crawlers.pipelines.store import StorePipeline

    def run(fail: int, name: str):
        crawler = _crawler(STORE_BATCH_SIZE=3, STORE_WRITE_THREAD=thread, STORE_RETRY_WAIT=0.05)
        store = _FlakyStore(tmp_path / f"{name}.db", fail)
        store.open()
        crawler._opmon_store = store

        async def main():
            stage = StorePipeline.from_crawler(crawler)
            stage.open_spider()
            out = await asyncio.gather(*(stage.process_item(_mention(n)) for n in (1, 2, 3)),
                                       return_exceptions=True)
            await stage.close_spider()
            return out

        out = asyncio.run(main())
        stored = [store.inner.get(f"weibo:{n}") for n in (1, 2, 3)]
        store.inner.close()
        return out, stored, store.calls, crawler.stats.get_stats()

    out, stored, calls, stats = run(1, "once")  # fails once: the retry writes it
    assert calls == 2 and [m.id for m in out] == ["weibo:1", "weibo:2", "weibo:3"] and all(stored)
    assert stats["pipeline/store/inserted"] == 3 and "pipeline/store/failed_batches" not in stats

    out, stored, calls, stats = run(2, "twice")  # fails again: dropped, counted, nothing stored
    assert calls == 2 and all(isinstance(o, DropItem) and "store_error" in str(o) for o in out)
    assert stored == [None, None, None]
    assert stats["pipeline/store/failed_batches"] == 1 and stats["pipeline/store/dropped/store_error"] == 3
