"""Per-key rate limits: a token bucket per API key, in memory, per process.

Why in memory: one API process is the default deployment and a bucket lookup costs microseconds. With
N uvicorn workers (or N replicas) each process keeps its own buckets, so a key's effective limit is
N x its configured rate; put a shared limiter (e.g. at the proxy) in front when that matters.
The bucket holds `per_minute` tokens at most (one minute's burst) and refills continuously.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # 0 when allowed


class RateLimiter:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, per_minute: int, cost: float = 1.0) -> Decision:
        rate = per_minute / 60.0
        now = self._clock()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(tokens=float(per_minute), updated=now)
            b.tokens = min(float(per_minute), b.tokens + (now - b.updated) * rate)
            b.updated = now
            if b.tokens >= cost:
                b.tokens -= cost
                return Decision(True, per_minute, int(b.tokens), 0)
            wait = (cost - b.tokens) / rate
            return Decision(False, per_minute, 0, max(1, math.ceil(wait)))

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._buckets.clear()
            else:
                self._buckets.pop(key, None)
