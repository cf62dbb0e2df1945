"""The evaluation CLI contract: `python -m alerts.detect --csv PATH [--interval 5min]`."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alerts.detect", "--csv", str(path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def run_inproc(capsys, path: Path, *args: str) -> tuple[int, str, str]:
    """The same entry point without a new interpreter (the subprocess tests cover `-m`)."""
    from alerts.detect import main

    code = main(["--csv", str(path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def rows_of(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


def write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in rows), encoding="utf-8")
    return path


@pytest.fixture
def surge_csv(tmp_path) -> tuple[Path, int]:
    rng = np.random.default_rng(0)
    t0 = datetime(2026, 3, 1)
    n = 4 * 288
    x = rng.poisson(3.0, n)
    at = n - 30
    x[at:at + 6] = [30, 40, 35, 38, 33, 30]
    rows = [((t0 + i * timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S"), str(int(v))) for i, v in enumerate(x)]
    return write(tmp_path / "s.csv", rows), at


def test_contract_rows_columns_order_and_a_surge(surge_csv):
    path, at = surge_csv
    p = run_cli(path, "--interval", "5min")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,alert"
    out = rows_of(p.stdout)
    src = rows_of(path.read_text())
    assert len(out) == len(src)
    assert [(r["timestamp"], r["value"]) for r in out] == [(r["timestamp"], r["value"]) for r in src]
    scores = np.array([float(r["anomaly_score"]) for r in out])
    alerts = np.array([int(r["alert"]) for r in out])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert set(np.unique(alerts)) <= {0, 1}
    assert alerts[at] == 1 and scores[at] >= 0.5
    assert alerts[288:at].sum() == 0  # steady noise after the first day: no alerts
    # Inferred interval gives the same answer.
    q = run_cli(path)
    assert q.returncode == 0 and q.stdout == p.stdout


def test_messy_real_world_file(tmp_path):
    rng = np.random.default_rng(1)
    t0 = datetime(2026, 3, 1)
    rows = []
    for i in range(2000):
        if 700 <= i < 760:
            continue  # a gap of five hours
        v = rng.gamma(2.0, 40.0)  # large, non-integer values
        rows.append(((t0 + i * timedelta(minutes=5)).isoformat(), f"{v:.3f}"))
    rows.insert(100, ("not a time", "5"))
    rows.insert(200, (rows[199][0], "n/a"))  # duplicate timestamp with a junk value
    rows.insert(300, ((t0 + 300 * timedelta(minutes=5)).isoformat(), "-4"))  # negative
    path = write(tmp_path / "messy.csv", rows)
    p = run_cli(path)
    assert p.returncode == 0, p.stderr
    out = rows_of(p.stdout)
    assert len(out) == len(rows)
    assert [r["timestamp"] for r in out] == [t for t, _ in rows]
    junk = out[100]
    assert junk["anomaly_score"] == "0.000000" and junk["alert"] == "0"
    assert all(0 <= float(r["anomaly_score"]) <= 1 for r in out)


@pytest.mark.parametrize("interval,step", [("1h", timedelta(hours=1)), ("1D", timedelta(days=1))])
def test_other_intervals(tmp_path, capsys, interval, step):
    rng = np.random.default_rng(2)
    t0 = datetime(2025, 1, 1)
    x = rng.poisson(50, 400).astype(float)
    x[350] = 400
    path = write(tmp_path / f"{interval}.csv", [((t0 + i * step).isoformat(), str(v)) for i, v in enumerate(x)])
    for args in ((), ("--interval", interval)):
        code, stdout, err = run_inproc(capsys, path, *args)
        assert code == 0, err
        out = rows_of(stdout)
        assert len(out) == 400
        assert out[350]["alert"] == "1"


def test_tiny_and_empty_files(tmp_path, capsys):
    one = write(tmp_path / "one.csv", [("2026-01-01 00:00:00", "3")])
    code, stdout, err = run_inproc(capsys, one)
    assert code == 0, err
    assert rows_of(stdout) == [{"timestamp": "2026-01-01 00:00:00", "value": "3", "anomaly_score": "0.000000",
                                  "alert": "0"}]
    header = tmp_path / "header.csv"
    header.write_text("timestamp,value\n")
    code, stdout, _ = run_inproc(capsys, header)
    assert code == 0 and stdout.strip() == "timestamp,value,anomaly_score,alert"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, stdout, _ = run_inproc(capsys, empty)
    assert code == 0 and stdout.strip() == "timestamp,value,anomaly_score,alert"
    code, _, err = run_inproc(capsys, tmp_path / "nope.csv")
    assert code == 2 and "no such file" in err


def test_epoch_timestamps_and_semicolons(tmp_path, capsys):
    rng = np.random.default_rng(3)
    x = rng.poisson(5, 2000)
    x[1900] = 60
    path = tmp_path / "epoch.csv"
    path.write_text("timestamp;value\n" + "".join(f"{1420070400 + 300 * i};{v}\n" for i, v in enumerate(x)))
    code, stdout, err = run_inproc(capsys, path)
    assert code == 0, err
    out = rows_of(stdout)
    assert len(out) == 2000 and out[0]["timestamp"] == "1420070400"
    assert out[1900]["alert"] == "1" and float(out[1900]["anomaly_score"]) > 0.5
    assert sum(int(r["alert"]) for r in out[300:1900]) == 0
