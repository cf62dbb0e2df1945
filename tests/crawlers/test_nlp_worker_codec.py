"""The NLP worker sends back only what `Analyzer.analyze` fills in, as plain tuples: the crawl process
must rebuild exactly the mentions `analyze` returned, and nothing else may change on the way."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import pytest
from crawl_testkit import PAGES

from core.mention import Aspect, Label, Mention, Sentiment
from core.settings import get_settings
from crawlers import nlp_worker


def _mentions() -> list[Mention]:
    base = {"source": "weibo", "kind": "post", "published_at": "2026-11-21T10:00:00+08:00"}
    return [
        Mention.model_validate({**base, "id": "weibo:1", "text": "小米手机屏幕坏了，售后太差，物流也慢"}),
        Mention.model_validate({**base, "id": "weibo:2", "text": "客服态度很好推荐购买 #小米售后#"}),
        Mention.model_validate({**base, "id": "weibo:3", "text": "客服态度很好推荐购买 #小米售后#", "lang": "en"}),
        # a spider's own aspect (kept by analyze) and its sub-score
        Mention.model_validate({"id": "dianping:9", "source": "dianping", "kind": "review", "text": "服务一般，菜很好吃",
                                "published_at": "2026-11-21T10:00:00+08:00", "metrics": {"rating": 4},
                                "aspects": [{"touchpoint": "口味", "sentiment": "positive"}]}),
        # a review with stars and no text: sentiment from the rating, no keywords
        Mention.model_validate({"id": "jd:7", "source": "jd", "kind": "review", "text": "",
                                "published_at": "2026-11-21T10:00:00+08:00", "metrics": {"rating": 2}}),
    ]


def test_encode_decode_round_trip_by_hand():
    m = _mentions()[0]
    scored = m.model_copy(update={
        "sentiment": Sentiment(label=Label.negative, probs={Label.negative: 0.7, Label.neutral: 0.2,
                                                            Label.positive: 0.1}, score=-0.6, model="m"),
        "keywords": ["售后", "物流"], "lang": "zh", "emotion": "angry",
        "aspects": [Aspect(touchpoint="物流", sentiment=Label.negative, text="物流也慢"),
                    Aspect(touchpoint="口味", sentiment=Label.positive)]})
    unscored = _mentions()[1]  # sentiment None, no aspects
    rows = pickle.loads(pickle.dumps(nlp_worker.encode([scored, unscored])))
    back = nlp_worker.decode([m, unscored], rows)
    assert back == [scored, unscored]
    assert [b.model_dump(mode="json") for b in back] == [scored.model_dump(mode="json"),
                                                         unscored.model_dump(mode="json")]
    assert back[0].sentiment.label is Label.negative and back[0].aspects[0].sentiment is Label.negative
    assert back[0] is not m  # copies, as analyze returns
    with pytest.raises(ValueError):  # a batch and its results must line up
        nlp_worker.decode([m], rows)


@pytest.mark.slow
def test_decoded_results_equal_what_analyze_returns(tiny_model, monkeypatch):
    """With a real (tiny) model: encode -> pickle -> decode gives exactly `analyze`'s mentions, and
    `analyze` changes no field outside `nlp_worker.FIELDS` (else the codec would lose it)."""
    from nlp.analyzer import Analyzer

    monkeypatch.setenv("OPMON_MODEL", str(tiny_model))
    monkeypatch.setenv("OPMON_DEVICE", "cpu")
    get_settings.cache_clear()
    analyzer = Analyzer.from_settings(get_settings().model_copy(update={"torch_threads": 1}))
    mentions = _mentions()
    scored = analyzer.analyze(mentions)
    assert any(m.aspects for m in scored) and all(m.sentiment is not None for m in scored)
    back = nlp_worker.decode(mentions, pickle.loads(pickle.dumps(nlp_worker.encode(scored))))
    assert back == scored
    assert [b.model_dump(mode="json") for b in back] == [s.model_dump(mode="json") for s in scored]
    fields = set(nlp_worker.FIELDS)
    for before, after in zip(mentions, scored, strict=True):
        assert before.model_dump(exclude=fields) == after.model_dump(exclude=fields)


_CRAWL_SIDE = textwrap.dedent("""
    import asyncio, sys
    from scrapy.utils.test import get_crawler
    from core.mention import Mention
    from crawlers.pipelines.nlp import NlpPipeline

    async def main():
        crawler = get_crawler(settings_dict={"NLP_BATCH_SIZE": 2, "BATCH_IDLE_FLUSH": 0.01})
        stage = NlpPipeline.from_crawler(crawler)
        await stage.open_spider()
        items = [Mention.model_validate({"id": f"weibo:{i}", "source": "weibo", "kind": "post", "text": "售后太差",
                                         "published_at": "2026-11-21T10:00:00+08:00"}) for i in range(3)]
        out = await asyncio.gather(*[stage.process_item(m) for m in items])
        await stage.close_spider()
        stats = crawler.stats.get_stats()
        print(all(m.sentiment is not None for m in out), stats["pipeline/nlp/scored"],
              stats["pipeline/nlp/worker_start_cpu_ms"] > 0,
              stats["pipeline/nlp/worker_total_cpu_ms"] >= stats["pipeline/nlp/worker_start_cpu_ms"],
              sorted(m for m in ("torch", "transformers", "jieba") if m in sys.modules), sys.getswitchinterval())

    asyncio.run(main())
""")


@pytest.mark.slow
def test_the_crawl_process_never_loads_the_model_and_counts_the_workers_cpu(tiny_model, tmp_path):
    """The model, torch and jieba live in the worker only: the crawl process stays light (its CPU is
    the reactor's), and the worker's start-up and total CPU are counted."""
    env = {**os.environ, "OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tiny_model), "OPMON_DEVICE": "cpu",
           "OPMON_DATA_DIR": str(tmp_path), "PYTHONPATH": str(PAGES.parents[2])}
    out = subprocess.run([sys.executable, "-c", _CRAWL_SIDE], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    # ... and its GIL switch interval stays Python's 5 ms (the NLP package lowers it while the
    # ensemble's halves overlap: in the worker, never on the reactor)
    assert out.stdout.split("\n")[-2] == "True 3 True True [] 0.005", out.stdout + out.stderr[-2000:]
