"""The vectorised detection core: many series x many buckets at once, streaming-safe.

Every score at bucket t uses data up to t only (the baseline uses data before t, the windows end
at t), so appending future buckets never changes a past score. Arrays are (series, buckets);
missing buckets are NaN and score 0.

`detect_counts` scores volume (or negative volume) surges, `detect_share` negative-share surges,
`segment` turns one series of scores into incidents (open / extend / resolve with hysteresis and
cooldown) from a persisted state, which is how both the CLI and the streaming monitor use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from alerts import surprise
from alerts.baseline import MIN_BLOCKS, block_size, buckets, clean, expected_clean, to_blocks, trailing_sum
from alerts.presets import DEFAULT_CONFIG, DetectorConfig, Preset, get_preset

SKIP_Z = 1.5


@dataclass
class Detail:
    """What produced the score of one bucket: its best window."""

    window: int  # window length in buckets (0: nothing scored)
    observed: float  # window sum observed
    expected: float  # window sum expected
    p_value: float  # exact tail probability of the window (1.0 where not computed)
    score: float  # bar score (1 = the opening bar)


@dataclass
class Scores:
    """Per bucket: the bar score (max over windows); per window, the scored cells (sparse).

    Only cells that could reach the extend bar are scored exactly; the rest score 0. Details are
    kept per window as sorted flat indices, so 8 million buckets cost no 8-million-cell scatter.
    """

    score: np.ndarray  # (series, buckets) >= 0; 1 is the opening bar (max over all windows)
    extend: np.ndarray  # the same over the windows short enough to extend an incident (<= 1 h)
    windows: list[int]  # window lengths in buckets
    mu: np.ndarray  # expected count per bucket (volume kinds) or expected share (share kind)
    low_blocks: np.ndarray  # bool per block: low-confidence (cold-start) baseline
    blk: int  # buckets per block
    # per window: flat index (row * buckets + bucket), score, observed, expected, -log10 p
    cells: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    @property
    def anomaly(self) -> np.ndarray:
        return surprise.anomaly_score(self.score)

    @property
    def low_confidence(self) -> np.ndarray:
        return self.low_blocks.repeat(self.blk, axis=1)[:, : self.mu.shape[1]]

    def is_low_confidence(self, i: int, t: int) -> bool:
        return bool(self.low_blocks[i, t // self.blk])

    def _lookup(self, k: int, flat: int) -> int | None:
        lin = self.cells[k][0]
        j = int(np.searchsorted(lin, flat))
        return j if j < len(lin) and lin[j] == flat else None

    def detail(self, i: int, t: int) -> Detail:
        flat = i * self.score.shape[1] + t
        best = Detail(0, 0.0, 0.0, 1.0, 0.0)
        for k, w in enumerate(self.windows):
            j = self._lookup(k, flat)
            if j is not None and self.cells[k][1][j] > best.score:
                _, s, X, M, nlp = (a[j] for a in self.cells[k])
                best = Detail(w, float(X), float(M), float(10.0 ** -nlp), float(s))
        return best

    def series_windows(self, i: int) -> np.ndarray:
        """(windows, buckets) scores of each window for series i (dense, for `segment`)."""
        T = self.score.shape[1]
        out = np.zeros((len(self.windows), T))
        for k, (lin, s, *_rest) in enumerate(self.cells):
            lo, hi = np.searchsorted(lin, [i * T, (i + 1) * T])
            out[k, lin[lo:hi] - i * T] = s[lo:hi]
        return out


def window_lengths(step: timedelta, cfg: DetectorConfig = DEFAULT_CONFIG) -> list[int]:
    return sorted({max(1, buckets(w, step)) for w in cfg.windows})


def _bars(preset: Preset | Sequence[Preset], rows: int) -> dict[str, np.ndarray]:
    ps = [preset] * rows if isinstance(preset, Preset) else list(preset)
    if len(ps) != rows:
        raise ValueError(f"{len(ps)} presets for {rows} series")
    return {k: np.array([getattr(p, k) for p in ps], dtype=float)[:, None]
            for k in ("p_open", "min_ratio", "min_excess", "min_share_delta", "min_negatives")}


def _dispersion(resid2_minus_var: np.ndarray, scale: np.ndarray, defined: np.ndarray, step: timedelta,
                cfg: DetectorConfig, prior: float, floor: float) -> np.ndarray:
    """Moment estimate sum(resid^2 - var0) / sum(scale) over the trailing window, shrunk to a prior.

    Inputs are sampled once per block (at its last bucket); the result for block j uses samples
    from blocks before j only. Returns one value per block (one extra at the end).
    """
    bstep = step * block_size(step, cfg)
    W = max(3 * MIN_BLOCKS, buckets(cfg.alpha_window, bstep))
    n0 = max(MIN_BLOCKS / 4, cfg.alpha_prior_weight / bstep)
    pad = lambda a: np.concatenate([a, np.zeros((a.shape[0], 1))], axis=1)  # noqa: E731
    num = trailing_sum(pad(np.where(defined, resid2_minus_var, 0.0)), W)
    den = trailing_sum(pad(np.where(defined, scale, 0.0)), W)
    n = trailing_sum(pad(defined.astype(float)), W)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(den > 0, np.maximum(num / den, 0.0), prior)
    return np.maximum((n * est + n0 * prior) / (n + n0), floor)


def _block_samples(a: np.ndarray, blk: int) -> np.ndarray:
    """a at the last bucket of every block (the last block may be partial: its last bucket)."""
    T = a.shape[1]
    idx = np.minimum(np.arange(blk - 1, T + blk - 1, blk), T - 1)
    return a[:, idx]


def _empty_scores(shape: tuple[int, int], mu: np.ndarray, low: np.ndarray, blk: int,
                  windows: list[int]) -> Scores:
    empty = np.zeros(0)
    return Scores(score=np.zeros(shape, dtype=np.float32), extend=np.zeros(shape, dtype=np.float32),
                  windows=windows, mu=mu, low_blocks=low, blk=blk,
                  cells=[(np.zeros(0, dtype=np.int64), empty, empty, empty, empty) for _ in windows])


def _record(best: Scores, r: np.ndarray, c: np.ndarray, s: np.ndarray, w: int, X: np.ndarray,
            M: np.ndarray, p: np.ndarray, extends: bool) -> None:
    """Store window w's scored cells; fold them into the max-over-windows arrays."""
    T = best.score.shape[1]
    lin = r.astype(np.int64) * T + c  # np.nonzero order: already sorted
    best.cells[best.windows.index(w)] = (lin, s, X, M, -np.log10(p))
    flat = best.score.reshape(-1)
    flat[lin] = np.maximum(flat[lin], s)
    if extends:
        ext = best.extend.reshape(-1)
        ext[lin] = np.maximum(ext[lin], s)


def _window_into(c: np.ndarray, w: int, out: np.ndarray) -> np.ndarray:
    """From a prefix sum c (T+1 columns): out[t] = sum of the w buckets ending at t."""
    T = out.shape[1]
    w = min(w, T)
    out[:, :w] = c[:, 1 : w + 1]
    np.subtract(c[:, w + 1 :], c[:, 1 : T - w + 1], out=out[:, w:], casting="same_kind")
    return out


def detect_counts(x: np.ndarray, step: timedelta, preset: Preset | Sequence[Preset] | None = None,
                  cfg: DetectorConfig = DEFAULT_CONFIG, *, exact: bool = False, drop: bool = False) -> Scores:
    """Surge (or, with drop=True, drop) scores for count series x (series, buckets).

    Tail probabilities are computed only where the ratio and excess guards could let the score
    reach the extend bar (exact=True: wherever the observation is above expectation); elsewhere
    the score is reported as 0. Decisions are the same either way.
    """
    xv, valid = clean(x)
    B, T = xv.shape
    bars = _bars(preset or get_preset(None), B)
    base = expected_clean(xv, valid, step, cfg)
    has = np.isfinite(base.mu)
    has &= valid
    # Prefix sums in float64 (window sums are differences of them); the rest is float32.
    cx, cm = np.zeros((B, T + 1)), np.zeros((B, T + 1))
    np.cumsum(np.where(has, xv, np.float32(0.0)), axis=1, out=cx[:, 1:], dtype=float)
    np.cumsum(np.where(has, base.mu, np.float32(0.0)), axis=1, out=cm[:, 1:], dtype=float)
    blk = block_size(step, cfg)
    hour = max(2, buckets(timedelta(hours=1), step))
    p_open = bars["p_open"][:, 0]
    best = _empty_scores((B, T), base.mu, base.low_blocks, base.blk, window_lengths(step, cfg))
    e = 0.0 if exact else cfg.extend_frac
    ext_w = max(1, buckets(cfg.extend_window, step))
    X, M, tmp = (np.empty((B, T), dtype=np.float32) for _ in range(3))
    need, more = np.empty((B, T), dtype=bool), np.empty((B, T), dtype=bool)
    for w in window_lengths(step, cfg):
        if drop and w < hour:
            continue  # a five-minute dip is noise, not an outage
        _window_into(cx, w, X)
        _window_into(cm, w, M)
        hi, lo = (M, X) if drop else (X, M)
        # Cheap guard pre-filter (float32); exact terms are computed on the survivors only.
        np.subtract(hi, lo, out=tmp)
        np.greater_equal(tmp, (e * bars["min_excess"]).astype(np.float32), out=need)
        np.multiply(lo, (bars["min_ratio"] ** e).astype(np.float32), out=tmp)
        np.greater(hi, tmp, out=more)
        need &= more
        need &= has
        r, c = np.nonzero(need)
        if len(r) == 0:
            continue
        # Dispersion from block-end samples of this window's residuals (robustly clipped).
        Xs, Ms = _block_samples(X, blk).astype(float), _block_samples(M, blk).astype(float)
        ds = _block_samples(has, blk) & (Ms > 0)
        alpha_b = np.full((B, Xs.shape[1] + 1), cfg.alpha_prior)
        # Two rounds: residuals are clipped at `alpha_clip` sds of the current estimate (the prior
        # first), so a surge does not inflate alpha and a truly noisy series is not clipped to the prior.
        for _ in range(2):
            var0 = Ms + alpha_b[:, :-1] * Ms**2
            with np.errstate(invalid="ignore", divide="ignore"):
                z = np.clip((Xs - Ms) / np.sqrt(np.where(ds, var0, 1.0)), -cfg.alpha_clip, cfg.alpha_clip)
            alpha_b = _dispersion(z**2 * var0 - Ms, Ms**2, ds, step, cfg, cfg.alpha_prior, cfg.alpha_min)
        Xn, Mn = X[r, c].astype(float), M[r, c].astype(float)
        alpha = alpha_b[r, c // blk]
        if not exact:
            # Below 1.5 standard deviations the exact tail probability of any negative binomial
            # (Poisson included) is above ~0.05, above every preset's extend bar: skip those.
            keep = np.abs(Xn - Mn) >= SKIP_Z * np.sqrt(Mn + alpha * Mn * Mn)
            r, c, Xn, Mn, alpha = r[keep], c[keep], Xn[keep], Mn[keep], alpha[keep]
        hin, lon = (Mn, Xn) if drop else (Xn, Mn)
        guard = np.minimum(surprise.ratio_term(hin, lon + (0.5 if drop else 0.0), bars["min_ratio"][r, 0]),
                           surprise.excess_term(hin, lon, bars["min_excess"][r, 0]))
        pv = surprise.nb_cdf(Xn, Mn, alpha) if drop else surprise.nb_sf(Xn, Mn, alpha)
        p_bar = np.where(base.low_blocks[r, c // blk], p_open[r] * cfg.low_confidence_factor, p_open[r])
        s = np.maximum(np.minimum(guard, surprise.p_term(pv, p_bar)), 0.0)
        _record(best, r, c, s, w, Xn, Mn, pv, w <= ext_w)
    return best


def detect_share(negative: np.ndarray, total: np.ndarray, step: timedelta,
                 preset: Preset | Sequence[Preset] | None = None, cfg: DetectorConfig = DEFAULT_CONFIG,
                 *, exact: bool = False) -> Scores:
    """Negative-share surge scores: is the negative count high *given* the total?

    The expected share comes from the complete blocks of the trailing `share_window` (shrunk to a
    prior share); the tail is beta-binomial with an intra-class correlation rho estimated like the
    volume dispersion (Var K = N s (1 - s) (1 + (N - 1) rho)).
    """
    kv, k_ok = clean(negative)
    nv, valid = clean(total)
    B, T = nv.shape
    bars = _bars(preset or get_preset(None), B)
    valid &= k_ok
    np.minimum(kv, nv, out=kv)
    blk = block_size(step, cfg)
    Ls = max(MIN_BLOCKS, buckets(cfg.share_window, step * blk))
    hk, hn, hv = to_blocks(kv, blk), to_blocks(nv, blk), to_blocks(valid, blk)
    share_b = (trailing_sum(hk, Ls) + cfg.share_prior * cfg.share_prior_weight) / (
        trailing_sum(hn, Ls) + cfg.share_prior_weight)
    hist_b = trailing_sum(hv, hv.shape[1])  # valid buckets before each block
    low_b = hist_b < max(buckets(timedelta(days=1), step), MIN_BLOCKS * blk)
    ok_b = hist_b >= max(1, buckets(cfg.min_history, step))
    share = np.where(ok_b, share_b, np.nan).astype(np.float32).repeat(blk, axis=1)[:, :T]
    p_open = bars["p_open"][:, 0]
    best = _empty_scores((B, T), share, low_b, blk, window_lengths(step, cfg))
    e = 0.0 if exact else cfg.extend_frac
    ext_w = max(1, buckets(cfg.extend_window, step))
    ck, cn = np.zeros((B, T + 1)), np.zeros((B, T + 1))
    np.cumsum(np.where(valid, kv, np.float32(0.0)), axis=1, out=ck[:, 1:], dtype=float)
    np.cumsum(np.where(valid, nv, np.float32(0.0)), axis=1, out=cn[:, 1:], dtype=float)
    K, N, tmp = (np.empty((B, T), dtype=np.float32) for _ in range(3))
    need, more = np.empty((B, T), dtype=bool), np.empty((B, T), dtype=bool)
    has = valid & np.isfinite(share)
    for w in window_lengths(step, cfg):
        _window_into(ck, w, K)
        _window_into(cn, w, N)
        # Cheap pre-filter on the guards (excess, share delta, ratio, count of negatives).
        np.multiply(N, share, out=tmp)  # expected negatives E
        np.subtract(K, tmp, out=tmp)  # K - E
        np.greater_equal(tmp, (e * bars["min_excess"]).astype(np.float32), out=need)
        np.greater_equal(tmp, (e * bars["min_share_delta"]).astype(np.float32) * N, out=more)
        need &= more
        np.greater_equal(K, (e * bars["min_negatives"]).astype(np.float32), out=more)
        need &= more
        need &= has
        r, c = np.nonzero(need)
        if len(r) == 0:
            continue
        Kn, Nn, sh = K[r, c].astype(float), N[r, c].astype(float), share[r, c].astype(float)
        En = Nn * sh
        # Intra-class correlation from block-end samples of this window's residuals.
        Ks, Ns, ss = _block_samples(K, blk).astype(float), _block_samples(N, blk).astype(float), \
            _block_samples(share, blk).astype(float)
        hs = _block_samples(has, blk) & (Ns > 1)
        ss = np.where(hs, ss, 0.0)
        binvar = Ns * ss * (1 - ss)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.clip((Ks - Ns * ss) / np.sqrt(np.where(hs & (binvar > 0), binvar, 1.0)),
                        -cfg.alpha_clip, cfg.alpha_clip)
        rho_b = _dispersion(z**2 * binvar - binvar, binvar * np.maximum(Ns - 1, 0), hs, step, cfg,
                            prior=1.0 / (cfg.share_concentration + 1), floor=1e-4)
        rho = rho_b[r, c // blk]
        if not exact:
            keep = Kn - En >= SKIP_Z * np.sqrt(En * (1 - sh) * (1 + (Nn - 1) * rho))
            r, c, Kn, Nn, sh, En, rho = (a[keep] for a in (r, c, Kn, Nn, sh, En, rho))
        guard = np.minimum.reduce([
            surprise.ratio_term(Kn, En, bars["min_ratio"][r, 0]),
            surprise.excess_term(Kn, En, bars["min_excess"][r, 0]),
            (Kn / np.maximum(Nn, 1e-12) - sh) / bars["min_share_delta"][r, 0],
            Kn / bars["min_negatives"][r, 0],
        ])
        pv = surprise.betabinom_sf(Kn, Nn, sh, rho)
        p_bar = np.where(low_b[r, c // blk], p_open[r] * cfg.low_confidence_factor, p_open[r])
        s = np.maximum(np.minimum(guard, surprise.p_term(pv, p_bar)), 0.0)
        _record(best, r, c, s, w, Kn, En, pv, w <= ext_w)
    return best


# Incidents as segments of a score series ------------------------------------------------------

@dataclass
class SegmentState:
    """What must survive between passes (absolute bucket numbers)."""

    open: bool = False
    last_active: int | None = None  # last bucket that opened or extended the open incident
    cooldown_until: int | None = None  # first bucket where a new incident may open


@dataclass
class Segment:
    start: int  # absolute bucket that opened it (or the first bucket of this chunk if carried over)
    active: list[int] = field(default_factory=list)  # absolute buckets that opened or extended it
    resolved_at: int | None = None  # absolute bucket at which the quiet period completed
    carried: bool = False  # it was already open before this chunk


def segment(score: np.ndarray, extend: np.ndarray | None = None, *, by_window: np.ndarray | None = None,
            windows: Sequence[int] | None = None, offset: int = 0, state: SegmentState | None = None,
            quiet: int = 6, cooldown: int = 12, extend_frac: float = 0.5,
            open_bar: float = 1.0) -> tuple[list[Segment], SegmentState]:
    """Walk a score series (absolute bucket `offset` first) from `state`; return incident segments.

    * open: a bucket with score >= open_bar, not before `cooldown_until`; with `by_window` given,
      a window that still overlaps the previous incident does not count (evidence already used
      for one incident never opens the next one: a 3-hour window remembering a finished surge);
    * extend: a bucket whose short-window score `extend` is >= extend_frac x open_bar
      (hysteresis: the bar to stay open is lower than the bar to open);
    * resolve: once `quiet` consecutive buckets did not extend it.
    """
    st = SegmentState(**vars(state)) if state else SegmentState()
    s = np.nan_to_num(np.asarray(score, dtype=float), nan=0.0)
    x = s if extend is None else np.nan_to_num(np.asarray(extend, dtype=float), nan=0.0)
    T = len(s)
    act = np.flatnonzero(x >= extend_frac * open_bar) + offset
    opens = np.flatnonzero(s >= open_bar) + offset
    end = offset + T  # first bucket not seen yet
    segs: list[Segment] = []
    cur: Segment | None = None
    if st.open:
        cur = Segment(start=offset, carried=True)
        segs.append(cur)
    pos = offset
    while pos < end:
        if cur is None:
            earliest = max(pos, st.cooldown_until if st.cooldown_until is not None else pos)
            i = int(np.searchsorted(opens, earliest))
            while i < len(opens) and not _fresh(int(opens[i]), st.last_active, by_window, windows, offset,
                                                open_bar):
                i += 1
            if i >= len(opens):
                break
            o = int(opens[i])
            cur = Segment(start=o, active=[o])
            segs.append(cur)
            st.open, st.last_active = True, o
            pos = o + 1
            continue
        # Extend through active buckets until a gap of `quiet` buckets.
        j = np.searchsorted(act, pos)
        while j < len(act) and int(act[j]) - st.last_active - 1 < quiet:
            if int(act[j]) > st.last_active:
                st.last_active = int(act[j])
                cur.active.append(st.last_active)
            j += 1
        resolve_at = st.last_active + quiet
        if resolve_at < end:
            cur.resolved_at = resolve_at
            st.open = False
            st.cooldown_until = resolve_at + cooldown
            cur = None
            pos = resolve_at + 1
        else:
            break
    return segs, st


def _fresh(t: int, last_active: int | None, by_window: np.ndarray | None, windows: Sequence[int] | None,
           offset: int, open_bar: float) -> bool:
    """Does some window that does not reach back into the previous incident clear the bar at t?"""
    if by_window is None or windows is None or last_active is None:
        return True
    gap = t - last_active
    return any(w <= gap and by_window[k][t - offset] >= open_bar for k, w in enumerate(windows))


def alert_mask(segs: list[Segment], offset: int, length: int) -> np.ndarray:
    """1 on buckets that opened or extended an incident."""
    out = np.zeros(length, dtype=np.int8)
    for sg in segs:
        idx = np.asarray(sg.active, dtype=int) - offset
        out[idx[(idx >= 0) & (idx < length)]] = 1
    return out


def segment_params(step: timedelta, cfg: DetectorConfig = DEFAULT_CONFIG) -> dict:
    return {"quiet": max(1, buckets(cfg.quiet, step)), "cooldown": max(0, buckets(cfg.cooldown, step)),
            "extend_frac": cfg.extend_frac}
