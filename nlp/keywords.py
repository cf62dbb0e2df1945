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
from math import log
from pathlib import Path

STOPWORDS_FILE = Path(__file__).parent / "stopwords.txt"
_TOKEN_OK = re.compile(r"^[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z0-9+\-.]*$")
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")
_lock = threading.Lock()
_brand_terms: set[str] = set()
BLOCK_CACHE = 50_000  # jieba blocks (runs of Chinese/alphanumeric characters) whose cut is kept
_blocks: dict[str, tuple[str, ...]] = {}
_hmm: dict[str, tuple[str, ...]] = {}  # jieba's HMM cut of runs of unknown characters


def _fused_ok() -> bool:
    """Whether the installed jieba is the one `_lcut` copies (0.42.x)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jieba").startswith("0.42.")
    except PackageNotFoundError:
        return False


_FUSED_OK = _fused_ok()
_HMM_OK = False  # set by _jieba(): whether `_viterbi` fits jieba's HMM


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@lru_cache(maxsize=1)
def _jieba():
    import jieba
    import jieba.analyse

    global _HMM_OK
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    _HMM_OK = _FUSED_OK and _hmm_shape_ok()
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
        if added:
            clear_cut_cache()  # cut without the new words
    return added


def clear_cut_cache() -> None:
    """Forget the cached block cuts (benchmarks start cold; `add_terms()` clears them itself)."""
    _blocks.clear()
    _hmm.clear()


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
    cuts each text once for both. Same words as `jieba.lcut` (HMM on), through a block cache."""
    return [w for w in _lcut(_EMOTICON.sub(" ", text)) if w.strip()]


def _lcut(text: str) -> list[str]:
    """`jieba.lcut(text)` (default dictionary, HMM on), the same words, in less time: jieba 0.42's
    `Tokenizer.cut` loop with its DAG + route (`get_DAG`, `calc`) fused into one pass (`_cut_block`),
    and each block (a run of Chinese/alphanumeric characters, which jieba cuts on its own) cut once
    and kept: posts repeat phrases, and a touchpoint sentence is made of its post's blocks.
    `add_terms()` empties the cache (new words change the cuts). Another jieba than 0.42 gets
    `jieba.lcut` itself."""
    jieba, _, _ = _jieba()
    if not _FUSED_OK:
        return jieba.lcut(text)
    re_han, re_skip = jieba.re_han_default, jieba.re_skip_default
    blocks = _blocks
    out: list[str] = []
    for blk in re_han.split(text):
        if not blk:
            continue
        if re_han.match(blk):
            words = blocks.get(blk)
            if words is None:
                if len(blocks) >= BLOCK_CACHE:
                    blocks.clear()
                words = blocks[blk] = _cut_block(jieba, blk)
            out += words
        else:
            for x in re_skip.split(blk):
                if re_skip.match(x):
                    out.append(x)
                else:
                    out += x
    return out


def _cut_block(jieba, sentence: str) -> tuple[str, ...]:
    """jieba's `Tokenizer.__cut_DAG` (HMM on) for one block, exactly: the best route through the
    dictionary words (max of (log P, end) like `calc`: ties go to the longer word), found from the end
    backwards in one pass, the DAG's words enumerated on the way; runs of single characters that
    are not a dictionary word go to jieba's HMM (`finalseg.cut`), whose cuts are kept too."""
    dt = jieba.dt
    dt.check_initialized()
    freq_of = dt.FREQ.get
    logtotal = log(dt.total)
    n = len(sentence)
    best_p = [0.0] * (n + 1)
    best_end = [0] * (n + 1)
    for idx in range(n - 1, -1, -1):
        p_max = None
        end = idx
        i = idx
        frag = sentence[idx]
        while i < n:
            f = freq_of(frag)
            if f is None:
                break
            if f:
                p = log(f) - logtotal + best_p[i + 1]
                if p_max is None or p >= p_max:  # max((p, x)): equal p -> the larger x
                    p_max, end = p, i
            i += 1
            frag = sentence[idx:i + 1]
        if p_max is None:  # no dictionary word starts here: the character alone
            f = freq_of(sentence[idx])
            p_max = log(f or 1) - logtotal + best_p[idx + 1]
        best_p[idx], best_end[idx] = p_max, end
    out: list[str] = []
    buf = ""
    x = 0
    while x < n:
        y = best_end[x] + 1
        if y - x == 1:
            buf += sentence[x]
        else:
            if buf:
                out += _unknown_run(jieba, buf, freq_of)
                buf = ""
            out.append(sentence[x:y])
        x = y
    if buf:
        out += _unknown_run(jieba, buf, freq_of)
    return tuple(out)


def _unknown_run(jieba, buf: str, freq_of) -> list[str] | str:
    """`__cut_DAG`'s handling of a run of single characters: one character as is, a run that is a
    dictionary word character by character, else jieba's HMM (cached: the same runs come back)."""
    if len(buf) == 1:
        return [buf]
    if freq_of(buf):
        return buf  # its characters, one by one
    found = _hmm.get(buf)
    if found is None:
        if len(_hmm) >= BLOCK_CACHE:
            _hmm.clear()
        found = _hmm[buf] = tuple(_hmm_cut(jieba.finalseg, buf) if _HMM_OK else jieba.finalseg.cut(buf))
    return found


def _hmm_cut(fs, sentence: str) -> list[str]:
    """`jieba.finalseg.cut(sentence)`, the same words: its loop, with `_viterbi` for its `viterbi`."""
    out: list[str] = []
    for blk in fs.re_han.split(sentence):
        if fs.re_han.match(blk):
            states = _viterbi(fs, blk)
            begin = nexti = 0
            for i, state in enumerate(states):  # finalseg.__cut
                if state == "B":
                    begin = i
                elif state == "E":
                    word = blk[begin:i + 1]
                    out += word if word in fs.Force_Split_Words else [word]
                    nexti = i + 1
                elif state == "S":
                    out += blk[i] if blk[i] in fs.Force_Split_Words else [blk[i]]
                    nexti = i + 1
            if nexti < len(blk):
                word = blk[nexti:]
                out += word if word in fs.Force_Split_Words else [word]
        else:
            out += [x for x in fs.re_skip.split(blk) if x]
    return out


def _viterbi(fs, obs: str) -> list[str]:
    """`jieba.finalseg.viterbi(obs, "BMES", ...)`'s state path: the same sums in the same order and
    the same ties (its `max` over (prob, state) tuples prefers the later letter), with four floats
    and back-pointers instead of dicts and copied paths."""
    low = fs.MIN_FLOAT
    sp, tp, ep = fs.start_P, fs.trans_P, fs.emit_P
    e_b, e_m, e_e, e_s = ep["B"].get, ep["M"].get, ep["E"].get, ep["S"].get
    t_eb, t_sb, t_mm, t_bm = tp["E"]["B"], tp["S"]["B"], tp["M"]["M"], tp["B"]["M"]
    t_ss, t_es, t_be, t_me = tp["S"]["S"], tp["E"]["S"], tp["B"]["E"], tp["M"]["E"]
    c = obs[0]
    v_b, v_m, v_e, v_s = sp["B"] + e_b(c, low), sp["M"] + e_m(c, low), sp["E"] + e_e(c, low), sp["S"] + e_s(c, low)
    back = []
    for c in obs[1:]:
        em = e_b(c, low)
        p, q = v_e + t_eb + em, v_s + t_sb + em  # B <- E, S
        n_b, b_b = (q, "S") if q >= p else (p, "E")
        em = e_m(c, low)
        p, q = v_m + t_mm + em, v_b + t_bm + em  # M <- M, B
        n_m, b_m = (q, "B") if q > p else (p, "M")
        em = e_e(c, low)
        p, q = v_b + t_be + em, v_m + t_me + em  # E <- B, M
        n_e, b_e = (p, "B") if p > q else (q, "M")
        em = e_s(c, low)
        p, q = v_s + t_ss + em, v_e + t_es + em  # S <- S, E
        n_s, b_s = (q, "E") if q > p else (p, "S")
        v_b, v_m, v_e, v_s = n_b, n_m, n_e, n_s
        back.append({"B": b_b, "M": b_m, "E": b_e, "S": b_s})
    state = "E" if v_e > v_s else "S"
    path = [state]
    for step in reversed(back):
        state = step[state]
        path.append(state)
    path.reverse()
    return path


def _hmm_shape_ok() -> bool:
    """Whether jieba's HMM is the 4-state B/M/E/S model `_viterbi` unrolls."""
    try:
        import jieba.finalseg as fs

        return fs.PrevStatus == {"B": "ES", "M": "MB", "S": "SE", "E": "BM"} and all(
            set(fs.trans_P[a]) == set(b) for a, b in {"B": "EM", "E": "BS", "M": "EM", "S": "BS"}.items())
    except (ImportError, AttributeError, KeyError, TypeError):
        return False


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
