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
