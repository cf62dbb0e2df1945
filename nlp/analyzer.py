"""The one entry point other packages use: score and enrich mentions.

    analyzer = Analyzer.from_settings(get_settings())   # loads the model once
    enriched = analyzer.analyze(mentions)               # one batched model call per call

Importing this module is cheap; torch and the model load in `from_settings`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from core.mention import Aspect, Label, Mention, Sentiment

if TYPE_CHECKING:
    from core.settings import Settings
    from nlp.sentiment import SentimentPipeline
    from nlp.touchpoints import TouchpointMatcher

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
ORDER = (Label.negative, Label.neutral, Label.positive)


def detect_lang(text: str) -> str | None:
    """'zh' when Chinese characters make up a real share of the letters, 'en' for Latin text."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return None
    if cjk >= 2 and cjk * 3 >= latin:  # a CJK char carries ~3 Latin letters' worth of text
        return "zh"
    return "en" if latin > cjk else "zh"


def rating_sentiment(rating: float) -> Sentiment:
    """For reviews with stars but no text: 4-5 positive, 3 neutral, 1-2 negative."""
    score = (rating - 3) / 2
    label = Label.positive if rating >= 4 else Label.negative if rating <= 2 else Label.neutral
    pos, neg = max(score, 0.0), max(-score, 0.0)
    return Sentiment(label=label, probs={Label.negative: neg, Label.neutral: 1 - pos - neg, Label.positive: pos},
                     score=score, model="rating")


def _mean_sentiment(items: list[Sentiment], neutral_below: float = 0.0) -> Label:
    """One label from the sentences that mention a touchpoint: their mean probabilities, neutral
    while max(P(pos), P(neg)) is below the aspect threshold."""
    probs = {label: sum(s.probs[label] for s in items) / len(items) for label in ORDER}
    if max(probs[Label.positive], probs[Label.negative]) < neutral_below:
        return Label.neutral
    return max(probs, key=probs.get)


class Analyzer:
    def __init__(self, pipeline: SentimentPipeline, matcher: TouchpointMatcher | None = None,
                 keywords_top: int = 8):
        self.pipeline = pipeline
        self.matcher = matcher
        self.keywords_top = keywords_top

    @classmethod
    def from_settings(cls, settings: Settings) -> Analyzer:
        """Load the configured model (raises ModelError with a fix when it cannot) and taxonomies."""
        from nlp.sentiment import SentimentPipeline
        from nlp.touchpoints import TouchpointMatcher

        pipeline = SentimentPipeline.load(settings.model, device=settings.device,
                                          batch_size=settings.nlp_batch_size, threads=settings.torch_threads)
        matcher = TouchpointMatcher.from_names(settings.taxonomy) if settings.taxonomy.strip() else None
        return cls(pipeline, matcher)

    @property
    def model_name(self) -> str:
        return self.pipeline.name

    def add_terms(self, names: Iterable[str]) -> int:
        """Teach the keyword tokenizer brand/product names (kept whole, never dropped as stop words)."""
        from nlp.keywords import add_terms

        return add_terms(names)

    def score_texts(self, texts: Sequence[str]) -> list[Sentiment]:
        return self.pipeline(list(texts))

    def analyze(self, mentions: Sequence[Mention]) -> list[Mention]:
        """Copies of the mentions with sentiment, keywords, aspects and lang filled in.

        The mention texts and every sentence that mentions a touchpoint go through the model in
        ONE batched call, whatever the number of mentions.
        """
        from nlp.keywords import extract_keywords
        from nlp.normalise import normalise

        texts = [normalise(" ".join(p for p in (m.title, m.text) if p)) for m in mentions]
        matches = [self.matcher.match(t) if self.matcher and t else [] for t in texts]
        scored_idx = [i for i, t in enumerate(texts) if t]
        sentences = [mt.sentence for ms in matches for mt in ms]
        unique_sentences = list(dict.fromkeys(sentences))
        batch = [texts[i] for i in scored_idx] + unique_sentences
        results = self.pipeline(batch) if batch else []
        doc_sent = dict(zip(scored_idx, results[: len(scored_idx)], strict=True))
        sent_sent = dict(zip(unique_sentences, results[len(scored_idx):], strict=True))

        threshold = getattr(self.pipeline, "aspect_neutral_below", 0.0)
        out = []
        for i, m in enumerate(mentions):
            text = texts[i]
            sentiment = doc_sent.get(i)
            if sentiment is None and m.metrics.rating is not None:
                sentiment = rating_sentiment(m.metrics.rating)
            by_tp: dict[str, list] = {}
            for mt in matches[i]:
                by_tp.setdefault(mt.touchpoint, []).append(mt.sentence)
            aspects = [
                Aspect(touchpoint=tp, sentiment=_mean_sentiment([sent_sent[s] for s in sents], threshold),
                       text=sents[0])
                for tp, sents in by_tp.items()
            ]
            out.append(m.model_copy(update={
                "sentiment": sentiment,
                "keywords": extract_keywords(text, self.keywords_top) if text else [],
                "aspects": aspects,
                "lang": detect_lang(text) if text else m.lang,
            }))
        return out
