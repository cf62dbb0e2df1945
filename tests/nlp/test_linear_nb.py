"""NB-SVM-style scaling of the linear half (`CharNgramLinear.fit(nb=...)`): the scale folds into the
stored idf, so the saved format and the inference path are the plain TF-IDF ones."""

import numpy as np
import pytest
import scipy.sparse as sp
from nlp_toydata import toy_rows
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from nlp.linear import CharNgramLinear, _word_grams


def _ovr_ratio(x, labels):
    seen = (x > 0).astype(np.float64)
    y = np.asarray(labels)
    out = []
    for k in sorted(set(labels)):
        p = 1 + np.asarray(seen[y == k].sum(axis=0)).ravel()
        q = 1 + np.asarray(seen[y != k].sum(axis=0)).ravel()
        out.append(np.abs(np.log((p / p.sum()) / (q / q.sum()))))
    return np.max(out, axis=0)


def test_nb_scale_is_folded_into_idf_and_reproduces_the_scaled_features(tmp_path):
    texts, labels = toy_rows()
    words = [list(t) for t in texts]  # any word lists will do; jieba is not the point here
    model = CharNgramLinear.fit(texts, labels, min_df=1, ngram_range=(1, 2), word_ngrams=2, words=words, nb="ovr")
    plain = CharNgramLinear.fit(texts, labels, min_df=1, ngram_range=(1, 2), word_ngrams=2, words=words)
    assert model.vocabulary == plain.vocabulary and model.word_vocabulary == plain.word_vocabulary

    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                            vocabulary=model.vocabulary, dtype=np.float32)
    wvec = TfidfVectorizer(analyzer=_word_grams(2), sublinear_tf=True, min_df=1,
                           vocabulary=model.word_vocabulary, dtype=np.float32)
    xc, xw = chars.fit_transform(texts), wvec.fit_transform(words)
    rc, rw = _ovr_ratio(xc, labels), _ovr_ratio(xw, labels)
    np.testing.assert_allclose(model.idf, plain.idf * rc, rtol=1e-5)
    np.testing.assert_allclose(model.word_idf, plain.word_idf * rw, rtol=1e-5)
    # a character seen only in positive texts outweighs one spread evenly over the three classes
    assert model.idf[model.vocabulary.index("喜")] > model.idf[model.vocabulary.index("，")]

    expected = normalize(sp.hstack([normalize(xc.multiply(rc)), normalize(xw.multiply(rw))]).tocsr())
    got = model.features(texts, words)
    np.testing.assert_allclose(got.toarray(), expected.toarray(), atol=1e-5)

    probs = model.predict_proba(["质量很好，很喜欢", "太差了，垃圾"], [list("质量很好，很喜欢"), list("太差了，垃圾")])
    assert [model.classes[i] for i in probs.argmax(axis=1)] == ["positive", "negative"]
    model.save(tmp_path / "lin")
    again = CharNgramLinear.load(tmp_path / "lin")
    np.testing.assert_allclose(again.predict_proba(texts[:4], words[:4]), model.predict_proba(texts[:4], words[:4]),
                               atol=3e-3)  # float16 weights


def test_nb_pn_uses_the_positive_negative_ratio_and_bad_modes_are_refused():
    texts, labels = toy_rows()
    model = CharNgramLinear.fit(texts, labels, min_df=1, ngram_range=(1, 1), nb="pn")
    plain = CharNgramLinear.fit(texts, labels, min_df=1, ngram_range=(1, 1))
    i = model.vocabulary.index("期")  # only in neutral texts: no positive-vs-negative evidence
    assert model.idf[i] < 0.05 * plain.idf[i]
    half = CharNgramLinear.fit(texts, labels, min_df=1, ngram_range=(1, 1), nb="pn", nb_power=0.5)
    np.testing.assert_allclose(half.idf, plain.idf * np.sqrt(model.idf / plain.idf), rtol=1e-4)
    with pytest.raises(ValueError):
        CharNgramLinear.fit(texts, labels, min_df=1, nb="bayes")
    with pytest.raises(ValueError):
        CharNgramLinear.fit(texts, labels, min_df=1, nb="ovr", hash_bits=12)
