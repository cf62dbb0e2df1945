"""Tiny models built from a config (never downloaded), trained for a moment on toy sentences."""

from __future__ import annotations

import os
import random

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from nlp_toydata import NEGATIVE, NEUTRAL, POSITIVE


def _toy_train(model, tokenizer, label_names, steps=40):
    import torch

    from nlp.normalise import normalise

    data = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    if "neutral" in label_names:
        data += [(t, "neutral") for t in NEUTRAL]
    data = [(normalise(t), lab) for t, lab in data]  # as the pipeline will see them
    rng = random.Random(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        rng.shuffle(data)
        enc = tokenizer([t for t, _ in data], padding=True, return_tensors="pt")
        y = torch.tensor([label_names.index(lab) for _, lab in data])
        loss = torch.nn.functional.cross_entropy(
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def build_tiny(path, label_names=("negative", "neutral", "positive"), *, generic_names=False, steps=40,
               max_length=64):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from nlp.tokenizer import build_char_tokenizer

    torch.manual_seed(0)
    from nlp.normalise import normalise

    texts = [normalise(t) for t in POSITIVE + NEGATIVE + NEUTRAL + ["这是一个测试句子。abc123!?"]]
    tokenizer = build_char_tokenizer(texts,
                                     min_count=1, model_max_length=max_length)
    names = [f"LABEL_{i}" for i in range(len(label_names))] if generic_names else list(label_names)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=max_length, num_labels=len(label_names),
                        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
                        pad_token_id=tokenizer.pad_token_id)
    model = BertForSequenceClassification(config)
    if steps:
        _toy_train(model, tokenizer, list(label_names), steps)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return str(build_tiny(tmp_path_factory.mktemp("tiny3")))


@pytest.fixture(scope="session")
def tiny_binary_dir(tmp_path_factory):
    return str(build_tiny(tmp_path_factory.mktemp("tiny2"), ("negative", "positive"), generic_names=True))
