"""Chinese full-text tokens for the embedded store: overlapping character bigrams.

Why bigrams and not jieba: a word segmenter is ~50x slower than the ingest target allows and can
split a brand name differently in a document and in a query (then the search misses). Bigrams
are what Elasticsearch's built-in `cjk` analyzer indexes too, so both backends find the same
mentions.

Index side, per run of CJK characters: every overlapping bigram, then the run's last character
as a unigram (a run of one character is just that character). ASCII/Latin letters and digits form
one lowercased token per run, as the standard tokenizer does. Full-width letters and digits are
folded first, so `ＡＢＣ１２３` matches `abc123` (the `cjk_width` filter in ES).

Query side, each whitespace-separated term becomes one FTS5 phrase of the same tokens, so a term
matches exactly where it occurs as a substring of a CJK run (`小米` never matches `小 米`).
A one-character term is a prefix query: every character of a run starts a bigram or is the
run's trailing unigram, so `X*` finds every occurrence.
"""

from __future__ import annotations

import re
from operator import add as _concat

_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (+ ext. A, compatibility)
    "\uac00-\ud7af"  # hangul
    "\U00020000-\U0002ffff"  # ext. B-F
)
RUNS = re.compile(f"([{_CJK}]+)|([a-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+)")
CJK_CHAR = re.compile(f"[{_CJK}]")


# Full-width ASCII letters and digits -> ASCII, as Elasticsearch's `cjk_width` filter does.
# (Full NFKC would also do this, but costs more than the rest of indexing put together.)
_FULLWIDTH = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}


def normalize(text: str) -> str:
    if _FULLWIDTH.search(text):
        text = text.translate(_WIDTH)
    return text.lower()


def _runs(text: str) -> list[tuple[str, str]]:
    return RUNS.findall(normalize(text))


def index_tokens(text: str) -> str:
    """Space-separated tokens for the FTS5 column (bigrams + run-final unigram + words)."""
    out: list[str] = []
    add, extend = out.append, out.extend
    for cjk, word in _runs(text):
        if cjk:
            if len(cjk) > 1:
                extend(map(_concat, cjk, cjk[1:]))  # overlapping bigrams, in C
            add(cjk[-1])
        else:
            add(word)
    return " ".join(out)


def query_terms(q: str) -> list[tuple[list[str], bool]]:
    """Each whitespace-separated term -> (tokens of its phrase, last token is a prefix)."""
    terms: list[tuple[list[str], bool]] = []
    for raw in q.split():
        runs = _runs(raw)
        if not runs:
            continue
        toks: list[str] = []
        prefix = False
        for i, (cjk, word) in enumerate(runs):
            last = i == len(runs) - 1
            if not cjk:
                toks.append(word)
            elif len(cjk) == 1:
                toks.append(cjk)
                prefix = last  # one trailing character: it starts a bigram or ends a run
            else:
                toks.extend(cjk[j:j + 2] for j in range(len(cjk) - 1))
                if not last:
                    toks.append(cjk[-1])  # the run ends here in the document too
        terms.append((toks, prefix))
    return terms


def fts_query(q: str) -> str | None:
    """An FTS5 MATCH expression (terms AND-ed), or None when `q` has no searchable characters."""
    parts = []
    for toks, prefix in query_terms(q):
        phrase = '"' + " ".join(toks) + '"'
        parts.append(phrase + (" *" if prefix else ""))
    return " AND ".join(parts) if parts else None
