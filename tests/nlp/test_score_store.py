"""`opmon score --store`: what a crawl stored unscored gets scored in place, once."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.mention import Label, Mention, Sentiment
from core.settings import get_settings
from nlp.cli import score
from store.factory import open_store


def _mention(n: int, text: str, **kw) -> Mention:
    return Mention.model_validate({"id": f"weibo:{n}", "source": "weibo", "kind": "post", "text": text,
                                   "published_at": "2026-11-21T10:00:00+08:00", **kw})


@pytest.fixture
def scored_elsewhere():
    return Sentiment(label=Label.positive, probs={Label.negative: 0.1, Label.neutral: 0.1, Label.positive: 0.8},
                     score=0.7, model="earlier-model")


def _stored(ids):
    store = open_store(get_settings())
    try:
        return {i: store.get(i) for i in ids}
    finally:
        store.close()


def _run(*args):
    result = CliRunner().invoke(score, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_store_mode_scores_only_the_unscored_then_everything_with_all(tiny_model, monkeypatch, scored_elsewhere):
    monkeypatch.setenv("OPMON_MODEL", tiny_model)
    monkeypatch.setenv("OPMON_DEVICE", "cpu")
    get_settings.cache_clear()
    store = open_store(get_settings())
    store.upsert([_mention(1, "小米手机屏幕坏了，售后太差"), _mention(2, "客服态度很好推荐购买"),
                  _mention(3, "一般般吧", sentiment=scored_elsewhere.model_dump())])
    store.close()

    assert _run("--store", "--batch-size", "1") == {"scanned": 3, "scored": 2, "batches": 2}
    after = _stored(["weibo:1", "weibo:2", "weibo:3"])
    assert all(after[i].sentiment is not None for i in ("weibo:1", "weibo:2"))
    assert after["weibo:1"].sentiment.model != "earlier-model"
    assert after["weibo:1"].text == "小米手机屏幕坏了，售后太差"  # nothing else changed
    assert after["weibo:3"].sentiment.model == "earlier-model"  # already scored: left alone

    assert _run("--store") == {"scanned": 3, "scored": 0, "batches": 0}  # a second run finds nothing to do
    assert _run("--store", "--all") == {"scanned": 3, "scored": 3, "batches": 1}
    assert _stored(["weibo:3"])["weibo:3"].sentiment.model != "earlier-model"


def test_store_mode_refuses_texts_and_all_needs_store():
    result = CliRunner().invoke(score, ["--store", "质量很好"])
    assert result.exit_code == 2 and "--store scores the store" in result.output
    result = CliRunner().invoke(score, ["--all", "质量很好"])
    assert result.exit_code == 2 and "--all goes with --store" in result.output
