"""The linear half's own featurisation (`CharNgramCounts`, `WordNgramCounts`) builds exactly the
matrices sklearn's `CountVectorizer` builds, so the model's probabilities do not change."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

import nlp.linear as linear_mod
from nlp.keywords import feature_words
from nlp.linear import CharNgramCounts, CharNgramLinear, WordNgramCounts, _word_grams
from nlp.normalise import normalise

BUNDLED_LINEAR = Path(linear_mod.__file__).parent / "models" / "bundled" / "linear"

_PHRASES = ["物流很快", "质量太差了", "客服态度很好", "包装破损", "性价比高", "退货麻烦", "味道一般", "排队两个小时",
            "油耗有点高", "发货速度慢", "下次还会再买", "不推荐", "总体还行", "屏幕很清晰", "电池不耐用", "售后服务",
            "蔚来ES8", "iPhone 15 Pro", "小米SU7", "京东自营", "双十一", "五星好评", "差评", "垃圾", "超出预期"]
_EXTRAS = ["[怒]", "[哈哈]", "[泪]", "#新品发布#", "😂", "👍", "!!", "？？", "。", "，", "…", "~", "2024年", "3.5元",
           "  ", "\t", "\n", "\u3000", " \t\n ", "ΣΟΦΟΣ", "İstanbul", "STRASSE ß", "𠀀𠀁", "e\u0301", "ABC abc", "\u00a0"]


def _texts(n: int, seed: int = 3) -> list[str]:
    """Review/Weibo-like texts, raw (odd whitespace, case, astral characters) and normalised."""
    rng = random.Random(seed)
    out = ["", " ", "好", "ab", "A  B\t\tc", "ΣΑΣ ΟΣ", "  lead and trail  "]
    for _ in range(n):
        parts = [rng.choice(_PHRASES if rng.random() < 0.7 else _EXTRAS) for _ in range(rng.randint(1, 14))]
        text = "".join(parts)
        out.append(text if rng.random() < 0.5 else normalise(text))
    return out


def _same_csr(a, b) -> None:
    assert type(a) is type(b) and a.shape == b.shape
    assert a.data.dtype == b.data.dtype and a.indices.dtype == b.indices.dtype and a.indptr.dtype == b.indptr.dtype
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


def _sklearn_chars(vocabulary, ngram_range):
    return CountVectorizer(analyzer="char", ngram_range=ngram_range, lowercase=True, dtype=np.float32,
                           vocabulary={t: i for i, t in enumerate(vocabulary)})


@pytest.mark.parametrize("ngram_range", [(1, 4), (1, 3), (2, 4), (3, 3)])
def test_char_counts_equal_sklearn_on_a_fitted_vocabulary(ngram_range):
    texts = _texts(1500)
    fitted = CountVectorizer(analyzer="char", ngram_range=ngram_range, min_df=2).fit(texts[:800])
    vocabulary = [t for t, _ in sorted(fitted.vocabulary_.items(), key=lambda kv: kv[1])]
    ours = CharNgramCounts(vocabulary, ngram_range)
    assert ours.collision_free
    got = ours.transform(texts[800:])
    _same_csr(got, _sklearn_chars(vocabulary, ngram_range).transform(texts[800:]))
    assert got.nnz > 1000  # the comparison saw real matches


def test_char_counts_edge_cases():
    vocabulary = ["a", "b", "ab", "a b", " ", "σ", "ς", "i̇", "𠀀", "𠀀𠀁", "好", "好好好", "😂", "\t"]
    texts = ["", "A", "AB", "a  b", "a\tb", "a\t\tb", "ΣΑΣ", "İ", "𠀀𠀁𠀀", "好好好好", "😂😂", "b", "\t", " a "]
    _same_csr(CharNgramCounts(vocabulary, (1, 3)).transform(texts), _sklearn_chars(vocabulary, (1, 3)).transform(texts))
    _same_csr(CharNgramCounts(vocabulary, (1, 3)).transform([]), _sklearn_chars(vocabulary, (1, 3)).transform([]))


def test_a_hash_collision_in_the_vocabulary_falls_back_to_sklearn(monkeypatch):
    texts = _texts(200)
    fitted = CountVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2).fit(texts)
    vocabulary = [t for t, _ in sorted(fitted.vocabulary_.items(), key=lambda kv: kv[1])]
    n = len(vocabulary)
    args = (np.ones(n, dtype=np.float32), np.ones((3, n), dtype=np.float32), np.zeros(3, dtype=np.float32),
            ["negative", "neutral", "positive"], (1, 2))
    monkeypatch.setattr(linear_mod, "_final", lambda state, n: np.zeros_like(state))  # every term collides
    model = CharNgramLinear(vocabulary, *args)
    assert not CharNgramCounts(vocabulary, (1, 2)).collision_free
    assert isinstance(model._counts, CountVectorizer)
    _same_csr(model._counts.transform(texts), _sklearn_chars(vocabulary, (1, 2)).transform(texts))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_word_counts_equal_sklearn(n):
    texts = _texts(600, seed=5)
    # "扮" and "nb" have the same bytes in memory (UCS-2 6E 62 / Latin-1 6E 62): one Python hash.
    odd = [[], ["a b", "c"], ["a", "b c"], ["x"] * 5, ["扮", "nb", "扮"], ["nb", "扮"], ["", "a"], ["a b c", "d"]]
    words = [feature_words(normalise(t)) for t in texts] + odd
    fitted = CountVectorizer(analyzer=_word_grams(n), min_df=2).fit(words[:300] + odd + odd)
    vocabulary = [t for t, _ in sorted(fitted.vocabulary_.items(), key=lambda kv: kv[1])]
    counts = WordNgramCounts(vocabulary, n)
    assert counts._index is not None  # the hashed path, not the loop
    got = counts.transform(words)
    want = CountVectorizer(analyzer=_word_grams(n), dtype=np.float32,
                           vocabulary={t: i for i, t in enumerate(vocabulary)}).transform(words)
    _same_csr(got, want)
    _same_csr(counts._transform_loop(words), want)
    assert got.nnz > 500


def test_word_counts_survive_pickling_and_fall_back_on_collisions(monkeypatch):
    import pickle

    words = [feature_words(normalise(t)) for t in _texts(300, seed=9)]
    vocabulary = sorted(CountVectorizer(analyzer=_word_grams(2), min_df=2).fit(words).vocabulary_)
    want = CountVectorizer(analyzer=_word_grams(2), dtype=np.float32,
                           vocabulary={t: i for i, t in enumerate(vocabulary)}).transform(words)
    counts = pickle.loads(pickle.dumps(WordNgramCounts(vocabulary, 2)))
    assert counts._index is not None
    _same_csr(counts.transform(words), want)
    counts._salt = -1  # as if built in another process (string hashes are salted per process)
    _same_csr(counts.transform(words), want)
    assert counts._salt != -1
    monkeypatch.setattr(linear_mod, "_final", lambda state, n: np.zeros_like(state))  # every term collides
    colliding = WordNgramCounts(vocabulary, 2)
    assert colliding._index is None
    _same_csr(colliding.transform(words), want)


@pytest.mark.skipif(not (BUNDLED_LINEAR / "linear.json").exists(), reason="no bundled linear half")
def test_bundled_linear_half_gives_the_same_features_and_probabilities():
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    model = CharNgramLinear.load(BUNDLED_LINEAR)
    assert isinstance(model._counts, CharNgramCounts)  # no collision among its 500k terms
    texts = [normalise(t) for t in _texts(800, seed=11)]
    words = [feature_words(t) for t in texts]
    chars = _sklearn_chars(model.vocabulary, model.ngram_range).transform(texts)
    _same_csr(model._counts.transform(texts), chars)
    word_vec = CountVectorizer(analyzer=_word_grams(model.word_ngrams), dtype=np.float32,
                               vocabulary={t: i for i, t in enumerate(model.word_vocabulary)})
    # The features as the sklearn-loop implementation computed them (nlp/linear.py before the change).
    want = normalize(sp.hstack([linear_mod._tfidf(chars, model.idf),
                                linear_mod._tfidf(word_vec.transform(words), model.word_idf)]).tocsr(), copy=False)
    got = model.features(texts, words)
    _same_csr(got, want)
    logits = np.asarray(want @ model.coef_t + model.intercept)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_array_equal(model.predict_proba(texts, words), e / e.sum(axis=1, keepdims=True))
