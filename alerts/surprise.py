"""Exact tail probabilities and the "bar score" that turns them into one number.

Volume: negative binomial with mean M and over-dispersion alpha (variance M + alpha M^2), alpha
estimated per window from recent residuals; Poisson is the alpha -> 0 limit. Negative share:
beta-binomial around the expected share with an estimated intra-class correlation (evaluated at
its effective binomial sample size; the binomial tail exactly when there is no over-dispersion). The tails are
written through the regularised incomplete beta / gamma functions, which also accept non-integer
counts, so any real series can be scored.

The bar score of a window is min(s_p, s_ratio, s_excess, ...), each term scaled so that 1 is the
preset's bar: s_p = log p / log p_open, s_ratio = log(ratio) / log(min_ratio),
s_excess = excess / min_excess. A window clears the bar when the score is >= 1, so the guards are
not an afterthought: 3 mentions against 0.1 expected has a tiny p but s_excess = 0.58.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

P_FLOOR = 1e-300


def nb_sf(x: np.ndarray, mean: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """P(X >= x) for X ~ NegBin(mean, alpha); x may be non-integer (continuous extension)."""
    x, mean, alpha = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, mean, alpha)))
    r = 1.0 / np.maximum(alpha, 1e-12)
    q = mean / (r + mean)
    out = np.ones_like(x)
    pos = x > 0
    out[pos] = special.betainc(x[pos], r[pos], q[pos])
    return np.clip(out, P_FLOOR, 1.0)


def nb_cdf(x: np.ndarray, mean: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """P(X <= x) for X ~ NegBin(mean, alpha) (lower tail, for drops)."""
    return np.clip(1.0 - nb_sf(np.floor(np.asarray(x, dtype=float)) + 1.0, mean, alpha), P_FLOOR, 1.0)


def poisson_sf(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """P(X >= x) for X ~ Poisson(mean)."""
    x, mean = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(mean, dtype=float))
    out = np.ones_like(x)
    pos = x > 0
    out[pos] = special.gammainc(x[pos], mean[pos])
    return np.clip(out, P_FLOOR, 1.0)


def betabinom_sf(k: np.ndarray, n: np.ndarray, share: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(K >= k) for K ~ BetaBinomial(n, share, intra-class correlation rho).

    Evaluated through the binomial tail at the effective sample size n / (1 + (n - 1) rho) (the
    design effect: same mean share, same variance), with the regularised incomplete beta function,
    so it is vectorised and accepts non-integer counts; exactly the binomial tail when rho -> 0.
    `betabinom_sf_exact` is the exact (slow, per-element) reference.
    """
    k, n, share, rho = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, share, rho)))
    share = np.clip(share, 1e-9, 1 - 1e-9)
    deff = 1.0 + np.maximum(n - 1.0, 0.0) * np.maximum(rho, 0.0)
    n_eff = n / deff
    k_eff = np.minimum(k / deff, n_eff)
    out = np.ones_like(k)
    pos = k_eff > 0
    out[pos] = special.betainc(k_eff[pos], n_eff[pos] - k_eff[pos] + 1.0, share[pos])
    return np.clip(out, P_FLOOR, 1.0)


def betabinom_sf_exact(k: np.ndarray, n: np.ndarray, share: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Exact beta-binomial P(K >= k) (scipy; integer counts; slow: for checks and small inputs)."""
    k, n, share, rho = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, share, rho)))
    share = np.clip(share, 1e-6, 1 - 1e-6)
    conc = 1.0 / np.maximum(rho, 1e-9) - 1.0
    out = np.ones_like(k)
    pos = k > 0
    out[pos] = stats.betabinom.sf(np.round(k[pos]) - 1, np.round(n[pos]), share[pos] * conc[pos],
                                  (1 - share[pos]) * conc[pos])
    return np.clip(out, P_FLOOR, 1.0)


def binom_sf(k: np.ndarray, n: np.ndarray, share: np.ndarray) -> np.ndarray:
    """P(K >= k) for K ~ Binomial(n, share)."""
    return np.clip(stats.binom.sf(np.round(k) - 1, np.round(n), share), P_FLOOR, 1.0)


def p_term(p: np.ndarray, p_bar: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, P_FLOOR, 1.0)) / np.log(p_bar)


def ratio_term(observed: np.ndarray, expected: np.ndarray, min_ratio: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.maximum(observed, 1e-12) / np.maximum(expected, 1e-12)) / np.log(min_ratio)
    return np.nan_to_num(r, nan=0.0, posinf=1e6, neginf=0.0)


def excess_term(observed: np.ndarray, expected: np.ndarray, min_excess: np.ndarray) -> np.ndarray:
    return (observed - expected) / min_excess


def anomaly_score(s: np.ndarray) -> np.ndarray:
    """Map a bar score (1 = the opening bar) into [0, 1): 0.5 exactly at the bar."""
    s = np.maximum(np.nan_to_num(np.asarray(s, dtype=float), nan=0.0), 0.0)
    return s / (1.0 + s)
