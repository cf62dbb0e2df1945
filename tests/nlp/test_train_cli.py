"""`python -m nlp.train` end to end on toy corpora in the shared corpora's formats (tiny model, 1 epoch)."""

from __future__ import annotations

import csv
import json

import pytest
from nlp_toydata import NEGATIVE, NEUTRAL, POSITIVE

TINY = ["--epochs", "1", "--hidden", "16", "--layers", "1", "--heads", "2", "--intermediate", "32",
        "--max-length", "32", "--batch-size", "32", "--threads", "1", "--vocab-size", "400",
        "--linear-features", "2000", "--linear-word-features", "500"]


def _write(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """~150 distinct rows per corpus (numbered variants of the toy sentences), so every split has rows."""
    root = tmp_path_factory.mktemp("corpora")
    pos = [f"{t}，第{i}次买" for i in range(10) for t in POSITIVE]
    neg = [f"{t}，第{i}次买" for i in range(10) for t in NEGATIVE]
    neu = [f"{t}，编号{i}" for i in range(10) for t in NEUTRAL]
    binary = [(1, t) for t in pos] + [(0, t) for t in neg]
    _write(root / "online_shopping_10_cats_nohotel.csv", ["cat", "label", "review"],
           [("书籍", lab, t) for lab, t in binary])
    _write(root / "weibo2018_train.csv", ["mid", "label", "review"],
           [(i, lab, "微博：" + t) for i, (lab, t) in enumerate(binary)])
    _write(root / "weibo_senti_100k_subset.csv", ["label", "review"],
           [(lab, t + ("[哈哈]" if lab else "[怒]")) for lab, t in binary])
    _write(root / "smp2020_ewect_train.csv", ["source", "id", "label", "review"],
           [("virus_train", i, lab, t) for i, (lab, t) in enumerate(
               [("happy", t) for t in pos] + [("angry", t) for t in neg] + [("neutral", t) for t in neu])])
    car = [(t, "外观", "1") for t in pos] + [(t, "价格", "-1") for t in neg] + [(t, "动力", "0") for t in neu]
    _write(root / "bdci2018_car_train.csv", ["content_id", "content", "subject", "sentiment_value", "sentiment_word"],
           [(i, t, subj, val, "") for i, (t, subj, val) in enumerate(car)])
    return root


def test_train_skip_heldout_then_assemble(corpora, tmp_path, caplog):
    from transformers import AutoModelForSequenceClassification

    from nlp.sentiment import SentimentPipeline
    from nlp.train import main

    cand = tmp_path / "cand"
    with caplog.at_level("INFO", logger="nlp.train"):
        assert main(["--data", str(corpora), "--out", str(cand), "--precision", "bf16", "--skip-heldout", *TINY]) == 0
    assert "training precision: torch.bfloat16" in caplog.text
    meta = json.loads((cand / "meta.json").read_text(encoding="utf-8"))
    assert "heldout" not in meta and not (cand / "README.md").exists()  # the held-out split stayed unscored
    assert set(meta["dev"]) == {"online_shopping", "weibo2018", "weibo_senti_100k", "smp2020_ewect", "bdci2018_car"}
    assert "--skip-heldout" not in meta["command"] and "--out" not in meta["command"]
    assert AutoModelForSequenceClassification.from_pretrained(cand, local_files_only=True).config.hidden_size == 16

    # The chosen candidate is assembled (linear half, stacker, thresholds, held-out, card) without retraining.
    final = tmp_path / "final"
    assert main(["--data", str(corpora), "--out", str(final), "--transformer-from", str(cand), *TINY]) == 0
    meta = json.loads((final / "meta.json").read_text(encoding="utf-8"))
    assert meta["heldout"]["online_shopping"]["n"] > 0 and meta["epochs_run"] == 1
    assert (final / "README.md").exists() and (final / "linear").is_dir()
    pipe = SentimentPipeline.load(str(final), device="cpu")
    labels = [s.label for s in pipe(["质量很好，很喜欢，第3次买", "质量太差了，垃圾，第3次买"])]
    assert labels == ["positive", "negative"]
    # The emotion head is fitted over the new linear half's features (and carded), so it is never stale.
    assert pipe.emotion is not None and meta["emotion"]["heldout"]["n"] > 0
    assert "## Emotion head" in (final / "README.md").read_text(encoding="utf-8")
    assert pipe.score(["质量太差了，垃圾，第3次买"])[1] == ["angry"]
