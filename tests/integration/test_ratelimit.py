"""Per-device rate limits: a token bucket in Redis, shared by every process, 429 beyond it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from dispatcher.core.errors import RateLimited
from dispatcher.web.ratelimit import RateLimiter
from tests.integration.support import WEST, Api


async def test_one_flooding_camera_is_cut_off_and_the_others_go_on(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    one = await api_factory(device_rate_per_s=0.5, device_burst=3)
    two = await api_factory(device_rate_per_s=0.5, device_burst=3)  # another process
    await one.load_town()
    camera = await one.token("device")

    async def detect(api: Api, device: str, n: int) -> tuple[int, object]:
        return await api.report(
            camera,
            source="camera",
            device_id=device,
            external_id=f"{device}-{n}",
            confidence=0.95,
            lon=WEST[0] + n * 0.0005,
        )

    statuses = [(await detect(one if n % 2 else two, "cam-broken", n))[0] for n in range(5)]
    assert statuses == [201, 201, 201, 429, 429]  # the bucket is shared by both processes
    async with one.session.post(
        one.base + "/api/v1/incidents",
        headers=one.headers(camera),
        json={
            "source": "camera",
            "device_id": "cam-broken",
            "category": "200504",
            "lon": 1,
            "lat": 1,
        },
    ) as refused:
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "2"  # one token at 0.5 a second
        assert (await refused.json())["error"]["code"] == "rate_limited"
    assert (await detect(one, "cam-healthy", 0))[0] == 201
    hotline = await one.report(camera, source="hotline", external_id="12345-1")
    assert hotline[0] == 201  # a platform naming no device is not limited here


async def test_the_bucket_refills_at_its_rate(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    now = [1_000_000]
    limiter = RateLimiter(client, rate_per_s=2, burst=2, clock_ms=lambda: now[0])
    try:
        await limiter.take("tok/cam-1")
        await limiter.take("tok/cam-1")
        with pytest.raises(RateLimited) as caught:
            await limiter.take("tok/cam-1")
        assert caught.value.retry_after == 1
        now[0] += 499
        with pytest.raises(RateLimited):
            await limiter.take("tok/cam-1")
        now[0] += 1  # half a second: one token back
        await limiter.take("tok/cam-1")
        now[0] += 60_000  # a long pause fills the bucket only to its burst
        await limiter.take("tok/cam-1")
        await limiter.take("tok/cam-1")
        with pytest.raises(RateLimited):
            await limiter.take("tok/cam-1")
        await limiter.take(None)  # nothing to limit
    finally:
        await client.aclose()


async def test_without_redis_the_limit_is_not_applied() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    limiter = RateLimiter(client, rate_per_s=1, burst=1)
    try:
        for _ in range(3):
            await limiter.take("tok/cam-1")
    finally:
        await client.aclose()


async def test_takes_asked_together_count_in_order_after_a_script_flush(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    limiter = RateLimiter(client, rate_per_s=1, burst=3, clock_ms=lambda: 5_000_000)
    try:
        await client.script_flush()  # Redis forgot the script: the limiter loads it again
        outcomes = await asyncio.gather(
            *(limiter.take("tok/cam-9") for _ in range(5)),
            limiter.take("tok/cam-10"),
            return_exceptions=True,
        )
        # one bucket of 3 asked five times at once: the first three pass, in the order asked
        assert [isinstance(o, RateLimited) for o in outcomes] == [False] * 3 + [True] * 2 + [False]
        assert await client.script_exists(limiter.script_sha) == [True]
    finally:
        await client.aclose()
