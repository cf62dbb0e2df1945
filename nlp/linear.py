"""Character n-gram (+ optional jieba word uni/bigram) TF-IDF + logistic regression, stored without pickle.

Used twice: as the classic baseline the transformer is measured against, and as the linear half of
the bundled ensemble. The weights live in `linear.safetensors` (coef, idf in float16; intercept) and
`linear.json` (vocabularies, classes), so loading a model directory never unpickles code.

With `word_ngrams` the features are two L2-normalised TF-IDF blocks side by side (character
n-grams, and uni/bigrams of the jieba words that `nlp.keywords.feature_words()` cuts), the whole
row L2-normalised again. Callers that already cut the words (`Analyzer.analyze()`, which needs them
for keywords too) pass them in; otherwise they are cut here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

NGRAMS = (1, 3)


class CharNgramLinear:
    def __init__(self, vocabulary: list[str] | None, idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], ngram_range: tuple[int, int] = NGRAMS, hash_bits: int | None = None,
                 word_vocabulary: list[str] | None = None, word_idf: np.ndarray | None = None,
                 word_ngrams: int = 2):
        from sklearn.feature_extraction.text import CountVectorizer

        self.vocabulary = vocabulary
        self.hash_bits = hash_bits
        self.idf = idf.astype(np.float32)
        self.coef_t = np.ascontiguousarray(coef.astype(np.float32).T)  # (features, classes)
        self.intercept = intercept.astype(np.float32)
        self.classes = list(classes)
        self.ngram_range = tuple(ngram_range)
        if vocabulary is None:  # hashed n-grams: every n-gram counts, nothing to store but the weights
            self._counts = _hasher(self.ngram_range, hash_bits or 20)
        else:
            self._counts = CountVectorizer(analyzer="char", ngram_range=self.ngram_range, lowercase=True,
                                           vocabulary={t: i for i, t in enumerate(vocabulary)}, dtype=np.float32)
        self.word_vocabulary = word_vocabulary
        self.word_ngrams = word_ngrams
        self.word_idf = None if word_idf is None else word_idf.astype(np.float32)
        self._word_counts = None
        if word_vocabulary is not None:
            self._word_counts = CountVectorizer(analyzer=_word_grams(word_ngrams), dtype=np.float32,
                                                vocabulary={t: i for i, t in enumerate(word_vocabulary)})

    @property
    def n_features(self) -> int:
        return len(self.idf) + (len(self.word_idf) if self.word_idf is not None else 0)

    @property
    def uses_words(self) -> bool:
        return self._word_counts is not None

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, max_features: int = 300_000, c: float = 4.0,
            min_df: int = 2, seed: int = 13, ngram_range: tuple[int, int] = NGRAMS,
            hash_bits: int | None = None, word_ngrams: int = 0, word_features: int = 200_000,
            words: Sequence[list[str]] | None = None) -> CharNgramLinear:
        """Fit on normalised texts. `word_ngrams` > 0 adds jieba word 1..N-grams (`words`: the texts'
        words when already cut, else they are cut here)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import normalize

        if word_ngrams and not hash_bits:
            import scipy.sparse as sp

            chars = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, sublinear_tf=True, min_df=min_df,
                                    max_features=max_features, dtype=np.float32)
            wvec = TfidfVectorizer(analyzer=_word_grams(word_ngrams), sublinear_tf=True, min_df=min_df,
                                   max_features=word_features, dtype=np.float32)
            words = list(words) if words is not None else [feature_words(t) for t in texts]
            x = normalize(sp.hstack([chars.fit_transform(texts), wvec.fit_transform(words)]).tocsr(), copy=False)
            clf = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, list(labels))
            inv = [t for t, _ in sorted(chars.vocabulary_.items(), key=lambda kv: kv[1])]
            winv = [t for t, _ in sorted(wvec.vocabulary_.items(), key=lambda kv: kv[1])]
            return cls(inv, chars.idf_, clf.coef_, clf.intercept_, [str(k) for k in clf.classes_], ngram_range,
                       word_vocabulary=winv, word_idf=wvec.idf_, word_ngrams=word_ngrams)
        if hash_bits:
            counts = _hasher(ngram_range, hash_bits).transform(texts)
            df = np.bincount(counts.indices, minlength=counts.shape[1])
            idf = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)  # TfidfVectorizer's smooth idf
            idf[df < min_df] = 0.0  # as min_df: rare n-grams carry no weight
            counts.data = 1.0 + np.log(counts.data)
            x = normalize(counts.multiply(idf).tocsr(), copy=False)
            clf = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, list(labels))
            return cls(None, idf, clf.coef_, clf.intercept_, [str(k) for k in clf.classes_], ngram_range, hash_bits)

        vec = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, sublinear_tf=True, min_df=min_df,
                              max_features=max_features, dtype=np.float32)
        x = vec.fit_transform(texts)
        clf = LogisticRegression(C=c, max_iter=300, random_state=seed)
        clf.fit(x, list(labels))
        inv = sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])
        return cls([t for t, _ in inv], vec.idf_, clf.coef_, clf.intercept_, [str(c) for c in clf.classes_],
                   ngram_range)

    def features(self, texts: Sequence[str], words: Sequence[list[str]] | None = None):
        from sklearn.preprocessing import normalize

        x = _tfidf(self._counts.transform(texts), self.idf)
        if self._word_counts is None:
            return x
        import scipy.sparse as sp

        words = list(words) if words is not None else [feature_words(t) for t in texts]
        w = _tfidf(self._word_counts.transform(words), self.word_idf)
        return normalize(sp.hstack([x, w]).tocsr(), copy=False)

    def predict_proba(self, texts: Sequence[str], words: Sequence[list[str]] | None = None) -> np.ndarray:
        """(n, classes) probabilities in the order of `self.classes`. `words`: the texts' jieba words
        (`nlp.keywords.feature_words`), when the caller already has them."""
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        logits = self.features(texts, words) @ self.coef_t + self.intercept
        logits = np.asarray(logits) - np.asarray(logits).max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        from safetensors.numpy import save_file

        tensors = {"idf": self.idf.astype(np.float16), "coef": np.ascontiguousarray(self.coef_t.T.astype(np.float16)),
                   "intercept": self.intercept.astype(np.float32)}
        if self.word_idf is not None:
            tensors["word_idf"] = self.word_idf.astype(np.float16)
        save_file(tensors, str(directory / "linear.safetensors"))
        meta = {"kind": "char_ngram_tfidf_logreg", "ngram_range": list(self.ngram_range), "sublinear_tf": True,
                "classes": self.classes, "hash_bits": self.hash_bits, "vocabulary": self.vocabulary}
        if self.word_vocabulary is not None:
            meta.update(words="nlp.keywords.feature_words (jieba, HMM, emoticons cut out)",
                        word_ngrams=self.word_ngrams, word_vocabulary=self.word_vocabulary)
        (directory / "linear.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> CharNgramLinear:
        meta = json.loads((directory / "linear.json").read_text(encoding="utf-8"))
        from safetensors.numpy import load_file

        z = load_file(str(directory / "linear.safetensors"))
        return cls(meta["vocabulary"], z["idf"].astype(np.float32), z["coef"].astype(np.float32),
                   z["intercept"], meta["classes"], tuple(meta.get("ngram_range", NGRAMS)), meta.get("hash_bits"),
                   word_vocabulary=meta.get("word_vocabulary"), word_idf=z.get("word_idf"),
                   word_ngrams=int(meta.get("word_ngrams", 2)))


def feature_words(text: str) -> list[str]:
    from nlp.keywords import feature_words as cut

    return cut(text)


def _tfidf(counts, idf: np.ndarray):
    """Sublinear tf x idf, rows L2-normalised: what TfidfVectorizer(sublinear_tf=True) computes."""
    from sklearn.preprocessing import normalize

    counts.data = 1.0 + np.log(counts.data)
    return normalize(counts.multiply(idf).tocsr(), copy=False)


class _word_grams:  # noqa: N801 - a picklable callable standing in for a vectorizer's analyzer
    """Word 1..n-grams of a list of words (joined by a space)."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, words: list[str]) -> list[str]:
        out = list(words)
        for k in range(2, self.n + 1):
            out += [" ".join(words[i:i + k]) for i in range(len(words) - k + 1)]
        return out


def _hasher(ngram_range: tuple[int, int], bits: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char", ngram_range=tuple(ngram_range), lowercase=True, n_features=2 ** bits,
                             alternate_sign=False, norm=None, dtype=np.float32)
