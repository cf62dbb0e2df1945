"""The NLP stage inside a real crawl: one batched model call per batch, or a clean fallback."""

from __future__ import annotations

import pytest
from crawl_testkit import PAGES

W = PAGES / "weibo"
JSON = "application/json; charset=utf-8"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained 2-layer BERT built from a config (no download): enough to exercise the plumbing."""
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertForSequenceClassification

    from nlp.tokenizer import build_char_tokenizer

    path = tmp_path_factory.mktemp("tiny_model")
    tokenizer = build_char_tokenizer(["小米手机屏幕坏了售后太差", "客服态度很好推荐购买", "一般般吧"],
                                     min_count=1, model_max_length=64)
    labels = ["negative", "neutral", "positive"]
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3,
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                        pad_token_id=tokenizer.pad_token_id)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _serve(server):
    server.add("/", body=W / "home.html")
    server.add("/api/container/getIndex", query={"page": "1"}, body=W / "search_p1.json", content_type=JSON)
    server.add("/api/container/getIndex", query={"page": "2"}, body=W / "search_p2.json", content_type=JSON)
    server.add("/api/container/getIndex", body=W / "search_empty.json", content_type=JSON)
    server.add("/detail/5100000000000002", body=W / "detail_5100000000000002.html")


@pytest.mark.slow
def test_nlp_scores_every_mention_in_batches(replay_server, run_crawl, tiny_model):
    _serve(replay_server)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    settings={"NLP_BATCH_SIZE": "4"},
                    env={"OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tiny_model), "OPMON_DEVICE": "cpu"})
    assert run.finish_reason == "finished", run.log[-3000:]
    assert len(run.items) == 8
    for item in run.items:
        assert item["sentiment"]["label"] in {"negative", "neutral", "positive"}
        assert abs(sum(item["sentiment"]["probs"].values()) - 1) < 1e-3
        assert item["lang"] == "zh"
    assert run.stats["pipeline/nlp/scored"] == 8
    assert run.stats["pipeline/nlp/batches"] >= 2  # 8 mentions, batches of at most 4


def test_unloadable_model_stores_unscored_and_says_so(replay_server, run_crawl, tmp_path):
    _serve(replay_server)
    run = run_crawl("weibo", {"keyword": "小米", "base_url": replay_server.url},
                    env={"OPMON_NLP_ENABLED": "true", "OPMON_MODEL": str(tmp_path / "no-such-model")})
    assert run.finish_reason == "finished"
    assert run.stats["pipeline/nlp/unavailable"] == 1
    assert "NLP unavailable, storing mentions unscored" in run.log
    assert len(run.items) == 8 and all(i["sentiment"] is None for i in run.items)
    assert run.stats["pipeline/store/inserted"] == 8
