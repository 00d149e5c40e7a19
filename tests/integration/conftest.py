"""Integration tests share one PBX and one Redis: each starts with no seat in wrap-up."""

from __future__ import annotations

import pytest
from redis import Redis

from core.stores import redis_url
from queues.seats import RESTING


@pytest.fixture(autouse=True)
def no_seat_in_wrap_up(request: pytest.FixtureRequest) -> None:
    if "stack" not in request.fixturenames:
        return
    stack = request.getfixturevalue("stack")
    with Redis.from_url(redis_url(stack.paths)) as redis:
        redis.delete(RESTING)
