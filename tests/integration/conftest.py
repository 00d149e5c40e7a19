"""Integration tests share one PBX and one Redis: each starts with no seat in wrap-up, and
no call-back promised by an earlier test (which would ring the seats of this one)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from redis import Redis

from callback.book import is_attempt
from callback.ticket import CALL_OFF
from core import keys
from core.stores import redis_url
from queues.seats import RESTING


@pytest.fixture(autouse=True)
def no_seat_in_wrap_up(request: pytest.FixtureRequest) -> None:
    if "stack" not in request.fixturenames:
        return
    stack = request.getfixturevalue("stack")
    with Redis.from_url(redis_url(stack.paths)) as redis:
        redis.delete(RESTING)


@pytest.fixture(autouse=True)
def no_call_back_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Before and after each test: every call-back in the book is dropped, and an attempt
    waiting in a line loses its place (it ends at the next sweep, not booked again)."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    url = redis_url(stack.paths)
    queues = [queue.name for queue in stack.site.queues]
    drop_call_backs(url, queues)
    yield
    drop_call_backs(url, queues)


def drop_call_backs(url: str, queues: list[str]) -> None:
    """Forget every call-back of the shared installation (a test's own clean-up); an attempt
    in progress is called off as a cancelled call-back's is, and has let its seat go."""
    with Redis.from_url(url) as redis:
        for channel in redis.hkeys(keys.CALLBACK_ATTEMPTS):
            command = {"call": channel.decode(), "action": CALL_OFF}
            redis.publish(keys.COMMANDS, json.dumps(command))
        entries = list(redis.scan_iter(match=keys.callback("*")))
        redis.delete(keys.CALLBACKS_DUE, keys.CALLBACKS_BY_NUMBER, keys.CALLBACK_ATTEMPTS)
        if entries:
            redis.delete(*entries)
        for queue in queues:
            waiting = [
                c for c in redis.zrange(keys.line_waiting(queue), 0, -1) if is_attempt(c.decode())
            ]
            if waiting:
                redis.zrem(keys.line_waiting(queue), *waiting)
                redis.hdel(keys.line_owners(queue), *waiting)
        deadline = time.monotonic() + 10
        while any(is_attempt(call.decode()) for call in redis.hvals(keys.SEATS_BUSY)):
            assert time.monotonic() < deadline, "a call-back attempt kept its seat"
            time.sleep(0.1)
