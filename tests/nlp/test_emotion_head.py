"""The emotion head (nlp/emotion.py): trained by its entry point on a tiny generated corpus, loaded
from a model directory, filled in by `Analyzer.analyze`; None for models without one."""

from __future__ import annotations

import csv
import json
import random
import shutil
from datetime import UTC, datetime

import numpy as np
import pytest
from nlp_toydata import toy_rows

from core.errors import ModelError
from core.mention import Mention

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PHRASES = {
    "happy": ["太开心了", "哈哈哈好棒", "今天真幸福", "好高兴啊"],
    "angry": ["气死我了", "太可恶了", "愤怒到极点", "简直混蛋"],
    "sad": ["好难过", "伤心想哭", "心里很悲伤", "眼泪止不住"],
    "fear": ["好害怕", "太恐怖了", "吓死人了", "担心得发抖"],
    "surprise": ["居然是真的", "天哪没想到", "震惊了", "竟然这样"],
    "neutral": ["今天星期三", "会议在三楼", "请问几点开门", "明天出发去上海"],
}
PROBES = {"happy": "哈哈哈好棒，今天真幸福", "angry": "气死我了，简直混蛋", "sad": "伤心想哭，好难过",
          "fear": "吓死人了，好害怕", "surprise": "天哪没想到，居然是真的", "neutral": "请问几点开门"}


def _m(i: int, text: str) -> Mention:
    return Mention(id=f"weibo:{i}", source="weibo", kind="post", text=text, published_at=NOW)


def write_corpus(folder) -> None:
    """A generated SMP2020-EWECT-shaped CSV: obviously separable emotions, every text distinct."""
    rng = random.Random(5)
    rows = []
    for label, phrases in PHRASES.items():
        for i in range(60):
            rows.append(("usual_train", len(rows), label, f"{rng.choice(phrases)}，{rng.choice(phrases)}#{i}"))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "smp2020_ewect_train.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "id", "label", "review"])
        w.writerows(rows)


def ensemble_dir(tiny_model_dir, target, extra_texts=()):
    """The tiny transformer plus a linear half (char + word n-grams) that has seen these texts."""
    from nlp.keywords import feature_words
    from nlp.linear import CharNgramLinear
    from nlp.normalise import normalise

    shutil.copytree(tiny_model_dir, target)
    texts, labels = toy_rows()
    texts = [normalise(t) for t in [*texts, *extra_texts]]
    labels = [*labels, *(["neutral"] * len(extra_texts))]
    CharNgramLinear.fit(texts, labels, min_df=1, word_ngrams=2,
                        words=[feature_words(t) for t in texts]).save(target / "linear")
    (target / "ensemble.json").write_text(json.dumps({"linear_dir": "linear", "transformer_weight": 0.5}))
    return target


@pytest.fixture(scope="module")
def emotion_model(tiny_model_dir, tmp_path_factory):
    """(model dir with an emotion head trained by `python -m nlp.emotion`, the figures in its meta.json)."""
    from nlp.emotion import main

    base = tmp_path_factory.mktemp("emotion")
    data = base / "data"
    write_corpus(data)
    texts = [r["review"] for r in csv.DictReader((data / "smp2020_ewect_train.csv").open(encoding="utf-8"))]
    model = ensemble_dir(tiny_model_dir, base / "model", texts)
    (model / "meta.json").write_text("{}", encoding="utf-8")  # (the card is not rendered for this stub)
    from nlp import model_card

    real_write = model_card.write
    model_card.write = lambda d: None
    try:
        assert main(["--model-dir", str(model), "--data", str(data), "--c-grid", "1,10"]) == 0
    finally:
        model_card.write = real_write
    return model, json.loads((model / "meta.json").read_text(encoding="utf-8"))["emotion"]


def test_entry_point_writes_a_head_that_separates_obvious_emotions(emotion_model):
    from nlp.emotion import EMOTIONS
    from nlp.sentiment import SentimentPipeline

    model, figures = emotion_model
    assert {p.name for p in (model / "emotion").iterdir()} == {"emotion.json", "emotion.safetensors"}
    pipe = SentimentPipeline.load(str(model), device="cpu", threads=1)
    assert pipe.emotion is not None and sorted(pipe.emotion.classes) == sorted(EMOTIONS)
    _, labels = pipe.score(list(PROBES.values()))
    assert labels == list(PROBES)
    # The held-out part of the generated corpus was scored, with both baselines, and split as nlp.data splits.
    rows = figures["rows"]
    assert rows["train"] > rows["heldout"] > 0 and rows["dev"] > 0 and sum(rows.values()) == 360
    assert figures["heldout"]["macro_f1"] > 0.9 > figures["heldout_majority"]["macro_f1"]
    assert figures["heldout_tfidf_char13_lr"]["n"] == rows["heldout"]
    assert figures["c"] in (1.0, 10.0) and 0.0 <= figures["min_confidence"] <= 0.6


def test_analyze_fills_emotion_from_the_head(emotion_model):
    from nlp.analyzer import Analyzer
    from nlp.sentiment import SentimentPipeline

    model, _ = emotion_model
    analyzer = Analyzer(SentimentPipeline.load(str(model), device="cpu", threads=1))
    mentions = [_m(i, t) for i, t in enumerate(PROBES.values())]
    mentions.append(Mention(id="jd:99", source="jd", kind="review", text="", metrics={"rating": 5},
                            published_at=NOW))
    out = analyzer.analyze(mentions)
    assert [m.emotion for m in out[:-1]] == list(PROBES)
    assert out[-1].emotion is None and out[-1].sentiment.model == "rating"  # no text, no emotion
    # The sentiment is what the model gives without the head: the head only adds a column.
    plain = SentimentPipeline.load(str(model), device="cpu", threads=1)
    plain.emotion = None
    without = Analyzer(plain).analyze(mentions)
    assert [m.emotion for m in without] == [None] * len(mentions)
    assert [m.sentiment for m in without] == [m.sentiment for m in out]


def test_overlapped_linear_half_gives_the_same_emotions(emotion_model):
    from nlp.sentiment import SentimentPipeline

    model, _ = emotion_model
    pipe = SentimentPipeline.load(str(model), device="cpu", threads=1)
    texts = list(PROBES.values()) * 3
    serial = pipe.score(texts)
    pipe.overlap = True
    assert pipe.score(texts) == serial


def test_model_without_a_head_leaves_emotion_none(tiny_model_dir, tmp_path):
    from nlp.analyzer import Analyzer
    from nlp.sentiment import SentimentPipeline

    for directory in (tiny_model_dir, ensemble_dir(tiny_model_dir, tmp_path / "ens")):
        pipe = SentimentPipeline.load(str(directory), device="cpu", threads=1)
        assert pipe.emotion is None
        out = Analyzer(pipe).analyze([_m(1, "气死我了，简直混蛋"), _m(2, "质量很好，很喜欢")])
        assert [m.emotion for m in out] == [None, None] and out[1].sentiment is not None
        assert pipe.score(["好害怕"])[1] == [None]


def test_a_head_fitted_on_other_features_is_refused(emotion_model, tiny_model_dir, tmp_path):
    from nlp.sentiment import SentimentPipeline

    model, _ = emotion_model
    other = ensemble_dir(tiny_model_dir, tmp_path / "other")  # another linear half: other columns
    shutil.copytree(model / "emotion", other / "emotion")
    with pytest.raises(ModelError, match="other features"):
        SentimentPipeline.load(str(other), device="cpu", threads=1)
    shutil.rmtree(other / "linear")
    (other / "ensemble.json").unlink()
    with pytest.raises(ModelError, match="no linear half"):
        SentimentPipeline.load(str(other), device="cpu", threads=1)


def test_low_confidence_falls_back_to_neutral():
    from nlp.emotion import EmotionHead

    head = EmotionHead(np.zeros((4, 3), dtype=np.float32), np.zeros(3), ["angry", "neutral", "sad"], 0.5)
    probs = np.array([[0.6, 0.1, 0.3], [0.45, 0.1, 0.45], [0.2, 0.3, 0.5]], dtype=np.float32)
    assert head.labels(probs) == ["angry", "neutral", "sad"]
    head.min_confidence = 0.0
    assert head.labels(probs) == ["angry", "angry", "sad"]


def test_sentiment_consistency_rule():
    from nlp.emotion import EmotionHead

    classes = ["angry", "fear", "happy", "neutral", "sad", "surprise"]
    head = EmotionHead(np.zeros((4, 6), dtype=np.float32), np.zeros(6), classes, 0.0, sentiment_consistency=0.7)
    onehot = np.eye(6, dtype=np.float32)
    emo = onehot[[0, 4, 1, 2, 2, 5, 0]]  # angry, sad, fear, happy, happy, surprise, angry
    sentiment = np.array([  # negative, neutral, positive
        [0.1, 0.1, 0.8],    # angry, clearly positive text -> happy
        [0.2, 0.2, 0.6],    # sad, positive below t -> sad
        [1.0, 1.0, 8.0],    # fear, unnormalised rows are normalised (0.8 positive) -> happy
        [0.9, 0.05, 0.05],  # happy, clearly negative text -> neutral
        [0.1, 0.1, 0.8],    # happy, positive -> happy
        [0.1, 0.1, 0.8],    # surprise is left alone
        [0.8, 0.1, 0.1],    # angry, negative -> angry
    ])
    assert head.labels(emo, sentiment) == ["happy", "sad", "happy", "neutral", "happy", "surprise", "angry"]
    assert head.labels(emo) == ["angry", "sad", "fear", "happy", "happy", "surprise", "angry"]  # no sentiment
    head.sentiment_consistency = 0.0
    assert head.labels(emo, sentiment) == head.labels(emo)  # off


def test_analyze_applies_the_consistency_rule(emotion_model):
    from nlp.analyzer import Analyzer
    from nlp.sentiment import SentimentPipeline

    model, _ = emotion_model
    pipeline = SentimentPipeline.load(str(model), device="cpu", threads=1)
    mentions = [_m(i, t) for i, t in enumerate(PROBES.values())]
    pipeline.emotion.sentiment_consistency = 0.0
    plain = [m.emotion for m in Analyzer(pipeline).analyze(mentions)]
    assert {"angry", "sad", "fear", "happy"} <= set(plain)
    # t tiny: every text counts as both "positive" and "negative" enough, so a negative emotion turns
    # happy and then neutral; only the analyzer handing its sentiment rows to the head can do that
    pipeline.emotion.sentiment_consistency = 1e-12
    ruled = [m.emotion for m in Analyzer(pipeline).analyze(mentions)]
    assert ruled == ["neutral" if e in ("angry", "sad", "fear", "happy") else e for e in plain]


def test_saved_head_round_trips(tmp_path):
    from nlp.emotion import EmotionHead

    coef = np.zeros((50, 2), dtype=np.float32)
    coef[[3, 17]] = [[0.5, -0.25], [1.0, 2.0]]  # only rows some text used are stored
    EmotionHead(coef, np.array([0.1, -0.1]), ["happy", "neutral"], 0.3, "abc", 0.7).save(tmp_path)
    back = EmotionHead.load(tmp_path)
    np.testing.assert_array_equal(back.coef_t, coef)
    assert (back.classes, back.min_confidence, back.fingerprint) == (["happy", "neutral"], 0.3, "abc")
    assert back.sentiment_consistency == 0.7


def test_card_renders_the_emotion_section():
    from nlp.model_card import render
    from nlp.sentiment import BUNDLED_DIR

    meta = json.loads((BUNDLED_DIR / "meta.json").read_text(encoding="utf-8"))
    f1 = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4, "f1": {"happy": 0.9}}
    meta["emotion"] = {"classes": ["happy", "angry"], "c": 8.0, "min_confidence": 0.25, "fallback": "neutral",
                       "rows": {"train": 90, "dev": 5, "heldout": 10}, "heldout": f1, "heldout_argmax": f1,
                       "heldout_majority": {"label": "happy", **f1},
                       "heldout_tfidf_char13_lr": {"c": 4.0, "class_weight": "none", **f1}}
    card = render(meta)
    assert "## Emotion head" in card and "on dev: C 4.0, class weight none" in card and "majority class (happy)" in card
    meta.pop("emotion")
    assert "## Emotion head" not in render(meta)


def test_score_command_prints_emotion(emotion_model, monkeypatch):
    from click.testing import CliRunner

    from nlp.cli import score

    model, _ = emotion_model
    monkeypatch.setenv("OPMON_MODEL", str(model))
    res = CliRunner().invoke(score, [PROBES["angry"], PROBES["sad"]])
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["emotion"] for line in res.stdout.splitlines()] == ["angry", "sad"]
