"""Evaluation CLI (a contract): score one count series with the shipped defaults.

    python -m alerts.detect --csv PATH [--interval 5min] [--sensitivity balanced]

Reads a CSV with columns `timestamp,value` and writes to stdout `timestamp,value,anomaly_score,alert`,
one row per input row, in input order. `anomaly_score` is in [0, 1] (0.5 is the opening bar);
`alert` is 1 on buckets that open or extend an incident (a volume surge) under the default
configuration. Streaming: the score of a row uses only rows up to its bucket.

Robust to real files: any interval (inferred from the timestamps when omitted), gaps (missing
buckets are unknown, not zero), several rows in one bucket (summed), unparseable timestamps or
values (scored 0), negative or non-integer values.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from alerts.detector import alert_mask, detect_counts, segment, segment_params
from alerts.presets import DEFAULT_CONFIG, PRESETS, get_preset

MAX_BUCKETS = 2_000_000


def parse_interval(text: str) -> timedelta:
    aliases = {"hour": "1h", "hourly": "1h", "day": "1D", "daily": "1D", "week": "7D", "minute": "1min"}
    try:
        td = pd.Timedelta(aliases.get(text.strip().lower(), text.strip()))
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read interval {text!r} (try 5min, 1h, 1D)") from exc
    if td <= pd.Timedelta(0):
        raise argparse.ArgumentTypeError(f"interval must be positive, got {text!r}")
    return td.to_pytimedelta()


def infer_interval(ts: np.ndarray) -> timedelta:
    """Median spacing of distinct timestamps (int64 ns); 5 minutes when it cannot be told."""
    u = np.unique(ts)
    if len(u) < 2:
        return timedelta(minutes=5)
    d = np.diff(u)
    return timedelta(microseconds=float(np.median(d)) / 1000)


def read_series(path: Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Raw timestamp and value texts (echoed back verbatim), parsed ns timestamps (NaT -> min) and values."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        head = fh.readline()
    sep = "," if "," in head or not head.strip() else None  # None: sniff ';' or tab separated files
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, sep=sep,
                      engine="c" if sep else "python", encoding="utf-8-sig")
    cols = {c.strip().lower(): c for c in raw.columns}
    if "timestamp" in cols and "value" in cols:
        tcol, vcol = cols["timestamp"], cols["value"]
    elif len(raw.columns) >= 2:
        tcol, vcol = raw.columns[0], raw.columns[1]
    else:
        raise SystemExit(f"{path}: expected columns timestamp,value; got {list(raw.columns)}")
    ts_text = raw[tcol].astype(str).tolist()
    val_text = raw[vcol].astype(str).tolist()
    ts = _parse_times(raw[tcol])
    values = np.array(pd.to_numeric(raw[vcol].str.strip(), errors="coerce"), dtype=float)
    values[~np.isfinite(values)] = np.nan
    ns = ts.to_numpy(dtype="datetime64[ns]").astype("int64")
    ns = np.where(ts.isna().to_numpy(), np.iinfo(np.int64).min, ns)
    return ts_text, val_text, ns, values


def _parse_times(col: pd.Series) -> pd.Series:
    """ISO-ish or any pandas-readable text; all-numeric columns are Unix epochs (s, ms or us)."""
    text = col.astype(str).str.strip()
    nums = pd.to_numeric(text, errors="coerce")
    if len(text) and nums.notna().mean() > 0.9:
        big = float(nums.abs().median())
        unit = "s" if big < 1e11 else "ms" if big < 1e14 else "us"
        return pd.to_datetime(nums, unit=unit, errors="coerce", utc=True)
    return pd.to_datetime(text, errors="coerce", utc=True, format="mixed")


def score_rows(ns: np.ndarray, values: np.ndarray, step: timedelta | None,
               sensitivity: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (anomaly_score, alert) for parsed timestamps (int64 ns, int64.min = unparseable)."""
    n = len(ns)
    score = np.zeros(n)
    alert = np.zeros(n, dtype=np.int8)
    ok = ns != np.iinfo(np.int64).min
    if not ok.any():
        return score, alert
    if step is None:
        step = infer_interval(ns[ok])
    step_ns = max(1, int(step / timedelta(microseconds=1)) * 1000)
    origin = ns[ok].min()
    span = int(ns[ok].max() - origin)
    if span // step_ns + 1 > MAX_BUCKETS:  # a tiny interval over years: coarsen rather than explode
        step_ns = span // (MAX_BUCKETS - 1) + 1
        step = timedelta(microseconds=step_ns / 1000)
    idx = np.zeros(n, dtype=np.int64)
    idx[ok] = (ns[ok] - origin) // step_ns
    T = int(idx[ok].max()) + 1
    sums = np.zeros(T)
    seen = np.zeros(T, dtype=bool)
    good = ok & np.isfinite(values)
    np.add.at(sums, idx[good], values[good])
    seen[idx[good]] = True
    series = np.where(seen, sums, np.nan)
    res = detect_counts(series[None, :], step, get_preset(sensitivity), DEFAULT_CONFIG, exact=True)
    segs, _ = segment(res.score[0], res.extend[0], by_window=res.series_windows(0), windows=res.windows,
                      **segment_params(step, DEFAULT_CONFIG))
    mask = alert_mask(segs, 0, T)
    bucket_score = res.anomaly[0]
    score[ok] = bucket_score[idx[ok]]
    alert[ok] = mask[idx[ok]]
    # A row whose own value is missing was not scored.
    score[~good] = 0.0
    alert[~good] = 0
    return score, alert


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m alerts.detect", description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", required=True, type=Path, help="input CSV with columns timestamp,value")
    ap.add_argument("--interval", type=parse_interval, default=None,
                    help="bucket length, e.g. 5min, 1h, 1D (default: inferred from the timestamps)")
    ap.add_argument("--sensitivity", choices=sorted(PRESETS), default=None,
                    help="preset (default: balanced, the shipped default)")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"error: no such file: {args.csv}", file=sys.stderr)
        return 2
    try:
        ts_text, val_text, ns, values = read_series(args.csv)
    except pd.errors.EmptyDataError:
        ts_text, val_text, ns, values = [], [], np.zeros(0, dtype=np.int64), np.zeros(0)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.csv} as CSV: {exc}", file=sys.stderr)
        return 2
    score, alert = score_rows(ns, values, args.interval, args.sensitivity)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["timestamp", "value", "anomaly_score", "alert"])
    for t, v, s, a in zip(ts_text, val_text, score, alert, strict=True):
        w.writerow([t, v, f"{s:.6f}", int(a)])
    sys.stdout.write(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
