"""The `schedule:` section of brands.yaml: how often each source is crawled and how many at once.

    schedule:
      intervals: {weibo: 15m, weibo_search: 1h, tieba: 30m, discuz: 1h, jd: 6h, dianping: 6h}
      jitter: 0.1              # +-10 % on every interval, so crawls never fire in lock-step
      max_per_site: {default: 1, weibo: 2}
      max_total: 4             # crawl subprocesses at once on this host
      backoff_max: 24h         # longest wait after repeated blocks/failures
      crawl_timeout: 30m       # a crawl running longer is stopped and counted as failed
      alerts_every: 1m         # alert monitor pass
      webhooks_every: 5s       # webhook outbox delivery pass
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from core.errors import ConfigError

DEFAULT_INTERVALS_S = {
    "weibo": 15 * 60,
    "weibo_search": 60 * 60,
    "tieba": 30 * 60,
    "discuz": 60 * 60,
    "jd": 6 * 3600,
    "dianping": 6 * 3600,
}
FALLBACK_INTERVAL_S = 60 * 60
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: float | int | str) -> float:
    """`90`, `"90s"`, `"15m"`, `"1.5h"`, `"1d"` -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (examples: 90, 90s, 15m, 1.5h, 1d)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


class ScheduleConfig(BaseModel):
    intervals: dict[str, float] = Field(default_factory=dict, description="seconds per source/spider")
    jitter: float = Field(default=0.1, ge=0, lt=1)
    max_per_site: dict[str, int] = Field(default_factory=lambda: {"default": 1})
    max_total: int = Field(default=4, ge=1)
    backoff_max: float = Field(default=24 * 3600, gt=0)
    crawl_timeout: float = Field(default=30 * 60, gt=0)
    alerts_every: float = Field(default=60, gt=0)
    webhooks_every: float = Field(default=5, gt=0)

    @field_validator("intervals", mode="before")
    @classmethod
    def _intervals(cls, v):
        return {k: parse_duration(x) for k, x in (v or {}).items()}

    @field_validator("backoff_max", "crawl_timeout", "alerts_every", "webhooks_every", mode="before")
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)

    @field_validator("intervals")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if x <= 0:
                raise ValueError(f"interval for {k} must be positive")
        return v

    def interval_for(self, spider: str) -> float:
        return self.intervals.get(spider) or DEFAULT_INTERVALS_S.get(spider, FALLBACK_INTERVAL_S)

    def cap_for(self, site: str) -> int:
        return max(1, self.max_per_site.get(site, self.max_per_site.get("default", 1)))


def load_schedule_yaml(path: Path) -> ScheduleConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    section = data.get("schedule", {}) if isinstance(data, dict) else {}
    try:
        return ScheduleConfig.model_validate(section or {})
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: schedule: {detail}") from exc
