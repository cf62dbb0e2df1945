"""Character 1-3-gram TF-IDF + logistic regression, stored without pickle.

Used twice: as the classic baseline the transformer is measured against, and as the linear half of
the bundled ensemble. The weights live in `linear.safetensors` (coef, idf in float16; intercept) and
`linear.json` (vocabulary, classes), so loading a model directory never unpickles code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

NGRAMS = (1, 3)


class CharNgramLinear:
    def __init__(self, vocabulary: list[str] | None, idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], ngram_range: tuple[int, int] = NGRAMS, hash_bits: int | None = None):
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

    @property
    def n_features(self) -> int:
        return len(self.idf)

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, max_features: int = 300_000, c: float = 4.0,
            min_df: int = 2, seed: int = 13, ngram_range: tuple[int, int] = NGRAMS,
            hash_bits: int | None = None) -> CharNgramLinear:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import normalize

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

    def features(self, texts: Sequence[str]):
        from sklearn.preprocessing import normalize

        x = self._counts.transform(texts)
        x.data = 1.0 + np.log(x.data)  # sublinear tf, as TfidfVectorizer(sublinear_tf=True)
        x = x.multiply(self.idf).tocsr()
        return normalize(x, copy=False)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, classes) probabilities in the order of `self.classes`."""
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        logits = self.features(texts) @ self.coef_t + self.intercept
        logits = np.asarray(logits) - np.asarray(logits).max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        from safetensors.numpy import save_file

        save_file({"idf": self.idf.astype(np.float16), "coef": np.ascontiguousarray(self.coef_t.T.astype(np.float16)),
                   "intercept": self.intercept.astype(np.float32)}, str(directory / "linear.safetensors"))
        meta = {"kind": "char_ngram_tfidf_logreg", "ngram_range": list(self.ngram_range), "sublinear_tf": True,
                "classes": self.classes, "hash_bits": self.hash_bits, "vocabulary": self.vocabulary}
        (directory / "linear.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> CharNgramLinear:
        meta = json.loads((directory / "linear.json").read_text(encoding="utf-8"))
        from safetensors.numpy import load_file

        z = load_file(str(directory / "linear.safetensors"))
        return cls(meta["vocabulary"], z["idf"].astype(np.float32), z["coef"].astype(np.float32),
                   z["intercept"], meta["classes"], tuple(meta.get("ngram_range", NGRAMS)), meta.get("hash_bits"))


def _hasher(ngram_range: tuple[int, int], bits: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char", ngram_range=tuple(ngram_range), lowercase=True, n_features=2 ** bits,
                             alternate_sign=False, norm=None, dtype=np.float32)
