import re

import numpy as np
import pytest
from nlp_toydata import toy_rows

from nlp.data import SEED, bucket, data_dir, split_of
from nlp.linear import CharNgramLinear


def test_split_is_fixed_and_about_ten_percent():
    keys = [f"text {i}" for i in range(20000)]
    held = [k for k in keys if split_of(k) == "heldout"]
    assert 0.09 < len(held) / len(keys) < 0.11
    assert split_of("同一句话") == split_of("同一句话")
    assert bucket("x", SEED) != bucket("x", SEED + 1) or bucket("y", SEED) != bucket("y", SEED + 1)


def test_linear_model_learns_and_round_trips(tmp_path):
    texts, labels = toy_rows()
    model = CharNgramLinear.fit(texts, labels, min_df=1)
    probs = model.predict_proba(["质量很好，很喜欢", "太差了，垃圾"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert model.classes[int(probs[0].argmax())] == "positive" and model.classes[int(probs[1].argmax())] == "negative"
    model.save(tmp_path / "lin")
    again = CharNgramLinear.load(tmp_path / "lin")
    np.testing.assert_allclose(again.predict_proba(["质量很好，很喜欢"]), probs[:1], atol=2e-3)  # float16 weights
    assert sorted(p.name for p in (tmp_path / "lin").iterdir()) == ["linear.json", "linear.safetensors"]


@pytest.mark.skipif(data_dir() is None, reason="shared corpora (../shared/data/sentiment) not present")
def test_real_corpora_map_labels_and_never_leak_heldout():
    from nlp.data import load_all

    parts = load_all(data_dir(), corpora=("weibo_senti_100k", "smp2020_ewect", "bdci2018_car"))
    train_keys = {ex.key for ex in parts["train"]}
    assert not train_keys & {ex.key for ex in parts["heldout"]}
    assert not {ex.text for ex in parts["train"]} & {ex.text for ex in parts["heldout"] if ex.corpus != "bdci2018_car"}
    labels = {(ex.corpus, ex.label) for part in parts.values() for ex in part}
    assert ("smp2020_ewect", "neutral") in labels and ("bdci2018_car", "neutral") in labels
    emoticon = re.compile(r"\[[^\[\]\s]{1,8}\]")
    assert not any(emoticon.search(ex.text) for ex in parts["train"] if ex.corpus == "weibo_senti_100k")
    n = sum(len(p) for p in parts.values())
    assert 0.08 < len(parts["heldout"]) / n < 0.12


def test_hashed_linear_model_learns_and_round_trips(tmp_path):
    texts, labels = toy_rows()
    model = CharNgramLinear.fit(texts, labels, min_df=1, hash_bits=14)
    assert model.vocabulary is None and model.n_features == 2 ** 14
    probs = model.predict_proba(["质量很好，很喜欢", "太差了，垃圾"])
    assert model.classes[int(probs[0].argmax())] == "positive" and model.classes[int(probs[1].argmax())] == "negative"
    model.save(tmp_path / "h")
    np.testing.assert_allclose(CharNgramLinear.load(tmp_path / "h").predict_proba(["质量很好，很喜欢"]), probs[:1],
                               atol=2e-3)


def test_linear_model_with_word_features_learns_and_round_trips(tmp_path):
    from nlp.keywords import feature_words

    texts, labels = toy_rows()
    chars = CharNgramLinear.fit(texts, labels, min_df=1)
    model = CharNgramLinear.fit(texts, labels, min_df=1, word_ngrams=2)
    assert model.uses_words and not chars.uses_words
    assert "物流" in model.word_vocabulary and "物流 很快" in model.word_vocabulary  # unigrams and bigrams
    assert model.n_features == len(model.vocabulary) + len(model.word_vocabulary) > chars.n_features
    batch = ["质量很好，很喜欢", "太差了，垃圾", "物流很快"]
    x = model.features(batch)
    assert x.shape[1] == model.n_features and x[:, len(model.vocabulary):].nnz > 0  # the word block is used
    np.testing.assert_allclose(np.asarray(x.multiply(x).sum(axis=1)).ravel(), 1.0, atol=1e-5)
    probs = model.predict_proba(batch)
    # words cut by the caller (Analyzer.analyze shares them with the keywords) give the same answer
    np.testing.assert_allclose(model.predict_proba(batch, [feature_words(t) for t in batch]), probs, atol=1e-6)
    assert model.classes[int(probs[0].argmax())] == "positive" and model.classes[int(probs[1].argmax())] == "negative"
    model.save(tmp_path / "w")
    again = CharNgramLinear.load(tmp_path / "w")
    assert again.uses_words and again.word_vocabulary == model.word_vocabulary
    np.testing.assert_allclose(again.predict_proba(batch), probs, atol=2e-3)  # float16 weights
