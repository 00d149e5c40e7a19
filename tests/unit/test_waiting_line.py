"""The waiting line: red-list firms first, within a bounded head start, claimed atomically."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from queues.line import WaitingLine
from queues.seats import BUSY, IDLE, PAUSED, RESTING, SeatPool
from redlist.models import RedListTier

SEATS = ["1001", "1002"]
KEY_FIRM = RedListTier.KEY_FIRM


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    line = WaitingLine(client, "test", 60)
    await client.delete(IDLE, BUSY, PAUSED, RESTING, line.waiting, line.ringing)
    yield client
    await client.delete(IDLE, BUSY, PAUSED, RESTING, line.waiting, line.ringing)
    await client.aclose()


async def test_a_red_list_firm_that_arrives_last_is_served_first(redis: Redis) -> None:
    line = WaitingLine(redis, "test", red_list_head_start=60)
    await line.join("plain-1", 1000.0, None)
    await line.join("plain-2", 1010.0, None)
    await line.join("red", 1020.0, KEY_FIRM)
    assert await line.callers() == ["red", "plain-1", "plain-2"]


async def test_nobody_is_overtaken_by_a_firm_that_arrived_more_than_the_head_start_later(
    redis: Redis,
) -> None:
    line = WaitingLine(redis, "test", red_list_head_start=60)
    await line.join("plain", 1000.0, None)
    await line.join("red-within", 1059.0, KEY_FIRM)  # 59 s later: goes ahead
    await line.join("red-after", 1061.0, KEY_FIRM)  # 61 s later: the plain caller has aged past it
    assert await line.callers() == ["red-within", "plain", "red-after"]


async def test_only_the_caller_whose_turn_it_is_gets_a_seat(redis: Redis) -> None:
    seats = SeatPool(redis)
    await seats.sync(SEATS)
    line = WaitingLine(redis, "test", 60)
    await line.join("first", 1000.0, None)
    await line.join("second", 1001.0, None)
    assert await seats.claim("second", SEATS, line) is None
    assert await seats.claim("first", SEATS, line) == "1001"
    # the first caller's seat is ringing: now it is the second caller's turn
    assert await seats.claim("second", SEATS, line) == "1002"


async def test_a_caller_whose_seat_did_not_answer_keeps_its_place(redis: Redis) -> None:
    seats = SeatPool(redis)
    await seats.sync(SEATS)
    line = WaitingLine(redis, "test", 60)
    await line.join("first", 1000.0, None)
    await line.join("second", 1001.0, None)
    assert await seats.claim("first", ["1001"], line) == "1001"
    await seats.release("1001", "first")
    await line.not_answered("first")
    assert await seats.claim("second", SEATS, line) is None
    assert await seats.claim("first", ["1002"], line) == "1002"


async def test_a_paused_seat_is_never_offered_and_joining_twice_keeps_the_place(
    redis: Redis,
) -> None:
    seats = SeatPool(redis)
    await seats.sync(SEATS)
    await seats.pause("1001", "lunch")
    line = WaitingLine(redis, "test", 60)
    await line.join("caller", 1000.0, None)
    await line.join("caller", 2000.0, KEY_FIRM)  # taken over after a restart: same place
    assert await redis.zscore(line.waiting, "caller") == 1000.0
    assert await seats.claim("caller", SEATS, line) == "1002"
    assert await seats.paused() == {"1001": "lunch"}


async def test_an_unreachable_seat_rests_before_it_is_offered_again(redis: Redis) -> None:
    seats = SeatPool(redis)
    await seats.sync(SEATS)
    await seats.rest("1001", 30)
    assert await seats.claim("call-a", SEATS) == "1002"
    assert await seats.claim("call-b", ["1001"]) is None
    await seats.rest("1001", -1)  # its rest is over
    assert await seats.claim("call-b", ["1001"]) == "1001"
