"""Per-key rate limits: a token bucket per API key.

The bucket holds `per_minute` tokens at most (one minute's burst) and refills continuously.
Two homes for the buckets:
- `RateLimiter`, in memory, per process: the default for one API process; a lookup costs microseconds.
- `RedisRateLimiter`, in Redis (used when `OPMON_REDIS_URL` is set, `OPMON_RATE_LIMIT_BACKEND=auto`): one
  bucket per key shared by every uvicorn worker and replica, so N processes do not grant N x the rate.
  The refill-and-take runs as one Lua script on Redis's clock (atomic, no skew between hosts). When
  Redis cannot be reached the request is limited by the process's own bucket instead (logged, counted
  in `opmon_ratelimit_fallback_total`): a limiter outage must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from core.metrics import RATELIMIT_FALLBACK

log = logging.getLogger(__name__)
BUCKET_TTL_MS = 61_000  # a minute refills any bucket: an idle one is simply forgotten


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

    async def ahit(self, key: str, per_minute: int, cost: float = 1.0) -> Decision:
        return self.hit(key, per_minute, cost)

    async def aclose(self) -> None:
        pass

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._buckets.clear()
            else:
                self._buckets.pop(key, None)


# KEYS[1] bucket; ARGV: capacity, tokens per millisecond, cost, key TTL (ms). Returns {allowed, tokens}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(v[1]) or cap
local updated = tonumber(v[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API process (see the module docstring)."""

    PREFIX = "opmon:ratelimit:"

    def __init__(self, url: str, *, fallback: RateLimiter | None = None, timeout_s: float = 0.25):
        import redis.asyncio as aredis

        self._client = aredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._down = (aredis.RedisError, OSError)  # what makes a request fall back to the process bucket
        self._take = self._client.register_script(_TAKE)
        self.fallback = fallback or RateLimiter()
        self._warned_at = -math.inf

    async def ahit(self, key: str, per_minute: int, cost: float = 1.0) -> Decision:
        rate_ms = per_minute / 60_000.0
        try:
            allowed, tokens = await self._take(keys=[self.PREFIX + key], args=[per_minute, rate_ms, cost, BUCKET_TTL_MS])
        except self._down as e:
            RATELIMIT_FALLBACK.inc()
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("rate limiter: Redis unreachable (%s); limiting per process meanwhile", type(e).__name__)
            return self.fallback.hit(key, per_minute, cost)
        tokens = float(tokens)
        if allowed:
            return Decision(True, per_minute, int(tokens), 0)
        return Decision(False, per_minute, 0, max(1, math.ceil((cost - tokens) / (rate_ms * 1000))))

    async def aclose(self) -> None:
        await self._client.aclose()


def build_limiter(settings) -> RateLimiter | RedisRateLimiter:
    """The limiter `OPMON_RATE_LIMIT_BACKEND` asks for (auto: Redis when OPMON_REDIS_URL is set)."""
    from core.errors import ConfigError

    backend = settings.rate_limit_backend
    if backend == "redis" and not settings.redis_url:
        raise ConfigError("OPMON_RATE_LIMIT_BACKEND=redis needs OPMON_REDIS_URL")
    if backend == "memory" or not settings.redis_url:
        return RateLimiter()
    return RedisRateLimiter(settings.redis_url)
