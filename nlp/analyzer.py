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
KEYWORD_CACHE = 50_000  # texts


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


def _mean_label(probs, neutral_below: float = 0.0) -> Label:
    """One label from the sentences that mention a touchpoint: their mean probabilities (columns
    negative/neutral/positive), neutral while max(P(pos), P(neg)) is below the aspect threshold."""
    mean = probs.mean(axis=0)
    if max(mean[0], mean[2]) < neutral_below:
        return Label.neutral
    return ORDER[int(mean.argmax())]


class Analyzer:
    def __init__(self, pipeline: SentimentPipeline, matcher: TouchpointMatcher | None = None,
                 keywords_top: int = 8):
        self.pipeline = pipeline
        self.matcher = matcher
        self.keywords_top = keywords_top
        # Reposts and copied reviews repeat texts: each text is cut by jieba once, and its words serve
        # both the keywords and the model's word features.
        self._keywords: dict[str, list[str]] = {}
        self._words: dict[str, list[str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Analyzer:
        """Load the configured model (raises ModelError with a fix when it cannot) and taxonomies."""
        from nlp.sentiment import SentimentPipeline
        from nlp.touchpoints import TouchpointMatcher

        pipeline = SentimentPipeline.load(settings.model, device=settings.device,
                                          batch_size=settings.nlp_batch_size, threads=settings.torch_threads,
                                          precision=settings.nlp_precision)
        matcher = TouchpointMatcher.from_names(settings.taxonomy) if settings.taxonomy.strip() else None
        return cls(pipeline, matcher)

    @property
    def model_name(self) -> str:
        return self.pipeline.name

    def add_terms(self, names: Iterable[str]) -> int:
        """Teach the keyword tokenizer brand/product names (kept whole, never dropped as stop words)."""
        from nlp.keywords import add_terms

        added = add_terms(names)
        if added:
            self.clear_caches()  # cached words and keywords were cut without the new names
        return added

    def clear_caches(self) -> None:
        from nlp.keywords import clear_cut_cache

        self._keywords.clear()
        self._words.clear()
        clear_cut_cache()

    def words(self, text: str) -> list[str]:
        """The jieba words of a normalised text (`nlp.keywords.feature_words`), cached."""
        from nlp.keywords import feature_words

        found = self._words.get(text)
        if found is None:
            if len(self._words) >= KEYWORD_CACHE:
                self._words.clear()
            found = self._words[text] = feature_words(text)
        return found

    def keywords(self, text: str) -> list[str]:
        from nlp.keywords import extract_keywords

        found = self._keywords.get(text)
        if found is None:
            if len(self._keywords) >= KEYWORD_CACHE:
                self._keywords.clear()
            found = self._keywords[text] = extract_keywords(text, self.keywords_top, words=self.words(text))
        return list(found)

    def score_texts(self, texts: Sequence[str]) -> list[Sentiment]:
        return self.pipeline(list(texts))

    def score_texts_with_emotion(self, texts: Sequence[str]) -> tuple[list[Sentiment], list[str | None]]:
        """`score_texts`, plus each text's emotion (None without an emotion head), in one pass."""
        return self.pipeline.score(list(texts))

    def analyze(self, mentions: Sequence[Mention]) -> list[Mention]:
        """Copies of the mentions with sentiment, emotion, keywords, aspects and lang filled in.

        The distinct mention texts go through the model in ONE batched call, whatever the number of
        mentions; touchpoint sentences ride along (`predict_proba_with_aspects`: a sentence that
        is the whole text reuses its score, the others go to the cheap linear half when the model
        has one, else into the same forward pass). Aspects a mention already carries (a spider's
        sub-scores, e.g. Dianping 口味/环境/服务 ratings) are kept: the model only adds touchpoints
        they do not cover. `emotion` (happy/angry/sad/fear/surprise/neutral) comes from the model's
        emotion head, computed from the linear half's feature rows of the same call; it is None for a
        model without a head (any Hugging Face checkpoint) and for mentions without text.
        """
        import time

        from nlp.normalise import normalise

        started = time.perf_counter()
        texts = [normalise(" ".join(p for p in (m.title, m.text) if p)) for m in mentions]
        matches = [self.matcher.match(t) if self.matcher and t else [] for t in texts]
        unique_texts = list(dict.fromkeys(t for t in texts if t))
        unique_sentences = list(dict.fromkeys(mt.sentence for ms in matches for mt in ms))
        if unique_texts:
            words = sent_words = None
            if getattr(self.pipeline, "uses_words", False):  # cut once: the keywords reuse these words
                words = [self.words(t) for t in unique_texts]
                sent_words = [self.words(s) for s in unique_sentences]
            doc_probs, sent_probs, emo_probs = self.pipeline.score_with_aspects(
                unique_texts, unique_sentences, normalised=True, words=words, sentence_words=sent_words,
                emotion=self.pipeline.emotion is not None)
            doc_sent = dict(zip(unique_texts, self.pipeline.postprocess(doc_probs), strict=True))
            doc_emotion = dict(zip(unique_texts, self.pipeline.emotion_labels(emo_probs, len(unique_texts), doc_probs),
                                   strict=True))
            sent_row = {s: i for i, s in enumerate(unique_sentences)}
            self.pipeline.record(len(unique_texts), time.perf_counter() - started)
        else:
            doc_sent, sent_row, sent_probs, doc_emotion = {}, {}, None, {}

        threshold = getattr(self.pipeline, "aspect_neutral_below", 0.0)
        out = []
        for m, text, found in zip(mentions, texts, matches, strict=True):
            sentiment = doc_sent.get(text) if text else None
            if sentiment is None and m.metrics.rating is not None:
                sentiment = rating_sentiment(m.metrics.rating)
            aspects = list(m.aspects)  # the spider's own aspects win for their touchpoints
            have = {a.touchpoint for a in aspects}
            by_tp: dict[str, list[str]] = {}
            for mt in found:
                if mt.touchpoint not in have:
                    by_tp.setdefault(mt.touchpoint, []).append(mt.sentence)
            aspects += [
                Aspect.model_construct(touchpoint=tp, text=sents[0], sentiment=_mean_label(
                    sent_probs[[sent_row[s] for s in sents]], threshold))
                for tp, sents in by_tp.items()
            ]
            out.append(m.model_copy(update={
                "sentiment": sentiment,
                "emotion": doc_emotion.get(text) if text else None,
                "keywords": self.keywords(text) if text else [],
                "aspects": aspects,
                "lang": detect_lang(text) if text else m.lang,
            }))
        return out
