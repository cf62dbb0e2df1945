"""Keywords (jieba TF-IDF / TextRank), the brand user dictionary, and emerging terms.

Brand names are added to jieba's dictionary (`add_terms`) so "蔚来ES8" stays one word instead
of being cut into pieces, and they are never dropped as stop words.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

STOPWORDS_FILE = Path(__file__).parent / "stopwords.txt"
_TOKEN_OK = re.compile(r"^[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z0-9+\-.]*$")
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")
_lock = threading.Lock()
_brand_terms: set[str] = set()


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@lru_cache(maxsize=1)
def _jieba():
    import jieba
    import jieba.analyse

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    tfidf = jieba.analyse.TFIDF()
    tfidf.stop_words = set(tfidf.stop_words) | set(stop_words())
    textrank = jieba.analyse.TextRank()
    textrank.stop_words = set(textrank.stop_words) | set(stop_words())
    return jieba, tfidf, textrank


def add_terms(names: Iterable[str]) -> int:
    """Add brand/product names to jieba's user dictionary; returns how many were new."""
    jieba, tfidf, textrank = _jieba()
    added = 0
    with _lock:
        for name in names:
            name = (name or "").strip()
            if not name or name in _brand_terms:
                continue
            # A high frequency makes jieba keep the name whole even where a split looks likelier.
            jieba.add_word(name, freq=200_000, tag="nz")
            if " " not in name:
                jieba.add_word(name.lower(), freq=200_000, tag="nz")
            _brand_terms.add(name)
            tfidf.stop_words.discard(name)
            textrank.stop_words.discard(name)
            added += 1
    return added


def brand_terms() -> frozenset[str]:
    return frozenset(_brand_terms)


def tokens(text: str) -> list[str]:
    """Content words of a normalised text: no stop words, punctuation, numbers or single characters
    (brand names are kept whatever their length)."""
    jieba, _, _ = _jieba()
    stops = stop_words()
    out = []
    for word in jieba.lcut(_EMOTICON.sub(" ", text)):
        w = word.strip().lower()
        if w in _brand_terms or word.strip() in _brand_terms:
            out.append(word.strip())
        elif len(w) >= 2 and w not in stops and _TOKEN_OK.match(w) and not w.isdigit():
            out.append(w)
    return out


def feature_words(text: str) -> list[str]:
    """jieba's words of a normalised text, emoticon alt text cut out: the cut that keyword extraction
    (TF-IDF) makes, and the word features of the bundled model's linear half, so `Analyzer.analyze()`
    cuts each text once for both."""
    jieba, _, _ = _jieba()
    return [w for w in jieba.lcut(_EMOTICON.sub(" ", text)) if w.strip()]


def _tfidf_tags(words: Sequence[str], top: int) -> list[str]:
    """jieba.analyse.TFIDF.extract_tags over words already cut (same filter, weights and order)."""
    _, tfidf, _ = _jieba()
    freq: dict[str, float] = {}
    for w in words:
        if len(w.strip()) < 2 or w.lower() in tfidf.stop_words:
            continue
        freq[w] = freq.get(w, 0.0) + 1.0
    total = sum(freq.values())
    for k in freq:
        freq[k] *= tfidf.idf_freq.get(k, tfidf.median_idf) / total
    return sorted(freq, key=freq.__getitem__, reverse=True)[:top]


def extract_keywords(text: str, top: int = 8, method: str = "tfidf", words: Sequence[str] | None = None) -> list[str]:
    """Top terms of one text (jieba TF-IDF by default, TextRank for long texts if asked).

    `words`: the text's `feature_words()` when the caller already cut it (TF-IDF only)."""
    if not text:
        return []
    _, tfidf, textrank = _jieba()
    clean = _EMOTICON.sub(" ", text)
    engine = textrank if method == "textrank" else tfidf
    allow = ("n", "nr", "ns", "nt", "nz", "vn", "v", "a", "an", "eng") if method == "textrank" else ()
    if allow:
        words = engine.extract_tags(clean, topK=top * 2, allowPOS=allow)
    else:
        words = _tfidf_tags(feature_words(text) if words is None else words, top * 2)
    if method == "textrank" and not words:  # TextRank needs co-occurrence; short texts fall back
        words = tfidf.extract_tags(clean, topK=top * 2)
    stops = stop_words()
    brands = [b for b in _brand_terms if b in text]
    keep = brands + [w for w in words if (w in _brand_terms or (len(w) >= 2 and w.lower() not in stops
                                                                and not w.isdigit()))]
    seen: list[str] = []
    for w in keep:
        if w not in seen:
            seen.append(w)
    return seen[:top]


def emerging_terms(window_texts: Sequence[str], baseline_texts: Sequence[str], top: int = 10,
                   min_docs: int = 2) -> list[tuple[str, float]]:
    """Terms whose share of documents rose most from the baseline window to this window.

    Share = fraction of texts containing the term (so one spammer repeating a word counts once).
    The score is the rise in share (window share - smoothed baseline share), for terms in at least
    `min_docs` window texts (1 when the window is tiny); ties break on the larger ratio.
    Used by alert explanations: "新增高频词: 漏油 (+23%)".
    """
    from nlp.normalise import normalise

    if not window_texts:
        return []
    window = Counter(t for text in window_texts for t in set(tokens(normalise(text))))
    base = Counter(t for text in baseline_texts for t in set(tokens(normalise(text))))
    n_w, n_b = len(window_texts), max(len(baseline_texts), 1)
    need = min(min_docs, max(1, n_w // 5))
    scored = []
    for term, count in window.items():
        if count < need:
            continue
        share_w = count / n_w
        # Smoothed, so a term unseen in the baseline is new but not infinitely so.
        share_b = (base.get(term, 0) + 0.5) / (n_b + 1) if baseline_texts else 0.0
        rise = share_w - share_b
        if rise > 0:
            scored.append((term, round(rise, 4), math.log(share_w / max(share_b, 1e-9))))
    scored.sort(key=lambda x: (-x[1], -x[2], x[0]))
    return [(term, rise) for term, rise, _ in scored[:top]]
