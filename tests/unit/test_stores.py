"""The processes' Redis client (``core.stores.async_redis``) against a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from core.paths import Paths
from core.stores import REDIS_CONNECTIONS, async_redis

BURST = 3 * REDIS_CONNECTIONS


async def test_a_burst_of_requests_waits_for_connections_instead_of_failing(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More requests at once than the pool has connections: each waits its turn. redis-py's
    own pool refuses the ones beyond it ("Too many connections"), which a call takes for
    Redis gone."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    plain = Redis.from_url(redis_url, max_connections=REDIS_CONNECTIONS)
    with pytest.raises(RedisConnectionError):
        await asyncio.gather(*(plain.incr("hotline:test:burst") for _ in range(BURST)))
    await plain.aclose()

    redis = async_redis(Paths(state=tmp_path, cache=tmp_path))
    await redis.delete("hotline:test:burst")
    counts = await asyncio.gather(*(redis.incr("hotline:test:burst") for _ in range(BURST)))
    assert sorted(counts) == list(range(1, BURST + 1))
    assert redis.connection_pool.max_connections == REDIS_CONNECTIONS
    await redis.delete("hotline:test:burst")
    await redis.aclose()
