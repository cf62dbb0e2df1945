"""Fixtures every test package may use. Each package's own fixtures live in its conftest.py."""

from __future__ import annotations

import pytest

from core.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own data directory; nothing leaks between tests or into ./data."""
    monkeypatch.setenv("OPMON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, stopped after the test."""
    import shutil
    import socket
    import subprocess
    import time

    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server; `make test` does it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A seeded, untrained 1-layer BERT built from a config (never downloaded), saved with our character
    tokenizer: enough to run the crawler's and the API's scoring paths. (tests/nlp trains its own.)"""
    pytest.importorskip("transformers")
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from nlp.tokenizer import build_char_tokenizer

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_model")
    tokenizer = build_char_tokenizer(["小米手机屏幕坏了售后太差", "客服态度很好推荐购买", "一般般吧", "小米的客服太差了",
                                      "华为手机很好用", "物流一般般"], min_count=1, model_max_length=64)
    labels = ["negative", "neutral", "positive"]
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3,
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                        pad_token_id=tokenizer.pad_token_id)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
