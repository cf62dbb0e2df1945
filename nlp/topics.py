"""Topic discovery over a set of mentions (a time window, a brand).

Default: jieba tokens -> TF-IDF -> NMF; each mention joins its strongest component. With an
embedding function (`TextEmbedder` over any local Hugging Face encoder), mentions are clustered
with k-means on their embeddings instead. Either way a topic is described by c-TF-IDF terms (the
words frequent in this cluster and rare in the others), its size, its sentiment mix and the
mentions that represent it best.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from core.mention import Label, Mention


class Topic(BaseModel):
    id: str = Field(description="'t-' + a hash of its top five terms: stable while they stay the same")
    label: str = Field(description="the top three terms, joined with ' / '")
    terms: list[str] = Field(description="top terms by c-TF-IDF, best first")
    weights: list[float] = Field(description="c-TF-IDF weight of each term")
    size: int = Field(description="number of mentions in the topic")
    share: float = Field(description="size / mentions clustered")
    sentiment: dict[Label, float] = Field(description="share of scored members per label")
    sentiment_counts: dict[Label, int]
    mention_ids: list[str] = Field(description="representative mentions, most typical first")


def _auto_k(n: int, max_topics: int) -> int:
    return max(1, min(max_topics, int(math.sqrt(n / 2)) or 1, n))


def c_tf_idf(cluster_tokens: list[list[str]], top: int = 10) -> list[list[tuple[str, float]]]:
    """Class-based TF-IDF: tf of a term in a cluster x log(1 + avg cluster size / term frequency)."""
    counts = [Counter(toks) for toks in cluster_tokens]
    total = Counter()
    for c in counts:
        total.update(c)
    avg = sum(sum(c.values()) for c in counts) / max(len(counts), 1)
    out = []
    for c in counts:
        size = sum(c.values()) or 1
        scored = [(t, (n / size) * math.log(1 + avg / total[t])) for t, n in c.items()]
        scored.sort(key=lambda x: (-x[1], x[0]))
        out.append([(t, round(w, 5)) for t, w in scored[:top]])
    return out


def discover_topics(mentions: Sequence[Mention], max_topics: int = 8, *, top_terms: int = 10,
                    representatives: int = 5,
                    embed: Callable[[list[str]], np.ndarray] | None = None) -> list[Topic]:
    """Cluster mentions into at most `max_topics` topics, largest first. Mentions with no content
    words are left out. Deterministic for the same input."""
    from nlp.keywords import tokens
    from nlp.normalise import normalise

    docs = []
    for m in mentions:
        text = normalise(" ".join(p for p in (m.title, m.text) if p))
        toks = tokens(text) if text else []
        if toks:
            docs.append((m, text, toks))
    if not docs:
        return []
    k = _auto_k(len(docs), max_topics)
    if embed is not None:
        assign, strength = _cluster_embeddings(embed([d[1] for d in docs]), k)
    else:
        assign, strength = _cluster_nmf([d[2] for d in docs], k)

    clusters = sorted({a for a in assign if a >= 0}, key=lambda c: -int(np.sum(assign == c)))
    members = [[i for i in range(len(docs)) if assign[i] == c] for c in clusters]
    terms = c_tf_idf([[t for i in idx for t in docs[i][2]] for idx in members], top=top_terms)
    clustered = sum(len(idx) for idx in members)
    topics = []
    for idx, top in zip(members, terms, strict=True):
        counts = Counter(docs[i][0].sentiment.label for i in idx if docs[i][0].sentiment)
        scored = sum(counts.values())
        best = sorted(idx, key=lambda i: (-strength[i], docs[i][0].id))[:representatives]
        words = [t for t, _ in top]
        digest = hashlib.sha1("|".join(words[:5]).encode()).hexdigest()[:10]
        topics.append(Topic(
            id=f"t-{digest}", label=" / ".join(words[:3]), terms=words, weights=[w for _, w in top],
            size=len(idx), share=round(len(idx) / clustered, 4),
            sentiment={lab: round(counts.get(lab, 0) / scored, 4) if scored else 0.0 for lab in Label},
            sentiment_counts={lab: counts.get(lab, 0) for lab in Label},
            mention_ids=[docs[i][0].id for i in best],
        ))
    return topics


def _cluster_nmf(token_lists: list[list[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(token_lists)
    vec = TfidfVectorizer(analyzer=lambda toks: toks, min_df=2 if n >= 50 else 1, max_df=0.95 if n >= 20 else 1.0,
                          sublinear_tf=True)
    try:
        x = vec.fit_transform(token_lists)
    except ValueError:  # every term pruned: one topic
        return np.zeros(n, dtype=int), np.ones(n)
    k = min(k, x.shape[1], n)
    if k <= 1:
        return np.zeros(n, dtype=int), np.asarray(x.sum(axis=1)).ravel()
    nmf = NMF(n_components=k, init="nndsvd", random_state=0, max_iter=400)
    w = nmf.fit_transform(x)
    # NMF can leave a short document with all-zero weights: place it by its overlap with each topic.
    overlap = np.asarray(x @ nmf.components_.T)
    w = np.where(w.max(axis=1, keepdims=True) > 0, w, overlap * 1e-3)
    assign = np.where(w.max(axis=1) > 0, w.argmax(axis=1), -1)
    return assign, w.max(axis=1)


def _cluster_embeddings(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    k = min(k, len(v))
    km = KMeans(n_clusters=k, n_init=4, random_state=0).fit(v)
    centre = km.cluster_centers_[km.labels_]
    return km.labels_.astype(int), (v * centre).sum(axis=1)  # closeness to the centre


class TextEmbedder:
    """Mean-pooled sentence embeddings from a local Hugging Face encoder (e.g. a Chinese SBERT)."""

    def __init__(self, name_or_path: str, device: str = "auto", batch_size: int = 64, max_length: int = 256):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from core.errors import ModelError
        from nlp.device import resolve_device

        self.device = resolve_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
            self.model = AutoModel.from_pretrained(name_or_path, local_files_only=True).eval().to(self.device)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load embedding model {name_or_path!r}: {exc}") from exc
        self.batch_size, self.max_length, self._torch = batch_size, max_length, torch

    def __call__(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(texts[s:s + self.batch_size], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)
