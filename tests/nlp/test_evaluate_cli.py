import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nlp_toydata import NEGATIVE, NEUTRAL, POSITIVE

from nlp.evaluate import parse_label_map

REPO = Path(__file__).resolve().parents[2]


def _write(path, rows, header=("review", "label")):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _run(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "nlp.evaluate", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)
    return proc


def test_binary_csv_one_json_line_with_skips(tiny_model_dir, tmp_path):
    rows = [(t, "1") for t in POSITIVE] + [(t, "0") for t in NEGATIVE] + [("标签不在映射里", "2"), ("", "1")]
    path = _write(tmp_path / "bin.csv", rows)
    proc = _run("--csv", str(path), "--text-column", "review", "--label-column", "label",
                "--label-map", "0=negative,1=positive", "--model", tiny_model_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["n"] == 16 and report["skipped"] == 2
    assert set(report["f1"]) == {"negative", "positive"}  # neutral never scored on a binary set
    assert report["accuracy"] >= 0.9 and 0 <= report["macro_f1"] <= 1 and report["docs_per_s"] > 0


def test_three_class_csv_without_map(tiny_model_dir, tmp_path):
    rows = [(t, "positive") for t in POSITIVE] + [(t, "NEGATIVE") for t in NEGATIVE] + [(t, "neutral") for t in NEUTRAL]
    path = _write(tmp_path / "three.csv", rows, header=("text", "sentiment"))
    proc = _run("--csv", str(path), "--text-column", "text", "--label-column", "sentiment", "--model", tiny_model_dir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == 24 and set(report["f1"]) == {"negative", "neutral", "positive"}
    assert report["accuracy"] >= 0.8


def test_bad_arguments_are_clear_errors(tiny_model_dir, tmp_path):
    path = _write(tmp_path / "x.csv", [("好", "1")])
    proc = _run("--csv", str(path), "--label-column", "nolabel", "--model", tiny_model_dir)
    assert proc.returncode == 2 and "no column" in proc.stderr and proc.stdout == ""
    proc = _run("--csv", str(path), "--label-map", "1=pos", "--model", tiny_model_dir)
    assert proc.returncode == 2 and "--label-map" in proc.stderr
    proc = _run("--csv", str(path), "--model", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "no scorable rows" in proc.stderr


def test_label_map_parsing():
    assert parse_label_map("0=negative, 1=Positive") == {"0": "negative", "1": "positive"}
    assert parse_label_map(None) is None
    with pytest.raises(Exception, match="label-map"):
        parse_label_map("0")
