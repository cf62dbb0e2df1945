import numpy as np
import pytest

from core.errors import ModelError
from core.mention import Label
from nlp.sentiment import SentimentPipeline, head_tail, labels_from_config

TEXTS = ["好", "质量很好，很喜欢", "物流太慢，很失望，再也不买了", "今天是星期三", "这是一个测试句子。" * 3,
         "abc123 不错", "太差了"]


def test_loads_a_local_hf_directory_and_outputs_valid_sentiments(tiny_model_dir):
    pipe = SentimentPipeline.load(tiny_model_dir, device="cpu", batch_size=4)
    assert pipe.device == "cpu" and pipe.class_labels == [Label.negative, Label.neutral, Label.positive]
    out = pipe(TEXTS)
    assert len(out) == len(TEXTS)
    for s in out:
        assert abs(sum(s.probs.values()) - 1) < 1e-4
        assert s.score == pytest.approx(s.probs[Label.positive] - s.probs[Label.negative], abs=1e-5)
        assert s.label == max(s.probs, key=s.probs.get)
        assert s.model == tiny_model_dir


def test_toy_model_learned_the_toy_task(tiny_model_dir):
    pipe = SentimentPipeline.load(tiny_model_dir, device="cpu")
    labels = [s.label for s in pipe(["质量很好，很喜欢", "质量太差了，垃圾", "今天是星期三"])]
    assert labels == [Label.positive, Label.negative, Label.neutral]


def test_batched_equals_one_by_one(tiny_model_dir):
    batched = SentimentPipeline.load(tiny_model_dir, device="cpu", batch_size=3, precision="fp32").predict_proba(TEXTS)
    single = SentimentPipeline.load(tiny_model_dir, device="cpu", batch_size=1, precision="fp32")
    one_by_one = np.vstack([single.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_one_forward_call_per_pipeline_call(tiny_model_dir):
    pipe = SentimentPipeline.load(tiny_model_dir, device="cpu", batch_size=2)
    pipe(TEXTS * 5)
    assert pipe.calls == 1
    assert pipe([]) == [] and pipe.calls == 1


def test_head_tail_truncation():
    ids = list(range(100))
    kept = head_tail(ids, 30)
    assert len(kept) == 30 and kept[:10] == list(range(10)) and kept[10:] == list(range(80, 100))
    assert head_tail(ids[:5], 30) == ids[:5]


def test_long_text_keeps_head_and_tail_tokens(tiny_model_dir):
    pipe = SentimentPipeline.load(tiny_model_dir, device="cpu")
    text = "好" + "这是一个测试句子" * 60 + "差"  # (repeats of one char would be bounded)
    enc = pipe.preprocess([text]).ids[0]
    tok = pipe.tokenizer
    assert len(enc) == pipe.max_length == 64
    assert enc[0] == tok.cls_token_id and enc[-1] == tok.sep_token_id
    assert enc[1] == tok.convert_tokens_to_ids("好") and enc[-2] == tok.convert_tokens_to_ids("差")


def test_binary_model_gets_neutral_by_abstention(tiny_binary_dir):
    pipe = SentimentPipeline.load(tiny_binary_dir, device="cpu")
    assert pipe.binary
    model_probs = np.array([[0.5, 0.5], [0.1, 0.9], [0.95, 0.05], [0.3, 0.7]], dtype=np.float32)
    three = pipe.to_three(model_probs)  # columns negative, neutral, positive
    np.testing.assert_allclose(three.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(three[:, 2] - three[:, 0], model_probs[:, 1] - model_probs[:, 0], atol=1e-6)
    labels = [Label(["negative", "neutral", "positive"][i]) for i in three.argmax(axis=1)]
    assert labels == [Label.neutral, Label.positive, Label.negative, Label.neutral]
    out = pipe(["质量很好，很喜欢", "质量太差了，垃圾"])
    assert out[0].score > out[1].score


def test_label_names_mapping():
    assert labels_from_config({0: "LABEL_0", 1: "LABEL_1"}, 2) == [Label.negative, Label.positive]
    assert labels_from_config({"0": "负面", "1": "中性", "2": "正面"}, 3) == [Label.negative, Label.neutral,
                                                                           Label.positive]
    assert labels_from_config({0: "Positive", 1: "Negative"}, 2) == [Label.positive, Label.negative]
    five = labels_from_config({i: f"{i + 1} stars" if i else "1 star" for i in range(5)}, 5)
    assert five == [Label.negative, Label.negative, Label.neutral, Label.positive, Label.positive]
    with pytest.raises(ModelError, match="cannot tell"):
        labels_from_config({0: "sports", 1: "finance"}, 2)


def test_missing_model_is_a_clear_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        SentimentPipeline.load(str(tmp_path / "nope"), device="cpu")
    with pytest.raises(ModelError, match="cannot load"):
        SentimentPipeline.load("some-org/not-cached-model", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="cannot load"):
        SentimentPipeline.load(str(tmp_path / "empty"), device="cpu")


def test_ensemble_directory_averages_linear_model(tiny_model_dir, tmp_path):
    import json
    import shutil

    from nlp_toydata import toy_rows

    from nlp.linear import CharNgramLinear
    from nlp.normalise import normalise

    target = tmp_path / "ens"
    shutil.copytree(tiny_model_dir, target)
    texts, labels = toy_rows()
    linear = CharNgramLinear.fit(texts, labels, min_df=1)
    linear.save(target / "linear")
    (target / "ensemble.json").write_text(json.dumps({"linear_dir": "linear", "transformer_weight": 0.25}))
    linear = CharNgramLinear.load(target / "linear")  # stored in float16: compare with what was saved
    ens = SentimentPipeline.load(str(target), device="cpu")
    plain = SentimentPipeline.load(tiny_model_dir, device="cpu")
    texts = ["质量很好，很喜欢", "物流太慢，很失望"]
    lin = linear.predict_proba([normalise(t) for t in texts])[:, [linear.classes.index(c) for c in ("negative", "neutral", "positive")]]
    expected = 0.25 * plain.predict_proba(texts) + 0.75 * lin
    np.testing.assert_allclose(ens.predict_proba(texts), expected, atol=1e-5)


def test_bundled_model_loads_from_settings_when_shipped(settings):
    from nlp.sentiment import BUNDLED_DIR

    if not (BUNDLED_DIR / "config.json").exists():
        pytest.skip("bundled model not trained in this checkout (python -m nlp.train)")
    from nlp.analyzer import Analyzer

    analyzer = Analyzer.from_settings(settings)
    good, bad = analyzer.score_texts(["质量非常好，物流也快，很满意", "太差了，用两天就坏了，客服也不理人"])
    assert analyzer.model_name.startswith("bundled:")
    assert good.label == Label.positive and bad.label == Label.negative


def test_three_class_abstention_threshold(tiny_model_dir):
    from nlp.scoring import decide

    pipe = SentimentPipeline.load(tiny_model_dir, device="cpu")
    probs = np.array([[0.45, 0.10, 0.45], [0.05, 0.05, 0.90], [0.30, 0.25, 0.45]], dtype=np.float32)
    assert [s.label for s in pipe.postprocess(probs)] == [Label.negative, Label.positive, Label.positive]
    pipe.neutral_below = 0.5
    assert [s.label for s in pipe.postprocess(probs)] == [Label.neutral, Label.positive, Label.neutral]
    assert decide(probs, ("negative", "neutral", "positive"), 0.5) == ["neutral", "positive", "neutral"]
    # binary sets ignore the threshold: only P(pos) vs P(neg) counts
    assert decide(probs, ("negative", "positive"), 0.5) == ["negative", "positive", "positive"]


def test_ensemble_directory_with_a_stacker(tiny_model_dir, tmp_path):
    import json
    import shutil

    from nlp_toydata import toy_rows

    from nlp.linear import CharNgramLinear
    from nlp.normalise import normalise
    from nlp.sentiment import stack_proba

    target = tmp_path / "stacked"
    shutil.copytree(tiny_model_dir, target)
    texts, labels = toy_rows()
    CharNgramLinear.fit(texts, labels, min_df=1).save(target / "linear")
    # A stacker that ignores the transformer and trusts the linear half's log-probabilities.
    coef = np.hstack([np.zeros((3, 3)), np.eye(3)]).tolist()
    (target / "ensemble.json").write_text(json.dumps({"linear_dir": "linear", "transformer_weight": 0.5,
                                                      "stack": {"coef": coef, "intercept": [0, 0, 0]}}))
    ens = SentimentPipeline.load(str(target), device="cpu")
    plain = SentimentPipeline.load(tiny_model_dir, device="cpu")
    batch = ["质量很好，很喜欢", "物流太慢，很失望", "今天是星期三"]
    lin = ens.linear_proba([normalise(t) for t in batch])
    np.testing.assert_allclose(ens.predict_proba(batch), lin / lin.sum(axis=1, keepdims=True), atol=1e-5)
    # A real stacker mixes both halves per class.
    w = np.array([[1.0, 0, 0, 0.5, 0, 0], [0, 1.0, 0, 0, 0.5, 0], [0, 0, 1.0, 0, 0, 0.5]], dtype=np.float32)
    ens.stack = (w, np.array([0.1, -0.2, 0.1], dtype=np.float32))
    got = ens.predict_proba(batch)
    want = stack_proba(plain.predict_proba(batch), lin, *ens.stack)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert [s.label.value for s in ens(batch[:2])] == ["positive", "negative"]


def test_bf16_forward_agrees_with_fp32_and_precision_is_checked(tiny_model_dir):
    import torch

    from nlp.sentiment import autocast_dtype, cpu_has_fast_bf16

    full = SentimentPipeline.load(tiny_model_dir, device="cpu", precision="fp32")
    half = SentimentPipeline.load(tiny_model_dir, device="cpu", precision="bf16")  # emulated where no AMX
    assert full.precision == "fp32" and half.precision == "bfloat16"
    p32, p16 = full.predict_proba(TEXTS), half.predict_proba(TEXTS)
    assert p16.dtype == np.float32 and not np.array_equal(p32, p16)  # it really ran in bf16
    np.testing.assert_allclose(p16, p32, atol=0.03)
    assert (p16.argmax(axis=1) == p32.argmax(axis=1)).all()
    # auto: bf16 on CPU only where the hardware does it fast; never on a CPU without AMX
    auto = SentimentPipeline.load(tiny_model_dir, device="cpu")
    assert auto.precision == ("bfloat16" if cpu_has_fast_bf16() else "fp32")
    assert autocast_dtype("cpu", "fp32") is None and autocast_dtype("cpu", "bf16") is torch.bfloat16
    with pytest.raises(ModelError, match="precision"):
        SentimentPipeline.load(tiny_model_dir, device="cpu", precision="int4")


def test_linear_half_overlapping_the_forward_pass_gives_the_same_answers(tiny_model_dir, tmp_path):
    import json
    import os
    import shutil

    from nlp_toydata import toy_rows

    from nlp.linear import CharNgramLinear

    target = tmp_path / "overlap"
    shutil.copytree(tiny_model_dir, target)
    texts, labels = toy_rows()
    CharNgramLinear.fit(texts, labels, min_df=1, word_ngrams=2).save(target / "linear")
    (target / "ensemble.json").write_text(json.dumps({"linear_dir": "linear", "transformer_weight": 0.4}))
    pinned = SentimentPipeline.load(str(target), device="cpu", threads=1)
    assert not pinned.overlap  # an explicit thread count is respected as it is
    auto = SentimentPipeline.load(str(target), device="cpu")
    assert auto.overlap == (len(os.sched_getaffinity(0)) >= 2)
    side = SentimentPipeline(pinned.model, pinned.tokenizer, name="o", linear=pinned.linear,
                             transformer_weight=0.4, overlap=True)
    batch = TEXTS * 3
    np.testing.assert_allclose(side.predict_proba(batch), pinned.predict_proba(batch), atol=1e-6)
    assert side.calls == 1 and side._pool is not None  # noqa: SLF001 - it really ran beside the forward pass
    assert not SentimentPipeline.load(tiny_model_dir, device="cpu").overlap  # nothing to overlap without a linear half


def test_fast_gil_handoff_lowers_the_switch_interval_only_while_overlapped_calls_run():
    import sys
    import threading

    from nlp.sentiment import GIL_SWITCH_S, fast_gil_handoff

    before = sys.getswitchinterval()
    inside, release = threading.Event(), threading.Event()

    def other_call():
        with fast_gil_handoff():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=other_call)
    t.start()
    assert inside.wait(5)
    with fast_gil_handoff():
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S)
    # the other call still runs: the interval stays low until the last one ends
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S)
    release.set()
    t.join(5)
    assert sys.getswitchinterval() == before
