from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from core.mention import Label, Mention
from core.settings import Settings
from nlp.analyzer import Analyzer, detect_lang

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _m(i, text, **kw):
    return Mention(id=f"jd:{i}", source="jd", kind="review", text=text, published_at=NOW, **kw)


@pytest.fixture
def analyzer(tiny_model_dir):
    return Analyzer.from_settings(Settings(model=tiny_model_dir, device="cpu", nlp_batch_size=4))


def test_analyze_fills_enrichment_on_copies_with_one_model_call(analyzer):
    analyzer.add_terms(["澜鲸手机"])
    mentions = [_m(i, t) for i, t in enumerate(
        ["物流很快，非常满意。客服不理人，退货麻烦!", "澜鲸手机质量太差了，垃圾", "今天是星期三"] * 10)]
    mentions.append(_m(99, "", metrics={"rating": 1}))
    before = analyzer.pipeline.calls
    out = analyzer.analyze(mentions)
    assert analyzer.pipeline.calls == before + 1  # 31 mentions + their touchpoint sentences, one call
    assert len(out) == 31 and mentions[0].sentiment is None  # inputs untouched
    first = out[0]
    assert first.sentiment and first.sentiment.model == analyzer.model_name and first.lang == "zh"
    aspects = {a.touchpoint: a for a in first.aspects}
    assert {"物流", "客服", "售后"} <= set(aspects)
    assert aspects["物流"].text.startswith("物流很快")
    assert aspects["物流"].sentiment == Label.positive and aspects["客服"].sentiment == Label.negative
    assert "澜鲸手机" in out[1].keywords and out[1].sentiment.label == Label.negative
    assert out[2].aspects == []
    assert out[-1].sentiment.model == "rating" and out[-1].sentiment.label == Label.negative
    assert analyzer.analyze([]) == []


def test_score_texts_matches_pipeline(analyzer):
    got = analyzer.score_texts(["质量很好，很喜欢", "质量太差了，垃圾"])
    assert [s.label for s in got] == [Label.positive, Label.negative]


def test_detect_lang():
    assert detect_lang("这个手机很好用") == "zh"
    assert detect_lang("great phone, love it") == "en"
    assert detect_lang("iPhone 15 的屏幕不错") == "zh"
    assert detect_lang("12345 !!!") is None


def test_analyzer_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, nlp.analyzer, nlp.keywords, nlp.topics, nlp.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_score_command_texts_stdin_and_jsonl(tiny_model_dir, tmp_path, monkeypatch):
    import json

    from nlp.cli import score

    monkeypatch.setenv("OPMON_MODEL", tiny_model_dir)
    runner = CliRunner()
    res = runner.invoke(score, ["质量很好，很喜欢", "质量太差了，垃圾"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"] and rows[0]["text"] == "质量很好，很喜欢"

    res = runner.invoke(score, [], input="今天是星期三\n\n质量太差了，垃圾\n")
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 2

    mention = _m(1, "物流很快，非常满意").model_dump(mode="json")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(mention, ensure_ascii=False) + "\n" + '{"text": "质量太差了"}\n'
                    + '{"id": "bad", "source": "jd"}\n', encoding="utf-8")
    res = runner.invoke(score, ["--file", str(path)])
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.exit_code == 1 and "invalid mention" in res.stderr
    assert lines[0]["id"] == "jd:1" and lines[0]["sentiment"]["label"] == "positive"
    assert {a["touchpoint"] for a in lines[0]["aspects"]} == {"物流"}
    assert lines[1]["text"] == "质量太差了"


def test_score_command_reports_missing_model(tmp_path, monkeypatch):
    from nlp.cli import score

    monkeypatch.setenv("OPMON_MODEL", str(tmp_path / "nope"))
    res = CliRunner().invoke(score, ["好"])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_analyze_keeps_aspects_the_spider_provided(analyzer):
    from core.mention import Aspect, Kind

    rated = Mention(id="dianping:7", source="dianping", kind=Kind.review, published_at=NOW,
                    text="口味太差了，很失望。服务员态度很好，上菜也快。环境一般。",
                    metrics={"rating": 2},
                    aspects=[Aspect(touchpoint="口味", sentiment=Label.negative, text="口味 1星"),
                             Aspect(touchpoint="服务", sentiment=Label.negative)])
    out = analyzer.analyze([rated, _m(2, "服务员态度很好，上菜也快")])
    got = {a.touchpoint: a for a in out[0].aspects}
    # The spider's sub-scores win for their touchpoints, untouched (even where the text disagrees)...
    assert got["口味"] == rated.aspects[0] and got["服务"] == rated.aspects[1]
    assert [a.touchpoint for a in out[0].aspects].count("服务") == 1
    # ... and the model adds the touchpoints they do not cover.
    assert {"上菜", "环境"} <= set(got) and got["上菜"].text.startswith("服务员态度很好")
    # Without spider aspects the model scores 服务 itself.
    assert "服务" in {a.touchpoint for a in out[1].aspects}
    assert rated.aspects == [Aspect(touchpoint="口味", sentiment=Label.negative, text="口味 1星"),
                             Aspect(touchpoint="服务", sentiment=Label.negative)]  # input untouched


def test_analyze_scores_repeated_texts_once_and_matches_score_texts(analyzer):
    texts = ["物流很快，非常满意。客服不理人，退货麻烦!", "质量太差了，垃圾"]
    mentions = [_m(i, texts[i % 2]) for i in range(6)]
    out = analyzer.analyze(mentions)
    direct = analyzer.score_texts(texts)
    for i, m in enumerate(out):
        assert m.sentiment.label == direct[i % 2].label
        assert m.sentiment.score == pytest.approx(direct[i % 2].score, abs=1e-5)
    assert out[0].aspects == out[2].aspects and out[0].keywords == out[2].keywords


def test_ensemble_scores_aspect_sentences_with_its_linear_half(tiny_model_dir, tmp_path):
    import json
    import shutil

    import numpy as np
    from nlp_toydata import toy_rows

    from nlp.linear import CharNgramLinear

    target = tmp_path / "ens"
    shutil.copytree(tiny_model_dir, target)
    texts, labels = toy_rows()
    CharNgramLinear.fit(texts, labels, min_df=1).save(target / "linear")
    (target / "ensemble.json").write_text(json.dumps({"linear_dir": "linear", "transformer_weight": 0.5}))
    ens = Analyzer.from_settings(Settings(model=str(target), device="cpu"))
    pipe = ens.pipeline
    docs = ["物流很快，非常满意。客服不理人，退货麻烦!", "客服态度很好"]
    sentences = ["物流很快，非常满意。", "客服不理人，退货麻烦!", "客服态度很好"]
    before = pipe.calls
    doc_p, sent_p = pipe.predict_proba_with_aspects(docs, sentences)
    assert pipe.calls == before + 1
    np.testing.assert_allclose(doc_p, pipe.predict_proba(docs), atol=1e-6)
    from nlp.normalise import normalise

    np.testing.assert_allclose(sent_p[:2], pipe.linear_proba([normalise(s) for s in sentences[:2]]), atol=1e-6)
    np.testing.assert_allclose(sent_p[2], doc_p[1], atol=1e-6)  # a whole-text sentence reuses the text's score
    before = pipe.calls
    out = ens.analyze([_m(1, docs[0])])
    assert pipe.calls == before + 1
    assert {a.touchpoint for a in out[0].aspects} >= {"物流", "客服"}


def test_word_feature_model_cuts_each_text_once_for_keywords_and_model(tiny_model_dir, tmp_path, monkeypatch):
    import json
    import shutil

    from nlp_toydata import toy_rows

    import nlp.keywords
    from nlp.keywords import extract_keywords
    from nlp.linear import CharNgramLinear
    from nlp.normalise import normalise

    target = tmp_path / "words"
    shutil.copytree(tiny_model_dir, target)
    texts, labels = toy_rows()
    CharNgramLinear.fit(texts, labels, min_df=1, word_ngrams=2).save(target / "linear")
    (target / "ensemble.json").write_text(json.dumps({"linear_dir": "linear", "transformer_weight": 0.5}))
    ens = Analyzer.from_settings(Settings(model=str(target), device="cpu"))
    assert ens.pipeline.uses_words
    docs = ["物流很快，非常满意。客服不理人，退货麻烦!", "质量太差了，垃圾"]
    direct = ens.score_texts(docs)  # the pipeline cuts the words itself here
    cut = []
    real = nlp.keywords.feature_words
    monkeypatch.setattr(nlp.keywords, "feature_words", lambda t: cut.append(t) or real(t))
    out = ens.analyze([_m(i, docs[i % 2]) for i in range(6)])
    clean = [normalise(d) for d in docs]
    # each distinct string (2 texts, 2 touchpoint sentences of the first) is cut once, for both uses
    assert sorted(cut) == sorted(set(cut)) and set(clean) <= set(cut) and len(cut) == 4
    for i, m in enumerate(out):
        assert m.sentiment.score == pytest.approx(direct[i % 2].score, abs=1e-5)
        assert m.keywords == extract_keywords(clean[i % 2], 8)
    assert {a.touchpoint for a in out[0].aspects} >= {"物流", "客服"}
