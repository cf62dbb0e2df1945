"""Seasonal, trend-aware expected values for many count series at once.

expected[t] = seasonal reference[t] x recent level factor[t], computed from data strictly before t:

* seasonal reference: the same time of week over the last few weeks (a trimmed mean, so one past
  surge does not become next week's "normal") blended with the same time of day over the last
  week; built on hourly blocks and interpolated within the hour, so a series with 0-3 mentions
  per bucket still gets a stable profile (and the work is 12x smaller);
* level factor: what the last day actually brought divided by what the reference predicted for it
  (follows trends and level shifts within a day, and a weekend-to-Monday change via the weekly
  profile);
* cold start: with less than a day of history the reference is flat (the trailing mean) and the
  bucket is flagged low-confidence; with less than `min_history` there is no expectation at all.

Arrays are (series, buckets); missing buckets are NaN and are left out of every sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from alerts.presets import DEFAULT_CONFIG, DetectorConfig

DAY = timedelta(days=1)
# Coarse series (hourly, daily buckets): windows measured in time would hold too few points, so the
# level factor and the low-confidence period span at least this many blocks.
MIN_BLOCKS = 24


@dataclass
class Baseline:
    mu: np.ndarray  # expected count per bucket; NaN where there is not enough history
    low_blocks: np.ndarray  # bool per block: cold start (flat reference, under a day of history)
    blk: int  # buckets per block

    @property
    def low_confidence(self) -> np.ndarray:
        return self.low_blocks.repeat(self.blk, axis=1)[:, : self.mu.shape[1]]


def buckets(d: timedelta, step: timedelta) -> int:
    return int(round(d / step))


def periods(step: timedelta) -> tuple[int | None, int | None]:
    """(daily, weekly) period in buckets, None where the step does not divide it."""
    def period(span: timedelta) -> int | None:
        n = span / step
        return int(round(n)) if n >= 2 and abs(n - round(n)) < 1e-9 else None

    return period(DAY), period(7 * DAY)


def _prefix(a: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def trailing_sum(a: np.ndarray, n: int) -> np.ndarray:
    """Sum of a[t-n .. t-1] (strictly before t), per row."""
    c = _prefix(a)
    out = c[:, :-1].copy()
    if n < a.shape[1]:
        out[:, n:] -= c[:, : a.shape[1] - n]
    return out


def window_sums(c: np.ndarray, n: int) -> np.ndarray:
    """From a prefix sum c (T+1 columns): sum of a[t-n+1 .. t] (ending at t, inclusive)."""
    out = c[:, 1:].copy()
    if n < out.shape[1]:
        out[:, n:] -= c[:, 1 : out.shape[1] - n + 1]
    return out


def window_sum(a: np.ndarray, n: int) -> np.ndarray:
    return window_sums(_prefix(a), n)


def block_size(step: timedelta, cfg: DetectorConfig = DEFAULT_CONFIG) -> int:
    """Buckets per block: the baseline is built on ~hourly blocks (smooth, and 12x less work)."""
    return max(1, buckets(cfg.block, step)) if cfg.block > step else 1


def to_blocks(a: np.ndarray, blk: int, extra: int = 0) -> np.ndarray:
    """Sum over consecutive blocks of `blk` columns (the last one partial), plus `extra` zero blocks."""
    B, T = a.shape
    full = T // blk
    parts = [a[:, : full * blk].reshape(B, full, blk).sum(axis=2, dtype=float)]
    if full * blk < T:
        parts.append(a[:, full * blk:].sum(axis=1, dtype=float)[:, None])
    if extra:
        parts.append(np.zeros((B, extra)))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _lag_mean(rate: np.ndarray, period: int, lags: int, trim: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean of rate[t - k*period] for k = 1..lags where present (dropping the largest of >= 3)."""
    total = np.zeros_like(rate)
    count = np.zeros_like(rate)
    top = np.full_like(rate, -np.inf)
    for k in range(1, lags + 1):
        s = k * period
        if s >= rate.shape[1]:
            break
        past = rate[:, :-s]
        ok = np.isfinite(past)
        total[:, s:] += np.where(ok, past, 0.0)
        count[:, s:] += ok
        if trim:
            np.maximum(top[:, s:], np.where(ok, past, -np.inf), out=top[:, s:])
    if trim:
        drop = count >= 3
        total = np.where(drop, total - top, total)
        count = np.where(drop, count - 1, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


def expected(x: np.ndarray, step: timedelta, cfg: DetectorConfig = DEFAULT_CONFIG) -> Baseline:
    """Expected counts; two passes so that past surges do not inflate the baseline.

    Pass 1 gives a provisional (block-level) expectation; each observation is then capped at that
    expectation plus `robust_cap` standard deviations (still data before t only) before pass 2
    builds the baseline actually used. A surge last Tuesday therefore does not raise this
    Tuesday's normal, while a lasting level shift (well within the cap) is followed.
    """
    xv, valid = clean(x)
    return expected_clean(xv, valid, step, cfg)


def clean(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts as float32 with missing -> 0 and negatives -> 0, validity mask)."""
    x32 = np.atleast_2d(np.asarray(x, dtype=np.float32))
    return np.fmax(x32, np.float32(0.0)), np.isfinite(x32)


def expected_clean(xv: np.ndarray, valid: np.ndarray, step: timedelta,
                   cfg: DetectorConfig = DEFAULT_CONFIG) -> Baseline:
    """`expected` on arrays already passed through `clean`."""
    B, T = xv.shape
    blk = block_size(step, cfg)
    hn = to_blocks(valid, blk, extra=1)
    lvl, slope, low_b = _block_expectation(to_blocks(xv, blk, extra=1), hn, step * blk, cfg)
    if cfg.robust_cap > 0:
        m = lvl + cfg.robust_cap * np.sqrt(lvl + cfg.alpha_prior * lvl * lvl) + 1.0
        m = np.where(np.isfinite(m), m, np.inf)  # no expectation yet: nothing to cap against
        lvl, slope, low_b = _block_expectation(_capped_blocks(xv, m, blk), hn, step * blk, cfg)
    nb = lvl.shape[1]
    # Enough history: `min_history` valid buckets before t's block (NaN expectation otherwise).
    hist_b = trailing_sum(hn, nb)
    ok_b = hist_b >= max(1, buckets(cfg.min_history, step))
    lvl = np.where(ok_b, lvl, np.nan).astype(np.float32)
    pos = ((np.arange(blk) + 0.5) / blk - 0.5).astype(np.float32)
    left, right = slope.astype(np.float32)
    mu = left[:, :, None] * np.minimum(pos, 0)[None, None, :]
    mu += right[:, :, None] * np.maximum(pos, 0)[None, None, :]
    mu += lvl[:, :, None]
    mu = mu.reshape(B, nb * blk)[:, :T]
    low = low_b | (hist_b < max(buckets(DAY, step), MIN_BLOCKS * blk))
    return Baseline(mu=mu, low_blocks=low, blk=blk)


def _capped_blocks(xv: np.ndarray, cap: np.ndarray, blk: int) -> np.ndarray:
    """to_blocks(min(xv, cap of the bucket's block)) without materialising the repeated cap."""
    B, T = xv.shape
    full = T // blk
    parts = [np.minimum(xv[:, : full * blk].reshape(B, full, blk), cap[:, :full, None]).sum(axis=2)]
    if full * blk < T:
        parts.append(np.minimum(xv[:, full * blk:], cap[:, full:full + 1]).sum(axis=1)[:, None])
    have = full + (full * blk < T)
    parts.append(np.zeros((B, cap.shape[1] - have)))
    return np.concatenate(parts, axis=1)


def _block_expectation(hx: np.ndarray, hn: np.ndarray, bstep: timedelta,
                       cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: expected count per bucket at the block's centre, its slope across the block,
    and the low-confidence flag (no seasonal reference yet)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(hn > 0, hx / hn, np.nan)  # mean count per bucket in each block
    pd, pw = periods(bstep)
    ref = np.full_like(rate, np.nan)
    if pd is not None:
        ref, _ = _lag_mean(rate, pd, cfg.days, trim=False)
    if pw is not None:
        weekly, nw = _lag_mean(rate, pw, cfg.weeks, trim=True)
        # Shrink towards the daily profile while few weeks are known (1 week: half and half).
        w = nw / (nw + 1.0)
        has_w = np.isfinite(weekly)
        ref = np.where(has_w & np.isfinite(ref), w * weekly + (1 - w) * ref, np.where(has_w, weekly, ref))
    low = ~np.isfinite(ref)
    # Cold start: a flat reference in the same units (the mean rate of all blocks so far), so that
    # the level factor compares like with like when the seasonal reference takes over.
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = trailing_sum(hx, hx.shape[1]) / trailing_sum(hn, hn.shape[1])
    known = ~low | np.isfinite(cum)
    ref = np.where(low, np.nan_to_num(cum, nan=1.0), ref)

    # Level factor of block j from the complete blocks before it.
    Lb = max(MIN_BLOCKS, buckets(cfg.level_window, bstep))
    xs = trailing_sum(np.where(known, hx, 0.0), Lb)
    rs = trailing_sum(np.where(known, ref * hn, 0.0), Lb)
    factor = (xs + cfg.level_prior) / (rs + cfg.level_prior)
    lvl = np.where(known, np.maximum(ref * factor, 1e-9), np.nan)
    # Piecewise-linear between block centres (towards the previous block's reference in the
    # first half, towards the next one in the second): never overshoots a neighbour.
    prev = np.concatenate([ref[:, :1], ref[:, :-1]], axis=1)
    nxt = np.concatenate([ref[:, 1:], ref[:, -1:]], axis=1)
    slope = np.stack([np.where(low, 0.0, ref - prev) * factor, np.where(low, 0.0, nxt - ref) * factor])
    return lvl, slope, low
