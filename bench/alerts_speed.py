"""Detection speed: 1,000 brands x 28 days of 5-minute buckets, vectorised vs a per-brand loop.

    python bench/alerts_speed.py [--brands 1000] [--days 28] [--repeat 3]

Times one full evaluation (baseline, dispersion, exact tail probabilities where the guards allow,
incident segmentation) of the volume surge detector over every brand at once, and the same with all
three kinds (volume, negative volume, negative share). The baseline in the same run is the same
detector called brand by brand (what a naive per-series implementation costs). Reports wall time
and process CPU time: on a shared machine CPU time is the fairer figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.detector import detect_counts, detect_share, segment, segment_params  # noqa: E402

STEP = timedelta(minutes=5)


def make(brands: int, days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = days * 288
    h = (np.arange(T) % 288) / 12
    profile = 0.4 + np.exp(-0.5 * ((h - 13) / 3) ** 2) + 0.8 * np.exp(-0.5 * ((h - 21) / 2) ** 2)
    base = np.exp(rng.uniform(np.log(0.3), np.log(200), brands))[:, None]
    lam = base * profile[None, :]
    total = rng.poisson(lam).astype(float)
    negative = rng.binomial(total.astype(np.int64), 0.2).astype(float)
    return total, negative


def segment_all(res) -> int:
    params = segment_params(STEP)
    n = 0
    for i in range(res.score.shape[0]):
        segs, _ = segment(res.score[i], res.extend[i], by_window=res.series_windows(i), windows=res.windows, **params)
        n += len(segs)
    return n


def timed(fn, repeat: int) -> tuple[float, float, object]:
    best_wall = best_cpu = float("inf")
    out = None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brands", type=int, default=1000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100, help="brands per batch (cache-friendly arrays)")
    ap.add_argument("--loop-brands", type=int, default=50, help="brands timed in the per-brand loop baseline")
    args = ap.parse_args()
    total, negative = make(args.brands, args.days)
    cells = total.size
    print(f"# {args.brands} brands x {args.days} days x 288 buckets = {cells / 1e6:.2f} M buckets\n")
    print("| what | wall s | CPU s | incidents |\n|---|---|---|---|")

    w, c, n = timed(lambda: segment_all(detect_counts(total, STEP)), args.repeat)
    print(f"| volume surges, vectorised (all brands at once) | {w:.2f} | {c:.2f} | {n} |")
    b = args.batch
    w, c, n = timed(lambda: sum(segment_all(detect_counts(total[i:i + b], STEP)) for i in range(0, args.brands, b)),
                    args.repeat)
    print(f"| volume surges, vectorised in batches of {b} brands (what the monitor does) | {w:.2f} | {c:.2f} | {n} |")

    def all_kinds() -> int:
        n = 0
        for i in range(0, args.brands, b):
            t, g = total[i:i + b], negative[i:i + b]
            n += (segment_all(detect_counts(t, STEP)) + segment_all(detect_counts(g, STEP))
                  + segment_all(detect_share(g, t, STEP)))
        return n

    w3, c3, n3 = timed(all_kinds, 1)
    print(f"| all three kinds (volume, negative volume, negative share), batches of {b} | {w3:.2f} | {c3:.2f} | "
          f"{n3} |")

    k = min(args.loop_brands, args.brands)
    wl, cl, _ = timed(lambda: sum(segment_all(detect_counts(total[i:i + 1], STEP)) for i in range(k)), 1)
    scale = args.brands / k
    print(f"| volume surges, per-brand loop (baseline; {k} brands timed, x{scale:.0f}) | {wl * scale:.2f} | "
          f"{cl * scale:.2f} | - |")


if __name__ == "__main__":
    main()
