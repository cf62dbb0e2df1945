"""Rate limits shared through a real Redis: two API processes (two apps on one state DB) draw from one
bucket per key, and a Redis outage falls back to per-process limits instead of failing requests."""

from __future__ import annotations

import asyncio

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from api.ratelimit import RateLimiter, RedisRateLimiter, build_limiter
from core.errors import ConfigError
from core.metrics import RATELIMIT_FALLBACK
from core.settings import Settings

pytestmark = pytest.mark.redis


def _settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", nlp_enabled=False, brands_file=tmp_path / "none.yaml", **kw)


def test_two_api_processes_share_one_bucket(tmp_path, redis_server):
    settings = _settings(tmp_path, redis_url=redis_server)
    with TestClient(create_app(settings, webhook_worker=False)) as a, \
            TestClient(create_app(settings, webhook_worker=False)) as b:
        assert isinstance(a.app.state.rate_limiter, RedisRateLimiter)
        _, token = a.app.state.keys.create("shared", ["read"], rate_per_minute=4)
        h = {"X-API-Key": token}
        codes = [c.get("/v1/brands", headers=h).status_code for c in (a, b, a, b, a, b)]
        assert codes == [200, 200, 200, 200, 429, 429]  # 4 per minute in all, not 4 per process
        r = b.get("/v1/brands", headers=h)
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 15
        assert r.headers["x-ratelimit-limit"] == "4"
        _, other = a.app.state.keys.create("other", ["read"], rate_per_minute=4)
        assert b.get("/v1/brands", headers={"X-API-Key": other}).status_code == 200
    keys = redis.Redis.from_url(redis_server).keys("opmon:ratelimit:*")
    assert len(keys) == 2 and all(redis.Redis.from_url(redis_server).pttl(k) > 0 for k in keys)  # buckets expire


def test_bucket_refills_on_redis_time(redis_server):
    async def go():
        lim = RedisRateLimiter(redis_server)
        try:
            first = [await lim.ahit("k", 600, cost=300) for _ in range(2)]  # the whole minute's burst, fast
            over = await lim.ahit("k", 600)  # 10 tokens a second: ~0.01 back since
            await asyncio.sleep(0.35)  # ~3.5 tokens back
            later = [await lim.ahit("k", 600) for _ in range(3)]
        finally:
            await lim.aclose()
        return first, over, later

    first, over, later = asyncio.run(go())
    assert all(d.allowed for d in first) and first[-1].remaining == 0
    assert not over.allowed and over.retry_after_s == 1
    assert all(d.allowed for d in later)


def test_redis_down_falls_back_to_the_process_bucket(tmp_path, redis_server):

    settings = _settings(tmp_path, redis_url=redis_server)
    with TestClient(create_app(settings, webhook_worker=False)) as client:
        _, token = client.app.state.keys.create("k", ["read"], rate_per_minute=2)
        h = {"X-API-Key": token}
        assert client.get("/v1/brands", headers=h).status_code == 200
        redis.Redis.from_url(redis_server).shutdown(nosave=True)
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(redis_server).ping()
        before = RATELIMIT_FALLBACK._value.get()
        codes = [client.get("/v1/brands", headers=h).status_code for _ in range(3)]
        assert codes == [200, 200, 429]  # still answering, limited by this process's own bucket
        assert RATELIMIT_FALLBACK._value.get() - before == 3


def test_backend_choice(tmp_path):
    assert isinstance(build_limiter(_settings(tmp_path)), RateLimiter)
    assert isinstance(build_limiter(_settings(tmp_path, redis_url="redis://127.0.0.1:9/0",
                                              rate_limit_backend="memory")), RateLimiter)
    with pytest.raises(ConfigError, match="OPMON_REDIS_URL"):
        build_limiter(_settings(tmp_path, rate_limit_backend="redis"))
