"""Sensitivity presets (per brand: fewer / balanced / more) and the detector's fixed settings.

A bucket opens an incident only when all three bars are cleared on some window:
the exact tail probability is below `p_open`, the observed/expected ratio is at least `min_ratio`
and the excess is at least `min_excess` mentions. The guards are what keep "3 mentions against an
expected 0.1" from paging anyone; the tail probability is what keeps ordinary noise at high volume
from paging anyone. The defaults are chosen from first principles (false-alarm rate under the
model, what an analyst would call a surge), not tuned to a data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from core.brands import Sensitivity


@dataclass(frozen=True)
class Preset:
    name: str
    # Opening bar. p_open = 1e-4 (balanced): with ~300 five-minute buckets a day and 3 correlated
    # windows, a calibrated model pages on pure noise about once a month per brand, and the ratio
    # and excess guards remove most of those; "fewer" is 100x stricter, "more" 10x looser.
    p_open: float
    min_ratio: float
    min_excess: float
    # Negative share: the share must rise by at least this much (absolute), over at least
    # `min_negatives` negative mentions in the window.
    min_share_delta: float
    min_negatives: int


PRESETS: dict[str, Preset] = {
    "fewer": Preset("fewer", p_open=1e-6, min_ratio=2.0, min_excess=10, min_share_delta=0.25, min_negatives=10),
    "balanced": Preset("balanced", p_open=1e-4, min_ratio=1.5, min_excess=5, min_share_delta=0.15, min_negatives=5),
    "more": Preset("more", p_open=1e-3, min_ratio=1.3, min_excess=3, min_share_delta=0.10, min_negatives=3),
}

DEFAULT_PRESET = "balanced"


def get_preset(sensitivity: str | Sensitivity | None) -> Preset:
    return PRESETS[str(sensitivity or DEFAULT_PRESET)]


@dataclass(frozen=True)
class DetectorConfig:
    """Model settings shared by every preset. Durations are converted to buckets per step."""

    # A burst, an hour, an afternoon. (A 15-minute window adds recall on short low-volume waves but
    # lets a +30% level shift plus noise clear the ratio bar at high volume: not worth it.)
    windows: tuple[timedelta, ...] = (timedelta(minutes=5), timedelta(hours=1), timedelta(hours=3))
    # Seasonal baseline: same time of week over the last `weeks`, same time of day over the last
    # `days`, each an hourly block rate (interpolated within the hour) so sparse series get a stable profile.
    weeks: int = 4
    days: int = 7
    block: timedelta = timedelta(hours=1)  # the baseline's resolution (interpolated within)
    # Recent level factor: observed / seasonal expectation over the last `level_window`.
    level_window: timedelta = timedelta(days=1)
    level_prior: float = 1.0  # pseudo-mentions shrinking the level factor towards 1
    min_history: timedelta = timedelta(hours=1)
    robust_cap: float = 3.0  # cap observations at expected + this many sds before they shape the baseline
    # Over-dispersion (negative binomial alpha) estimated per window from recent residuals.
    alpha_window: timedelta = timedelta(days=7)
    alpha_prior: float = 0.1
    alpha_prior_weight: timedelta = timedelta(hours=12)
    alpha_min: float = 0.01
    alpha_clip: float = 2.0  # residuals beyond this many prior sds count as this many (robustness)
    # Low confidence (less than a day of history): the p-value bar is this much stricter.
    low_confidence_factor: float = 0.01
    # Negative share: expected share from the trailing `share_window`; beta-binomial concentration.
    share_window: timedelta = timedelta(days=3)
    share_prior: float = 0.2
    share_prior_weight: float = 20.0
    share_concentration: float = 100.0
    # Incidents: a bucket keeps an open incident alive at this fraction of the opening bar
    # (hysteresis); resolve after `quiet` without such a bucket; no new incident of the same kind
    # for `cooldown` after a resolution.
    extend_frac: float = 0.5
    extend_window: timedelta = timedelta(hours=1)  # only windows this short keep an incident open
    quiet: timedelta = timedelta(minutes=30)
    cooldown: timedelta = timedelta(hours=1)
    kinds: tuple[str, ...] = field(default=("volume_surge", "negative_volume_surge", "negative_share_surge"))


DEFAULT_CONFIG = DetectorConfig()
