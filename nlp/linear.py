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
import re
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np

NGRAMS = (1, 3)


class CharNgramLinear:
    def __init__(self, vocabulary: list[str] | None, idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], ngram_range: tuple[int, int] = NGRAMS, hash_bits: int | None = None,
                 word_vocabulary: list[str] | None = None, word_idf: np.ndarray | None = None,
                 word_ngrams: int = 2):
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
            self._counts = CharNgramCounts(vocabulary, self.ngram_range)
            if not self._counts.collision_free:  # two vocabulary entries share a hash: sklearn's loop
                from sklearn.feature_extraction.text import CountVectorizer

                self._counts = CountVectorizer(analyzer="char", ngram_range=self.ngram_range, lowercase=True,
                                               vocabulary={t: i for i, t in enumerate(vocabulary)},
                                               dtype=np.float32)
        self.word_vocabulary = word_vocabulary
        self.word_ngrams = word_ngrams
        self.word_idf = None if word_idf is None else word_idf.astype(np.float32)
        self._word_counts = None
        if word_vocabulary is not None:
            self._word_counts = WordNgramCounts(word_vocabulary, word_ngrams)

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
            words: Sequence[list[str]] | None = None, nb: str | None = None,
            nb_power: float = 1.0) -> CharNgramLinear:
        """Fit on normalised texts. `word_ngrams` > 0 adds jieba word 1..N-grams (`words`: the texts'
        words when already cut, else they are cut here).

        `nb="ovr"`: NB-SVM-style features (Wang & Manning 2012): each TF-IDF column is scaled by its
        naive-Bayes log-count ratio, the largest |log ratio| of one class against the rest (one vector
        for all three classes, so neutral-bearing n-grams keep their weight), before the L2
        normalisation. The scale is folded into the stored `idf`: same format, same inference path.
        `nb="pn"`: the positive-vs-negative ratio only. `nb_power`: the scale is |ratio| ** nb_power
        (0.5 dampens it)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import normalize

        if nb not in (None, "ovr", "pn") or (nb and hash_bits):
            raise ValueError(f"nb must be None, 'ovr' or 'pn' (and needs a vocabulary, not hash_bits): {nb!r}")
        y = np.asarray([str(v) for v in labels])

        def nb_scaled(x, idf):  # -> (x with its columns scaled, idf with the same scale folded in)
            if not nb:
                return x, idf
            seen = x.copy()
            seen.data[:] = 1.0  # document frequencies per class (binarised counts), +1 smoothing
            pairs = ([("positive", "negative")] if nb == "pn" else
                     [(k, None) for k in sorted(set(y.tolist()))])
            ratios = []
            for k, other in pairs:
                p = 1.0 + np.asarray(seen[y == k].sum(axis=0)).ravel()
                q = 1.0 + np.asarray(seen[(y != k) if other is None else (y == other)].sum(axis=0)).ravel()
                ratios.append(np.abs(np.log((p / p.sum()) / (q / q.sum()))))
            r = (np.max(ratios, axis=0) ** nb_power).astype(np.float32)
            return normalize(x.multiply(r).tocsr(), copy=False), (idf * r).astype(np.float32)

        if word_ngrams and not hash_bits:
            import scipy.sparse as sp

            chars = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, sublinear_tf=True, min_df=min_df,
                                    max_features=max_features, dtype=np.float32)
            wvec = TfidfVectorizer(analyzer=_word_grams(word_ngrams), sublinear_tf=True, min_df=min_df,
                                   max_features=word_features, dtype=np.float32)
            words = list(words) if words is not None else [feature_words(t) for t in texts]
            xc, idf = nb_scaled(chars.fit_transform(texts), chars.idf_)
            xw, widf = nb_scaled(wvec.fit_transform(words), wvec.idf_)
            x = normalize(sp.hstack([xc, xw]).tocsr(), copy=False)
            clf = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, list(labels))
            inv = [t for t, _ in sorted(chars.vocabulary_.items(), key=lambda kv: kv[1])]
            winv = [t for t, _ in sorted(wvec.vocabulary_.items(), key=lambda kv: kv[1])]
            return cls(inv, idf, clf.coef_, clf.intercept_, [str(k) for k in clf.classes_], ngram_range,
                       word_vocabulary=winv, word_idf=widf, word_ngrams=word_ngrams)
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
        x, idf = nb_scaled(vec.fit_transform(texts), vec.idf_)
        clf = LogisticRegression(C=c, max_iter=300, random_state=seed)
        clf.fit(x, list(labels))
        inv = sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])
        return cls([t for t, _ in inv], idf, clf.coef_, clf.intercept_, [str(c) for c in clf.classes_],
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
        return self.predict_proba_and_features(texts, words)[0]

    def predict_proba_and_features(self, texts: Sequence[str], words: Sequence[list[str]] | None = None):
        """(`predict_proba`, the feature rows it was computed from): heads over the same features
        (`nlp.emotion`) reuse the rows instead of computing them again."""
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32), None
        x = self.features(texts, words)
        logits = x @ self.coef_t + self.intercept
        logits = np.asarray(logits) - np.asarray(logits).max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True), x

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


# -- featurisation without sklearn's per-n-gram Python loop ----------------------------------------
# `CountVectorizer.transform` walks every n-gram of every text in Python (~0.2 ms per Weibo post
# against the bundled 500k-term vocabulary). The classes below build the same count matrices.

_WHITE_SPACES = re.compile(r"\s\s+")  # sklearn's `_VectorizerMixin._white_spaces`
_SEED = np.uint64(0x9E3779B97F4A7C15)
_MUL = np.uint64(0xBF58476D1CE4E5B9)
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_LEN = 0x94D049BB133111EB


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _step(state: np.ndarray, chars: np.ndarray) -> np.ndarray:
    """One character into the running hash of an n-gram (multiply-xorshift: a bijection per step)."""
    state = (state ^ chars) * _MUL
    return state ^ (state >> np.uint64(31))


def _final(state: np.ndarray, n: int) -> np.ndarray:
    """The n-gram's 64-bit hash: its length mixed in, then murmur3's fmix64 finaliser."""
    h = state + np.uint64(_LEN * n % 2**64)
    h = (h ^ (h >> np.uint64(33))) * _FMIX1
    h = (h ^ (h >> np.uint64(33))) * _FMIX2
    return h ^ (h >> np.uint64(33))


def _count_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_features: int):
    """CSR of how often each (row, col) pair occurs: counts in float32, indices sorted within rows
    (what `CountVectorizer.transform(...)` returns, int32 indices included)."""
    import scipy.sparse as sp

    width = max(n_features, 1)
    uniq, counts = np.unique(rows * width + cols, return_counts=True)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(uniq // width, minlength=n_rows), out=indptr[1:])
    index_dtype = np.int32 if len(uniq) <= np.iinfo(np.int32).max else np.int64
    return sp.csr_matrix((counts.astype(np.float32), (uniq % width).astype(index_dtype), indptr.astype(index_dtype)),
                         shape=(n_rows, n_features))


class _HashIndex:
    """Vocabulary terms' 64-bit hashes -> their columns. Sorted, with a bucket index over the top
    bits (~2 buckets per term): a lookup reads two places in memory instead of `np.searchsorted`'s
    ~20 (cache misses on a table of megabytes)."""

    def __init__(self, hashes: np.ndarray, cols: np.ndarray):
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.cols = cols[order].astype(np.int64)
        self.collision_free = bool((self.hashes[1:] != self.hashes[:-1]).all())
        bits = max(1, int(len(self.hashes)).bit_length() + 1)
        self.shift = np.uint64(64 - bits)
        edges = np.arange(2 ** bits + 1, dtype=np.uint64) << self.shift  # the last one wraps to 0
        self.starts = np.searchsorted(self.hashes, edges).astype(np.int64)
        self.starts[-1] = len(self.hashes)

    def lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into h that are vocabulary terms, their columns)."""
        bucket = (h >> self.shift).astype(np.int64)
        lo, hi = self.starts[bucket], self.starts[bucket + 1]
        todo = np.flatnonzero(hi > lo)
        found, cols = [], []
        k = 0
        while len(todo):
            pos = lo[todo] + k
            same = self.hashes[pos] == h[todo]
            found.append(todo[same])
            cols.append(self.cols[pos[same]])
            todo = todo[~same]
            todo = todo[lo[todo] + k + 1 < hi[todo]]
            k += 1
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(found), np.concatenate(cols)

    def count(self, units: np.ndarray, lens: np.ndarray, ngram_range: tuple[int, int], n_features: int):
        """The count matrix of the n-grams of several documents, each a run of `lens[d]` units
        (code points, or word hashes) in `units`: an n-gram's hash is `_final` of the `_step` chain
        over its units, as the vocabulary's were built."""
        total = len(units)
        rows = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
        room = np.repeat(np.cumsum(lens), lens) - np.arange(total)  # units left in its document, from here
        lo, hi = ngram_range
        found_rows, found_cols = [], []
        state = np.full(total, _SEED, dtype=np.uint64)
        for n in range(1, hi + 1):
            if total - n + 1 <= 0:
                break
            state = _step(state[: total - n + 1], units[n - 1:])  # state[i]: the chain over units[i:i+n]
            if n < lo or len(self.hashes) == 0:
                continue
            starts = np.flatnonzero(room[: total - n + 1] >= n)  # n-grams inside one document only
            hit, cols = self.lookup(_final(state[starts], n))
            found_rows.append(rows[starts[hit]])
            found_cols.append(cols)
        if not found_rows:
            found_rows = found_cols = [np.zeros(0, dtype=np.int64)]
        return _count_matrix(np.concatenate(found_rows), np.concatenate(found_cols), len(lens), n_features)


def _chain_hashes(units: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the n-grams units[s:s+n] for s in starts (the vocabulary side of `_HashIndex.count`)."""
    state = np.full(len(starts), _SEED, dtype=np.uint64)
    for k in range(n):
        state = _step(state, units[starts + k])
    return _final(state, n)


class CharNgramCounts:
    """`CountVectorizer(analyzer="char", ngram_range=..., lowercase=True, vocabulary=...).transform()`
    for a whole batch in numpy: the same matrix (values, indices, their order and dtypes).

    Texts get sklearn's preprocessing (`str.lower()`, runs of whitespace to one space), then every
    n-gram of the batch is hashed to 64 bits at once over the texts' code points and looked up in
    the hashes of the vocabulary, built here for whatever vocabulary a fit produced. Two vocabulary
    terms with one hash are detected here (`collision_free`; the model then uses sklearn's loop).
    The only way the result can differ from sklearn's: an n-gram outside the vocabulary whose hash
    equals a vocabulary term's, probability ~ vocabulary size / 2**64 per n-gram (~3e-14 for the
    bundled 500k terms: about one miscounted n-gram in 10**11 Weibo posts).
    """

    def __init__(self, vocabulary: Sequence[str], ngram_range: tuple[int, int]):
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.n_features = len(vocabulary)
        lengths = np.fromiter(map(len, vocabulary), dtype=np.int64, count=len(vocabulary))
        cps = _codepoints("".join(vocabulary))
        starts = np.zeros(len(vocabulary), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        cols, hashes = [], []
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):  # other lengths never match
            sel = np.flatnonzero(lengths == n)
            cols.append(sel)
            hashes.append(_chain_hashes(cps, starts[sel], n))
        self._index = _HashIndex(np.concatenate(hashes), np.concatenate(cols))
        self.collision_free = self._index.collision_free

    def transform(self, texts: Sequence[str]):
        docs = [_WHITE_SPACES.sub(" ", t.lower()) for t in texts]
        lens = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        return self._index.count(_codepoints("".join(docs)), lens, self.ngram_range, self.n_features)


class WordNgramCounts:
    """`CountVectorizer(analyzer=_word_grams(n), vocabulary=...).transform()` on lists of words: the
    same matrix. Each word is hashed once (Python's own 64-bit string hash), its k-grams by
    chaining those hashes in numpy (`_HashIndex.count`). A vocabulary term "a b" is entered for
    every way words can join into it (the bigram a, b; also the single word "a b" should a caller's
    words hold spaces). A word's unit is its hash and length (`_word_units`). Python salts string hashes per process, so the index is built in the
    process that uses it (again after unpickling). With a collision among the vocabulary's hashes
    (odds ~1e-8 for 200k terms), or a vocabulary term with 8+ spaces, the plain dict loop runs
    instead; an unseen n-gram hits a term's hash with probability ~ vocabulary size / 2**64."""

    def __init__(self, vocabulary: Sequence[str], n: int):
        self.vocabulary = {t: i for i, t in enumerate(vocabulary)}
        self.n = n
        self.n_features = len(vocabulary)
        self._index: _HashIndex | None = None
        self._salt: int | None = None
        self._build()

    def __getstate__(self):
        return {"vocabulary": self.vocabulary, "n": self.n, "n_features": self.n_features}

    def __setstate__(self, state):
        self.__dict__.update(state, _index=None, _salt=None)
        self._build()

    def _build(self) -> None:
        self._salt = hash("opmon word n-grams")
        hashes: list[int] = []
        lengths: list[int] = []
        counts: list[int] = []  # per (term, way of joining): how many words
        cols: list[int] = []
        for term, col in self.vocabulary.items():
            parts = term.split(" ")
            if len(parts) > 8:
                self._index = None  # too many ways to join it: the loop
                return
            for groups in _compositions(len(parts), self.n):
                words = [" ".join(parts[a:b]) for a, b in groups]
                hashes += map(hash, words)
                lengths += map(len, words)
                counts.append(len(groups))
                cols.append(col)
        units = _word_units(np.array(hashes, dtype=np.int64), np.array(lengths, dtype=np.int64))
        counts_a = np.asarray(counts, dtype=np.int64)
        starts = np.zeros(len(counts_a), dtype=np.int64)
        np.cumsum(counts_a[:-1], out=starts[1:])
        all_cols = np.asarray(cols, dtype=np.int64)
        parts_h, parts_c = [], []
        for k in range(1, self.n + 1):
            sel = np.flatnonzero(counts_a == k)
            parts_h.append(_chain_hashes(units, starts[sel], k))
            parts_c.append(all_cols[sel])
        index = _HashIndex(np.concatenate(parts_h), np.concatenate(parts_c))
        self._index = index if index.collision_free else None

    def transform(self, docs: Sequence[Sequence[str]]):
        if self._index is not None and self._salt != hash("opmon word n-grams"):
            self._build()  # another process's string hashes
        if self._index is None:
            return self._transform_loop(docs)
        lens = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        total = int(lens.sum())
        hashes = np.fromiter(map(hash, chain.from_iterable(docs)), dtype=np.int64, count=total)
        lengths = np.fromiter(map(len, chain.from_iterable(docs)), dtype=np.int64, count=total)
        return self._index.count(_word_units(hashes, lengths), lens, (1, self.n), self.n_features)

    def _transform_loop(self, docs: Sequence[Sequence[str]]):
        get = self.vocabulary.get
        cols: list[int] = []
        sizes: list[int] = []
        for words in docs:
            before = len(cols)
            cols += [j for j in map(get, words) if j is not None]
            for k in range(2, self.n + 1):
                grams = map(" ".join, zip(*(words[i:] for i in range(k)), strict=False))
                cols += [j for j in map(get, grams) if j is not None]
            sizes.append(len(cols) - before)
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
        return _count_matrix(rows, np.asarray(cols, dtype=np.int64), len(docs), self.n_features)


def _word_units(hashes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A word's unit for the n-gram chain: Python's string hash with the length mixed in. Python
    hashes a string's stored bytes, so "扮" (UCS-2 bytes 6E 62) and "nb" (Latin-1 6E 62) share one
    hash; same bytes and same length means the same string."""
    return hashes.view(np.uint64) ^ (lengths.astype(np.uint64) * _FMIX1)


def _compositions(parts: int, most: int) -> list[list[tuple[int, int]]]:
    """The ways to cut `parts` consecutive pieces into 1..`most` groups: [(start, end), ...] each."""
    from itertools import combinations

    out = []
    for k in range(1, min(parts, most) + 1):
        for cuts in combinations(range(1, parts), k - 1):
            bounds = (0, *cuts, parts)
            out.append([(bounds[i], bounds[i + 1]) for i in range(k)])
    return out
