"""Sentiment scoring with the transformers pipeline shape: preprocess -> forward -> postprocess.

`SentimentPipeline.load()` takes "bundled", a local save_pretrained directory or a Hugging Face id
(read from the local cache only: nothing downloads at run time). Any
AutoModelForSequenceClassification checkpoint works: label names come from `config.id2label`
(2-class models get a neutral band by abstention, 3+-class models are pooled into
positive/neutral/negative). A model directory may also hold a `linear/` char-n-gram model and an
`ensemble.json` weight; the bundled model uses that to average both models' probabilities. A model
directory with a linear half may also hold an `emotion/` head (`nlp.emotion`): six emotions from
the linear half's own feature rows; other models have no emotion (None).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from core.errors import ModelError
from core.mention import Label, Sentiment

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).parent / "models" / "bundled"
ORDER = (Label.negative, Label.neutral, Label.positive)  # column order of every probs array here
HEAD_SHARE = 1 / 3  # of the token budget kept from the start of a long text; the rest from its end

_ALIASES: dict[str, Label] = {}
for _label, _names in {
    Label.positive: ("positive", "pos", "积极", "正面", "正向", "好评", "happy", "joy", "4 stars", "5 stars"),
    Label.neutral: ("neutral", "neu", "中性", "中立", "无情绪", "none", "other", "3 stars", "mixed"),
    Label.negative: ("negative", "neg", "消极", "负面", "负向", "差评", "angry", "sad", "fear", "anger",
                     "sadness", "disgust", "1 star", "2 stars"),
}.items():
    for _name in _names:
        _ALIASES[_name] = _label


def labels_from_config(id2label: dict, num_labels: int) -> list[Label]:
    """Map a checkpoint's class names to our three labels (one entry per model output)."""
    names = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))).strip().lower() for i in range(num_labels)]
    mapped = [_ALIASES.get(n) for n in names]
    if all(m is not None for m in mapped):
        return mapped  # type: ignore[return-value]
    generic = all(re.fullmatch(r"label_\d+|\d+", n) for n in names)
    if generic and num_labels == 2:
        return [Label.negative, Label.positive]  # the convention of every Chinese binary corpus
    if generic and num_labels == 3:
        return [Label.negative, Label.neutral, Label.positive]
    raise ModelError(
        f"cannot tell which of the model's classes {names} are positive/neutral/negative; "
        "set config.id2label to names such as negative/neutral/positive"
    )


def head_tail(ids: list[int], budget: int) -> list[int]:
    """Keep the first third and the last two thirds of the budget: reviews conclude at the end."""
    if len(ids) <= budget:
        return ids
    head = int(budget * HEAD_SHARE)
    return ids[:head] + ids[len(ids) - (budget - head):]


def resolve_model_path(name: str) -> tuple[str, bool]:
    """(path or hub id, is_local_dir)."""
    if name == "bundled":
        if not (BUNDLED_DIR / "config.json").exists():
            raise ModelError(
                f"the bundled model is missing from {BUNDLED_DIR}; train it with `python -m nlp.train` "
                "or set OPMON_MODEL to a local model directory"
            )
        return str(BUNDLED_DIR), True
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), True
    if name.startswith((".", "/", "~")) or os.sep in name and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", name):
        raise ModelError(f"model directory {name!r} does not exist")
    return name, False


class CharTokenTable(dict):
    """The ids of a one-token-per-character tokenizer (the bundled one), without the tokenizer call.

    `tokenizer(texts, add_special_tokens=False)["input_ids"]` costs ~50 µs of CPU per Weibo post
    (HF's batch encoding, offsets, Python lists); for a tokenizer that lowercases, drops whitespace and
    cuts every other character into its own WordLevel token, a text's ids are its characters' ids
    one after the other, each what the tokenizer gives that character alone (asked once per
    distinct character, then kept here). Only tokenizers of exactly that shape get one
    (`for_tokenizer`); a text containing an added token's text ("[MASK]") goes to the tokenizer.
    """

    SHAPE = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Split", "pattern": {"Regex": "."}, "behavior": "Isolated", "invert": False}]}

    def __init__(self, tokenizer, added: Sequence[str]):
        super().__init__()
        self.tokenizer = tokenizer
        self.backend = tokenizer.backend_tokenizer
        self.added = [a.lower() for a in added if a]
        self._firsts = {c for a in added if a for c in (a[0], a[0].lower())}

    @classmethod
    def for_tokenizer(cls, tokenizer) -> CharTokenTable | None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        try:
            spec = json.loads(backend.to_str())
        except (ValueError, AttributeError, TypeError):
            return None
        if (spec.get("model", {}).get("type") != "WordLevel" or spec.get("normalizer") not in (None, {"type": "Lowercase"})
                or spec.get("pre_tokenizer") != cls.SHAPE):
            return None
        return cls(tokenizer, [t.get("content", "") for t in spec.get("added_tokens") or []])

    def __missing__(self, char: str) -> tuple[int, ...]:
        ids = self[char] = tuple(self.backend.encode(char, add_special_tokens=False).ids)
        return ids

    def _has_added(self, text: str) -> bool:
        return any(c in text for c in self._firsts) and any(a in text.lower() for a in self.added)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        out = [list(chain.from_iterable(map(self.__getitem__, t))) for t in texts]
        odd = [i for i, t in enumerate(texts) if self._has_added(t)]
        if odd:
            ids = self.tokenizer([texts[i] for i in odd], add_special_tokens=False)["input_ids"]
            for i, row in zip(odd, ids, strict=True):
                out[i] = list(row)
        return out


@dataclass
class Encoded:
    ids: list[list[int]]



# While the halves overlap, the forward thread needs the GIL back between torch kernels, but the
# linear half's Python keeps it for a whole switch interval (5 ms by default): the forward thread
# then mostly waits and the overlap is lost (1,190 texts/s at 5 ms, 1,570-1,790 at 0.05-0.1 ms on
# 2 cores, docs/benchmarks.md). The interval is process-wide, so it is lowered only while some
# overlapped call runs, and restored when the last one ends.
GIL_SWITCH_S = 0.00005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def fast_gil_handoff() -> Iterator[None]:
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(GIL_SWITCH_S)
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)

class SentimentPipeline:
    """Scores texts; one instance per process (the model is loaded and placed once)."""

    def __init__(self, model, tokenizer, *, name: str, device: str = "cpu", batch_size: int = 256,
                 max_length: int | None = None, linear=None, transformer_weight: float = 1.0,
                 neutral_below: float = 0.0, aspect_neutral_below: float | None = None, stack=None,
                 precision: str = "auto", overlap: bool = False, emotion=None):
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.batch_size = batch_size
        config = model.config
        limit = getattr(config, "max_position_embeddings", 512) or 512
        if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            limit -= 2  # their position ids start after the padding index
        tok_limit = getattr(tokenizer, "model_max_length", limit) or limit
        self.max_length = min(max_length or limit, limit, tok_limit if tok_limit < 100_000 else limit)
        self.class_labels = labels_from_config(dict(config.id2label or {}), config.num_labels)
        self.binary = set(self.class_labels) == {Label.positive, Label.negative}
        self.linear = linear
        # The emotion head (nlp.emotion.EmotionHead) reads the linear half's feature rows: no linear, no head.
        self.emotion = emotion if linear is not None else None
        self.transformer_weight = transformer_weight if linear is not None else 1.0
        # Stacking (optional): a logistic regression over both halves' log-probabilities, fitted on
        # the dev split; (coef (3, 6), intercept (3,)), classes and inputs in ORDER. Else: the average.
        self.stack = None if stack is None or linear is None else (
            np.asarray(stack[0], dtype=np.float32), np.asarray(stack[1], dtype=np.float32))
        # Calibrated abstention on top of the 3-class head: neutral while max(P(pos), P(neg)) is below
        # this (tuned on the dev split for the bundled model; 0 = plain argmax).
        self.neutral_below = neutral_below
        # Sentences about one touchpoint are more often neutral than whole posts: a threshold of their own.
        self.aspect_neutral_below = neutral_below if aspect_neutral_below is None else aspect_neutral_below
        self.calls = 0  # forward() invocations, so callers/tests can check batching
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._prefix, self._suffix = self._special_tokens()
        self._chars = CharTokenTable.for_tokenizer(tokenizer)
        self._autocast = autocast_dtype(device, precision)
        self.precision = "fp32" if self._autocast is None else str(self._autocast).removeprefix("torch.")
        # Score the linear half in a worker thread while the forward pass runs (see predict_proba).
        self.overlap = bool(overlap) and linear is not None
        self._pool = None

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, name: str = "bundled", *, device: str = "auto", batch_size: int = 256,
             threads: int | None = None, max_length: int | None = None,
             precision: str = "auto") -> SentimentPipeline:
        from nlp.device import configure_threads, resolve_device

        resolved = resolve_device(device)
        cores = configure_threads(threads) if resolved == "cpu" else 0
        path, local = resolve_model_path(name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub at run time
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bars on every CLI call

            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            hint = "" if local else " (hub ids load from the local Hugging Face cache only; download it first)"
            raise ModelError(f"cannot load sentiment model {name!r}: {exc}{hint}") from exc
        linear, weight, neutral_below, aspect_below, stack = None, 1.0, 0.0, None, None
        if local and (Path(path) / "ensemble.json").exists():
            from nlp.linear import CharNgramLinear

            try:
                spec = json.loads((Path(path) / "ensemble.json").read_text(encoding="utf-8"))
                if spec.get("linear_dir"):
                    linear = CharNgramLinear.load(Path(path) / spec["linear_dir"])
                weight = float(spec.get("transformer_weight", 0.5))
                neutral_below = float(spec.get("neutral_below", 0.0))
                aspect_below = float(spec.get("aspect_neutral_below", neutral_below))
                if spec.get("stack"):
                    stack = (spec["stack"]["coef"], spec["stack"]["intercept"])
            except (OSError, ValueError, KeyError) as exc:
                raise ModelError(f"model {name!r} names an ensemble (ensemble.json) whose linear half "
                                 f"does not load: {exc}") from exc
        emotion = None
        if local:
            from nlp.emotion import find_head

            emotion = find_head(Path(path), linear)
        display = "bundled:" + _card_name(Path(path)) if name == "bundled" else name
        # On CPU with the thread count left to us, the linear half gets a core of its own (it runs
        # beside the forward pass, see predict_proba) and torch keeps the others.
        overlap = linear is not None and threads is None and cores >= 2
        if overlap:
            configure_threads(cores - 1)
        return cls(model, tokenizer, name=display, device=resolved, batch_size=batch_size,
                   max_length=max_length, linear=linear, transformer_weight=weight, neutral_below=neutral_below,
                   aspect_neutral_below=aspect_below, stack=stack, precision=precision, overlap=overlap,
                   emotion=emotion)

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """Find the ids a tokenizer wraps around one text ([CLS] .. [SEP], <s> .. </s>, ...)."""
        probe = "好"
        plain = self.tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = self.tokenizer(probe)["input_ids"]
        for i in range(len(full) - len(plain) + 1):
            if full[i:i + len(plain)] == plain:
                return list(full[:i]), list(full[i + len(plain):])
        return [], []

    # -- pipeline stages -------------------------------------------------------------------------
    def preprocess(self, texts: Sequence[str], *, normalised: bool = False) -> Encoded:
        """Normalise (unless the caller already did), tokenise, keep head and tail within the budget,
        add special tokens."""
        from nlp.normalise import normalise

        budget = self.max_length - len(self._prefix) - len(self._suffix)
        chars = budget * 6  # cheap pre-cut so a 1 MB post does not get fully tokenised
        clean = list(texts) if normalised else [normalise(t) for t in texts]
        clean = [t if len(t) <= 2 * chars else t[:chars] + " " + t[-chars:] for t in clean]
        clean = [t if t else " " for t in clean]
        if self._chars is not None:
            raw = self._chars.encode(clean)
        else:
            raw = self.tokenizer(clean, add_special_tokens=False)["input_ids"]
        return Encoded([self._prefix + head_tail(list(ids), budget) + self._suffix for ids in raw])

    def forward(self, encoded: Encoded) -> np.ndarray:
        """Class probabilities (n, model classes): length-sorted batches, each padded to its longest."""
        import torch

        self.calls += 1
        n = len(encoded.ids)
        out = np.zeros((n, len(self.class_labels)), dtype=np.float32)
        order = sorted(range(n), key=lambda i: len(encoded.ids[i]))
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                # Padded ids and mask built in numpy at once (a tensor per row cost ~13 µs per text).
                lens = np.fromiter((len(encoded.ids[i]) for i in idx), dtype=np.int64, count=len(idx))
                filled = np.arange(int(lens.max())) < lens[:, None]
                ids_np = np.full(filled.shape, self.pad_id, dtype=np.int64)
                ids_np[filled] = np.fromiter(chain.from_iterable(encoded.ids[i] for i in idx), dtype=np.int64,
                                             count=int(lens.sum()))
                ids = torch.from_numpy(ids_np).to(self.device)
                mask = torch.from_numpy(filled.astype(np.int64)).to(self.device)
                if self._autocast is not None:
                    with torch.autocast(self.device.split(":")[0], dtype=self._autocast):
                        logits = self.model(input_ids=ids, attention_mask=mask).logits
                else:
                    logits = self.model(input_ids=ids, attention_mask=mask).logits
                out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def to_three(self, model_probs: np.ndarray) -> np.ndarray:
        """Pool the model's classes into (n, 3) columns ORDER = negative, neutral, positive."""
        probs = np.zeros((model_probs.shape[0], 3), dtype=np.float32)
        for j, label in enumerate(self.class_labels):
            probs[:, ORDER.index(label)] += model_probs[:, j]
        if self.binary:
            # Abstention: the less sure a binary model is, the more mass moves to neutral, keeping
            # P(pos) - P(neg) exactly. The answer is neutral while max(P(pos), P(neg)) < 0.75.
            pos, neg = probs[:, 2].copy(), probs[:, 0].copy()
            neu = 1 - np.abs(pos - neg)
            probs[:, 1] = neu
            probs[:, 2] = pos - neu / 2
            probs[:, 0] = neg - neu / 2
            np.clip(probs, 0, 1, out=probs)
        return probs

    def predict_proba(self, texts: Sequence[str], *, normalised: bool = False,
                      words: Sequence[list[str]] | None = None) -> np.ndarray:
        """(n, 3) probabilities, columns negative/neutral/positive (ensemble combined when configured).

        `words`: the normalised texts' `nlp.keywords.feature_words()`, when the caller already cut
        them (a linear half with word features cuts them itself otherwise)."""
        return self._predict(texts, normalised=normalised, words=words)[0]

    def _predict(self, texts: Sequence[str], *, normalised: bool = False,
                 words: Sequence[list[str]] | None = None, emotion: bool = False):
        """(`predict_proba`, the emotion head's (n, 6) probabilities or None): with `emotion` and a
        head, from the feature rows the linear half computed anyway."""
        if not texts:
            return np.zeros((0, 3), dtype=np.float32), None
        from nlp.normalise import normalise

        clean = list(texts) if normalised else [normalise(t) for t in texts]
        if self.linear is None:
            return self.to_three(self.forward(self.preprocess(clean, normalised=True))), None
        if not self.overlap:
            probs = self.to_three(self.forward(self.preprocess(clean, normalised=True)))
            lin, emo = self.linear_scores(clean, words, emotion=emotion)
            return self.combine(probs, lin), emo
        # The linear half is Python (jieba, n-gram lookups) holding the GIL; torch's kernels release
        # it: both halves run at once, each on its own core(s).
        with fast_gil_handoff():
            linear = self._linear_pool().submit(self.linear_scores, clean, words, emotion=emotion)
            probs = self.to_three(self.forward(self.preprocess(clean, normalised=True)))
            lin, emo = linear.result()
            return self.combine(probs, lin), emo

    def _linear_pool(self):
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opmon-linear")
        return self._pool

    def combine(self, transformer: np.ndarray, linear: np.ndarray) -> np.ndarray:
        """The ensemble of both halves' (n, 3) probabilities: stacked when configured, else averaged."""
        if self.stack is None:
            w = self.transformer_weight
            return w * transformer + (1 - w) * linear
        coef, intercept = self.stack
        return stack_proba(transformer, linear, coef, intercept)

    @property
    def uses_words(self) -> bool:
        """Whether the model reads jieba words (`nlp.keywords.feature_words`) besides characters."""
        return self.linear is not None and getattr(self.linear, "uses_words", False)

    def linear_proba(self, clean: Sequence[str], words: Sequence[list[str]] | None = None) -> np.ndarray:
        """(n, 3) probabilities of the linear half alone, for normalised texts (and their words)."""
        return self.linear_scores(clean, words)[0]

    def linear_scores(self, clean: Sequence[str], words: Sequence[list[str]] | None = None, *,
                      emotion: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(`linear_proba`, the emotion head's probabilities over the same feature rows, or None
        when not asked for or the model has no head)."""
        lin, x = self.linear.predict_proba_and_features(list(clean), words if self.uses_words else None)
        emo = self.emotion.proba(x) if emotion and self.emotion is not None and x is not None else None
        return lin[:, [self.linear.classes.index(label.value) for label in ORDER]].astype(np.float32), emo

    def predict_proba_with_aspects(self, texts: Sequence[str], sentences: Sequence[str], *,
                                   normalised: bool = False, words: Sequence[list[str]] | None = None,
                                   sentence_words: Sequence[list[str]] | None = None
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """(texts' probs, touchpoint sentences' probs) with at most one forward pass.

        A sentence that is a whole text gets that text's probabilities. The other sentences go to
        the linear half alone when the model has one: they are short, so its n-grams see all of
        them, and they need no second forward pass (the aspect threshold is tuned on this path).
        A model without a linear half scores them in the texts' forward pass.
        `words` / `sentence_words`: their `feature_words()` when the caller has them.
        """
        return self.score_with_aspects(texts, sentences, normalised=normalised, words=words,
                                       sentence_words=sentence_words)[:2]

    def score_with_aspects(self, texts: Sequence[str], sentences: Sequence[str], *, normalised: bool = False,
                           words: Sequence[list[str]] | None = None,
                           sentence_words: Sequence[list[str]] | None = None, emotion: bool = False
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`predict_proba_with_aspects`, plus with `emotion` the texts' emotion probabilities
        (columns `self.emotion.classes`; None when the model has no emotion head)."""
        from nlp.normalise import normalise

        clean = list(texts) if normalised else [normalise(t) for t in texts]
        sents = list(sentences) if normalised else [normalise(t) for t in sentences]
        row_of = {t: i for i, t in enumerate(clean)}
        rest = list(dict.fromkeys(s for s in sents if s not in row_of))
        emo = None
        if self.linear is not None:
            docs, emo = self._predict(clean, normalised=True, words=words, emotion=emotion)
            rest_words = None
            if sentence_words is not None:
                words_of = dict(zip(sents, sentence_words, strict=True))
                rest_words = [words_of[s] for s in rest]
            rest_p = self.linear_proba(rest, rest_words) if rest else np.zeros((0, 3), dtype=np.float32)
        else:
            both = self.predict_proba(clean + rest, normalised=True)
            docs, rest_p = both[: len(clean)], both[len(clean):]
        rest_row = {s: i for i, s in enumerate(rest)}
        out = np.zeros((len(sents), 3), dtype=np.float32)
        for i, s in enumerate(sents):
            out[i] = docs[row_of[s]] if s in row_of else rest_p[rest_row[s]]
        return docs, out, emo

    def emotion_labels(self, probs: np.ndarray | None, n: int,
                       sentiment: np.ndarray | None = None) -> list[str | None]:
        """The emotion of each of n texts from the head's probabilities (and, for the head's
        consistency rule, the same texts' sentiment probabilities); all None without a head."""
        if probs is None or self.emotion is None:
            return [None] * n
        return self.emotion.labels(probs, sentiment)

    def score(self, texts: Sequence[str]) -> tuple[list[Sentiment], list[str | None]]:
        """(`__call__`'s sentiments, the texts' emotions): one pass for both."""
        started = time.perf_counter()
        probs, emo = self._predict(list(texts), emotion=True)
        result = self.postprocess(probs)
        self.record(len(result), time.perf_counter() - started)
        return result, self.emotion_labels(emo, len(result), probs)

    def postprocess(self, probs: np.ndarray) -> list[Sentiment]:
        result = []
        for row in probs:
            row = row / max(float(row.sum()), 1e-9)
            p = {label: round(float(row[i]), 6) for i, label in enumerate(ORDER)}
            score = max(-1.0, min(1.0, p[Label.positive] - p[Label.negative]))
            label = ORDER[int(np.argmax(row))]
            if self.neutral_below and max(p[Label.positive], p[Label.negative]) < self.neutral_below:
                label = Label.neutral
            result.append(Sentiment(label=label, probs=p, score=round(score, 6), model=self.name))
        return result

    def __call__(self, texts: Sequence[str]) -> list[Sentiment]:
        started = time.perf_counter()
        result = self.postprocess(self.predict_proba(list(texts)))
        self.record(len(result), time.perf_counter() - started)
        return result

    def record(self, n: int, seconds: float) -> None:
        """Count scored texts and time in the process metrics."""
        from core.metrics import NLP_SECONDS, NLP_TEXTS

        NLP_SECONDS.labels(model=self.name).inc(seconds)
        NLP_TEXTS.labels(model=self.name).inc(n)


def autocast_dtype(device: str, precision: str = "auto"):
    """The autocast dtype of the forward pass, or None for plain fp32.

    `auto`: bf16 (fp16 where bf16 is missing) on CUDA; on CPU bf16 only where the CPU has AMX tiles
    (oneDNN then runs bf16 matmuls in hardware: about 2x less CPU per text than fp32 for the bundled
    model, same labels on the dev split); elsewhere bf16 would be emulated and slower, so fp32.
    `fp32` forces full precision, `bf16` forces bf16 (on any device).
    """
    import torch

    if precision not in ("auto", "fp32", "bf16"):
        raise ModelError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else None


def cpu_has_fast_bf16() -> bool:
    import torch

    try:  # private helpers (torch >= 2.1): absent or failing means "no"
        return bool(torch.cpu._is_amx_tile_supported() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def stack_features(transformer: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """The stacker's inputs: both halves' log-probabilities (clipped: a 0 must not become -inf)."""
    return np.hstack([np.log(np.clip(transformer, 1e-6, 1.0)), np.log(np.clip(linear, 1e-6, 1.0))])


def stack_proba(transformer: np.ndarray, linear: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    z = stack_features(transformer, linear) @ np.asarray(coef, dtype=np.float32).T + np.asarray(intercept)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


def _card_name(path: Path) -> str:
    """The bundled model's version string from its card metadata (meta.json), else the dir name."""
    meta = path / "meta.json"
    if meta.exists():
        try:
            return str(json.loads(meta.read_text(encoding="utf-8")).get("name", path.name))
        except ValueError:
            pass
    return path.name
