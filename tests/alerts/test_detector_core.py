"""Detector behaviour: guards, real surges, seasonality, streaming, tails, share, segmentation."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from alerts import surprise
from alerts.baseline import expected
from alerts.detector import alert_mask, detect_counts, detect_share, segment, segment_params
from alerts.presets import PRESETS

STEP = timedelta(minutes=5)
DAY = 288


def _alerts(x: np.ndarray, step: timedelta = STEP, preset=None) -> np.ndarray:
    res = detect_counts(x[None, :], step, preset)
    segs, _ = segment(res.score[0], res.extend[0], by_window=res.series_windows(0), windows=res.windows,
                      **segment_params(step))
    return alert_mask(segs, 0, len(x))


def daily_rate(base: float, days: int, peak: float = 5.0) -> np.ndarray:
    """A quiet night and a strong midday peak (peak x the night rate)."""
    h = (np.arange(days * DAY) % DAY) / 12
    return base * (1 + (peak - 1) * np.exp(-0.5 * ((h - 12) / 1.5) ** 2))


def test_three_mentions_against_a_tenth_never_page():
    rng = np.random.default_rng(0)
    x = rng.poisson(0.1, 4 * DAY).astype(float)
    x[-1] = 3  # 0 -> 3 against an expected ~0.1: tiny p-value, but below the excess guard
    res = detect_counts(x[None], STEP, exact=True)
    assert res.mu[0, -1] == pytest.approx(0.1, abs=0.08)
    assert surprise.nb_sf(3, res.mu[0, -1], 0.1) < 1e-3  # "surprising" by probability alone
    assert res.anomaly[0, -1] < 0.5
    assert _alerts(x)[-1] == 0


def test_a_real_surge_alerts_at_once_at_low_volume():
    rng = np.random.default_rng(1)
    x = rng.poisson(1.0, 5 * DAY).astype(float)
    x[-6:] = [14, 18, 20, 16, 12, 15]
    a = _alerts(x)
    assert a[-6] == 1  # the first surge bucket opens the incident
    assert a[-6:].all()
    assert a[: -6].sum() == 0


def test_a_doubling_at_high_volume_alerts_and_noise_does_not():
    rng = np.random.default_rng(2)
    lam = daily_rate(40.0, 21, peak=3.0)
    x = rng.poisson(rng.gamma(20.0, lam / 20.0)).astype(float)  # over-dispersed (alpha 0.05)
    clean = _alerts(x)
    assert clean[7 * DAY:].sum() <= 2  # a week+ of over-dispersed noise: (almost) silent
    x[-DAY // 2: -DAY // 2 + 12] *= 2.5
    a = _alerts(x)
    assert a[-DAY // 2: -DAY // 2 + 3].any()


def test_the_daily_peak_is_seasonality_not_a_surge():
    rng = np.random.default_rng(3)
    x = rng.poisson(daily_rate(4.0, 15, peak=6.0)).astype(float)
    a = _alerts(x)
    # After the first days of history, the midday peak (6x the night) is expected every day.
    assert a[3 * DAY:].sum() == 0
    # A flat baseline (rolling mean) would call every noon a surge: the baseline must be seasonal.
    res = detect_counts(x[None], STEP)
    noon = 14 * DAY + 12 * 12
    assert res.mu[0, noon] > 3 * res.mu[0, noon - 10 * 12]


def test_weekly_pattern_is_learned():
    rng = np.random.default_rng(4)
    days = 28
    dow = np.arange(days * DAY) // DAY % 7
    lam = np.where(dow >= 5, 5.4, 3.0)  # weekends 1.8x busier
    x = rng.poisson(lam).astype(float)
    a = _alerts(x)
    assert a[15 * DAY:].sum() == 0  # once two weeks are known, Saturday is normal


def test_streaming_past_scores_do_not_depend_on_future_data():
    rng = np.random.default_rng(5)
    x = rng.poisson(daily_rate(2.0, 10)).astype(float)
    x[rng.integers(0, len(x), 50)] = np.nan  # gaps
    x[6 * DAY: 6 * DAY + 5] += 25
    full = detect_counts(x[None], STEP, exact=True)
    for cut in (3 * DAY + 17, 6 * DAY + 2, 8 * DAY + 100):
        part = detect_counts(x[None, :cut], STEP, exact=True)
        np.testing.assert_allclose(part.score[0], full.score[0, :cut], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(part.mu[0], full.mu[0, :cut], rtol=1e-6, equal_nan=True)
    # ... and a future surge does not move them either.
    y = x.copy()
    y[-20:] += 500
    again = detect_counts(y[None], STEP, exact=True)
    np.testing.assert_allclose(again.score[0, :-20], full.score[0, :-20], rtol=1e-9, atol=1e-12)


def test_level_shift_is_followed():
    rng = np.random.default_rng(6)
    lam = daily_rate(20.0, 16, peak=2.0)
    lam[10 * DAY:] *= 1.3  # a lasting 30% rise (a campaign): below the ratio guard, adapted to
    x = rng.poisson(lam).astype(float)
    assert _alerts(x)[10 * DAY:].sum() == 0
    res = detect_counts(x[None], STEP)
    late = slice(12 * DAY, 16 * DAY)
    assert np.nanmedian(x[late] / res.mu[0, late]) == pytest.approx(1.0, abs=0.12)


def test_cold_start_is_low_confidence_and_stricter():
    x = np.full(DAY // 2, 2.0)
    res = detect_counts(x[None], STEP)
    assert np.isnan(res.mu[0, :5]).all()  # no expectation in the first hour
    assert res.low_confidence[0, 20]
    full = detect_counts(np.full(3 * DAY, 2.0)[None], STEP)
    assert not full.low_confidence[0, -1]
    # The first expectation (after an hour) is the level seen so far, not a prior.
    busy = np.random.default_rng(12).poisson(50.0, DAY).astype(float)
    assert expected(busy[None], STEP).mu[0, 12] == pytest.approx(50.0, rel=0.15)


def test_sensitivity_presets_order():
    rng = np.random.default_rng(7)
    x = rng.poisson(5.0, 6 * DAY).astype(float)
    x[-4:] = [14, 15, 13, 16]  # about 3x: a borderline surge
    fired = {name: _alerts(x, preset=p)[-4:].any() for name, p in PRESETS.items()}
    assert fired["more"] and not fired["fewer"]
    res = {n: detect_counts(x[None], STEP, p, exact=True).score[0, -1] for n, p in PRESETS.items()}
    assert res["more"] > res["balanced"] > res["fewer"]


def test_negative_share_surge_given_total():
    rng = np.random.default_rng(8)
    n = rng.poisson(30, 5 * DAY).astype(float)
    k = rng.binomial(n.astype(int), 0.2).astype(float)
    res = detect_share(k[None], n[None], STEP)
    assert res.score[0, 2 * DAY:].max() < 1  # a steady 20% share never alerts
    k[-6:] = rng.binomial(n[-6:].astype(int), 0.7)
    res = detect_share(k[None], n[None], STEP)
    assert res.score[0, -6:].max() >= 1
    # Two negatives out of three is a 67% share but not evidence of anything.
    n2 = np.full(3 * DAY, 1.0)
    k2 = (rng.random(3 * DAY) < 0.2).astype(float)
    n2[-1], k2[-1] = 3, 2
    assert detect_share(k2[None], n2[None], STEP, exact=True).score[0, -1] < 1


def test_tail_probabilities_are_exact():
    k = np.array([1, 5, 20, 60])
    mean, alpha = np.array([2.0, 2.0, 5.0, 20.0]), np.array([0.1, 0.5, 0.05, 0.2])
    r = 1 / alpha
    expect = stats.nbinom.sf(k - 1, r, r / (r + mean))
    np.testing.assert_allclose(surprise.nb_sf(k, mean, alpha), expect, rtol=1e-8)
    np.testing.assert_allclose(surprise.poisson_sf(k, mean), stats.poisson.sf(k - 1, mean), rtol=1e-8)
    conc = 1 / 0.01 - 1
    exact = surprise.betabinom_sf_exact(np.array([8]), np.array([20]), np.array([0.2]), np.array([0.01]))
    np.testing.assert_allclose(exact, stats.betabinom.sf(7, 20, 0.2 * conc, 0.8 * conc), rtol=1e-8)
    # The fast (design-effect) beta-binomial tail: exact binomial without over-dispersion, and
    # within 10% of the exact tail on the log scale with it.
    np.testing.assert_allclose(surprise.betabinom_sf(12, 40, 0.2, 0.0), stats.binom.sf(11, 40, 0.2), rtol=1e-8)
    k, n, sh, rho = (np.array(v, dtype=float) for v in ([8, 30, 60, 15], [20, 50, 100, 20], [0.2] * 4,
                                                         [0.01, 0.005, 0.02, 0.001]))
    fast, ref = np.log(surprise.betabinom_sf(k, n, sh, rho)), np.log(surprise.betabinom_sf_exact(k, n, sh, rho))
    np.testing.assert_allclose(fast, ref, rtol=0.1)
    # Non-integer counts are accepted and monotone.
    assert surprise.nb_sf(5.5, 2.0, 0.1) < surprise.nb_sf(5.0, 2.0, 0.1)


def test_segment_hysteresis_quiet_and_cooldown():
    s = np.zeros(60)
    s[5] = 2.0  # opens
    s[6:9] = 0.6  # extends (>= half the bar)
    s[12] = 0.6  # gap of 3 < quiet 6: still the same incident
    s[25] = 1.5  # after resolution (18 + 6), but inside the cooldown (until 18 + 12 = 30): no new incident
    s[40] = 1.2  # a new incident
    segs, st = segment(s, quiet=6, cooldown=12)
    assert [g.start for g in segs] == [5, 40]
    assert segs[0].active == [5, 6, 7, 8, 12] and segs[0].resolved_at == 18
    assert segs[1].resolved_at == 46 and not st.open
    mask = alert_mask(segs, 0, 60)
    assert mask.sum() == 6 and mask[40] == 1 and mask[25] == 0


def test_segment_in_chunks_equals_one_pass():
    rng = np.random.default_rng(9)
    s = np.where(rng.random(500) < 0.05, rng.uniform(0, 3, 500), 0.0)
    whole, _ = segment(s, quiet=6, cooldown=12)
    st, segs = None, []
    for lo in range(0, 500, 37):
        part, st = segment(s[lo:lo + 37], offset=lo, state=st, quiet=6, cooldown=12)
        for g in part:
            if g.carried:
                segs[-1].active += g.active
                segs[-1].resolved_at = g.resolved_at
            else:
                segs.append(g)
    assert [(g.start, g.active, g.resolved_at) for g in segs] == [(g.start, g.active, g.resolved_at) for g in whole]


def test_a_finished_surge_does_not_reopen_from_the_long_window():
    rng = np.random.default_rng(10)
    x = rng.poisson(1.0, 4 * DAY).astype(float)
    at = 3 * DAY
    x[at:at + 6] = 20
    a = _alerts(x)
    assert a[at]
    runs = np.flatnonzero(np.diff(np.r_[0, a[at - 10:], 0]) == 1)
    assert len(runs) == 1  # one incident per surge, even though the 3-hour window stays high for 3 hours
    assert a[at + 6 + 12 + 6:].sum() == 0  # resolved within ~1.5 h of the end


def test_baseline_handles_any_step():
    rng = np.random.default_rng(11)
    for step in (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(minutes=7)):
        x = rng.poisson(3.0, 400).astype(float)
        b = expected(x[None], step)
        assert np.isfinite(b.mu[0, -50:]).all()
        assert np.nanmean(b.mu[0, -50:]) == pytest.approx(3.0, rel=0.35)


def test_volume_drop_is_optional_and_needs_an_hour():
    rng = np.random.default_rng(13)
    x = rng.poisson(20.0, 4 * DAY).astype(float)
    x[-24:] = 0  # two hours of silence where 20 per bucket were expected
    drop = detect_counts(x[None], STEP, drop=True)
    assert drop.score[0, -1] >= 1
    assert drop.detail(0, x.size - 1).window >= 12  # five-minute dips never count as a drop
    x2 = rng.poisson(20.0, 4 * DAY).astype(float)
    x2[-1] = 0  # one empty bucket is not an outage
    assert detect_counts(x2[None], STEP, drop=True).score[0, -1] < 1
    assert detect_counts(x[None], STEP).score[0, -24:].max() == 0  # the surge detector ignores drops
