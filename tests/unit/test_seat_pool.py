"""Seats are claimed atomically in Redis: never one seat for two calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from queues.seats import BUSY, IDLE, SeatPool


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[SeatPool]:
    redis = Redis.from_url(redis_url)
    await redis.delete(IDLE, BUSY)
    seats = SeatPool(redis)
    await seats.sync(["1001", "1002", "1003"])
    yield seats
    await redis.delete(IDLE, BUSY)
    await redis.aclose()


async def test_fifty_calls_racing_for_three_seats_get_three_distinct_seats(pool: SeatPool) -> None:
    claims = await asyncio.gather(
        *(pool.claim(f"call-{n}", ["1001", "1002", "1003"]) for n in range(50))
    )
    won = [seat for seat in claims if seat is not None]
    assert sorted(won) == ["1001", "1002", "1003"]
    assert len(await pool.busy()) == 3


async def test_the_longest_idle_seat_is_taken_first(pool: SeatPool) -> None:
    for seat in ("1001", "1002", "1003"):
        assert await pool.claim(f"call-{seat}", [seat]) == seat
    await pool.release("1002", "call-1002", idle_since=100.0)
    await pool.release("1003", "call-1003", idle_since=50.0)
    await pool.release("1001", "call-1001", idle_since=200.0)
    order = [await pool.claim(f"next-{n}", ["1001", "1002", "1003"]) for n in range(3)]
    assert order == ["1003", "1002", "1001"]


async def test_only_the_call_holding_a_seat_can_free_it(pool: SeatPool) -> None:
    assert await pool.claim("call-a", ["1001"]) == "1001"
    assert not await pool.release("1001", "call-b")
    assert await pool.busy() == {"1001": "call-a"}
    assert await pool.release("1001", "call-a")
    assert await pool.claim("call-b", ["1001"]) == "1001"


async def test_a_seat_removed_from_the_site_is_no_longer_offered(pool: SeatPool) -> None:
    await pool.sync(["1001", "1002"])
    assert await pool.claim("call", ["1003"]) is None
