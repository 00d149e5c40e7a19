"""The waiting line and the seats in real Redis: red-list firms first within a bounded head
start, seats offered the moment something changes — to the caller whose turn it is, the
longest-idle seat first, never one seat to two callers — and each offer sent to the process
that serves the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from core import clock, keys
from queues.dispatch import Offer
from queues.line import WaitingLine
from queues.seats import SeatPool
from redlist.tiers import RedListTier

SEATS = {"1001": ["test"], "1002": ["test"]}
KEY_FIRM = RedListTier.KEY_FIRM
APP = "hotline"
T0 = 1_795_000_000.0


@pytest.fixture
def time() -> Iterator[clock.ManualClock]:
    with clock.use(clock.ManualClock(T0)) as manual:
        yield manual


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def seats(redis: Redis, time: clock.ManualClock) -> AsyncIterator[SeatPool]:
    pool = SeatPool(redis, APP)
    await pool.sync(SEATS)
    yield pool
    await pool.close()


def line_of(redis: Redis, me: str = APP, queue: str = "test") -> WaitingLine:
    return WaitingLine(redis, queue, red_list_head_start=60, me=me)


async def test_a_red_list_firm_that_arrives_last_is_served_first(redis: Redis) -> None:
    line = line_of(redis)
    await line.join("plain-1", 1000.0, None, T0)
    await line.join("plain-2", 1010.0, None, T0)
    joined = await line.join("red", 1020.0, KEY_FIRM, T0)
    assert await line.callers() == ["red", "plain-1", "plain-2"]
    assert joined.ahead == 0


async def test_nobody_is_overtaken_by_a_firm_that_arrived_more_than_the_head_start_later(
    redis: Redis,
) -> None:
    line = line_of(redis)
    await line.join("plain", 1000.0, None, T0)
    await line.join("red-within", 1059.0, KEY_FIRM, T0)  # 59 s later: goes ahead
    await line.join("red-after", 1061.0, KEY_FIRM, T0)  # 61 s later: the plain caller aged past
    assert await line.callers() == ["red-within", "plain", "red-after"]


async def test_a_caller_joining_is_offered_the_longest_idle_seat_at_once(
    redis: Redis, seats: SeatPool, time: clock.ManualClock
) -> None:
    for seat, idle_since in (("1001", 200.0), ("1002", 100.0)):
        await redis.zadd(keys.SEATS_IDLE, {seat: idle_since})
    joined = await line_of(redis).join("caller", T0, None, T0)
    assert joined.offers == [Offer("test", "caller", "1002", APP)]
    assert await seats.busy() == {"1002": "caller"}
    assert await line_of(redis).reserved() == {"caller": "1002"}


async def test_a_call_cut_by_the_hotline_gets_its_own_seat_back_at_once_if_it_is_free(
    redis: Redis, seats: SeatPool, time: clock.ManualClock
) -> None:
    """The seat it had, not the longest idle one; when that seat is not free, it waits its
    turn like anyone (behind a caller who waited longer)."""
    for seat, idle_since in (("1001", 100.0), ("1002", 200.0)):
        await redis.zadd(keys.SEATS_IDLE, {seat: idle_since})
    line = line_of(redis)
    joined = await line.join("cut", 1000.0, None, T0, prefer="1002")
    assert joined.offers == [Offer("test", "cut", "1002", APP)]
    await seats.pause("1001", "lunch")
    assert (await line.join("waiting", 900.0, None, T0)).offers == []
    later = await line.join("cut-again", 1001.0, None, T0, prefer="1001")
    assert later.offers == [] and await line.callers() == ["waiting", "cut", "cut-again"]


async def test_only_the_caller_whose_turn_it_is_gets_a_seat(redis: Redis, seats: SeatPool) -> None:
    for seat in SEATS:
        await seats.pause(seat, "lunch")
    line = line_of(redis)
    assert (await line.join("first", 1000.0, None, T0)).offers == []
    assert (await line.join("second", 1001.0, None, T0)).offers == []
    offered: list[Offer] = []
    seats.deliver = offered.extend
    await seats.resume("1002")
    assert offered == [Offer("test", "first", "1002", APP)]
    # the first caller's seat is ringing: now it is the second caller's turn
    await seats.resume("1001")
    assert offered[1:] == [Offer("test", "second", "1001", APP)]


async def test_a_seat_that_did_not_answer_is_not_offered_again_until_every_seat_had_its_turn(
    redis: Redis, seats: SeatPool
) -> None:
    offered: list[Offer] = []
    seats.deliver = offered.extend
    line = line_of(redis)
    first = await line.join("first", 1000.0, None, T0)
    second = await line.join("second", 1001.0, None, T0)
    assert [(o.caller, o.seat) for o in first.offers + second.offers] == [
        ("first", "1001"),
        ("second", "1002"),
    ]
    # 1001 turned the first caller down: it keeps its place, and 1001 goes to the next caller
    # (the second is ringing 1002), not back to the first
    await seats.release("1001", "first", ringing_in="test")
    assert offered == []
    assert await seats.busy() == {"1002": "second"}
    # 1002 rang out for the second caller and is paused: the first caller is at the head and
    # has tried 1001 only, so it waits (only the head may have a seat)
    await seats.release("1002", "second", pause="no-answer", ringing_in="test")
    assert offered == []
    # every seat it could have has been rung: a new round offers 1001 again
    assert await line.new_round("first", T0) == [Offer("test", "first", "1001", APP)]


async def test_a_paused_seat_is_never_offered_and_joining_twice_keeps_the_place(
    redis: Redis, seats: SeatPool
) -> None:
    await seats.pause("1001", "lunch")
    line = line_of(redis)
    joined = await line.join("caller", 1000.0, None, T0)
    await line.join("caller", 2000.0, KEY_FIRM, T0)  # taken over after a restart: same place
    assert await redis.zscore(line.waiting, "caller") == 1000.0
    assert [offer.seat for offer in joined.offers] == ["1002"]
    assert await seats.paused() == {"1001": "lunch"}


async def test_a_resting_seat_is_offered_when_its_rest_ends(
    redis: Redis, seats: SeatPool, time: clock.ManualClock
) -> None:
    line = line_of(redis)
    await seats.pause("1002", "away")
    first = await line.join("first", 1000.0, None, T0)
    assert [o.seat for o in first.offers] == ["1001"]
    offered: list[Offer] = []
    seats.deliver = offered.extend
    await line.join("second", 1001.0, None, T0)
    # the first caller's call is over: 1001 gets its 10 s wrap-up, then the second caller
    await line.answered("first")
    await seats.release("1001", "first", rest_for=10)
    assert offered == []
    time.advance(10)
    for _ in range(50):  # the wake-up task runs on the event loop
        if offered:
            break
        await asyncio.sleep(0.01)
    assert offered == [Offer("test", "second", "1001", APP)]


async def test_fifty_callers_racing_for_two_seats_get_two_distinct_seats(
    redis: Redis, seats: SeatPool
) -> None:
    lines = [line_of(redis) for _ in range(50)]
    joined = await asyncio.gather(
        *(line.join(f"caller-{n}", 1000.0 + n, None, T0) for n, line in enumerate(lines))
    )
    offers = [offer for result in joined for offer in result.offers]
    # the joins reach Redis in no fixed order: each offer goes to whoever was at the head
    # then; what matters is two seats, two callers, each seat held by its offer's caller
    assert sorted(offer.seat for offer in offers) == ["1001", "1002"]
    assert len({offer.caller for offer in offers}) == 2
    assert await seats.busy() == {offer.seat: offer.caller for offer in offers}


async def test_only_the_call_holding_a_seat_can_free_it(redis: Redis, seats: SeatPool) -> None:
    await line_of(redis).join("call-a", 1000.0, None, T0)
    assert not await seats.release("1001", "call-b")
    assert (await seats.busy())["1001"] == "call-a"
    assert await seats.release("1001", "call-a")


async def test_a_caller_who_leaves_gives_back_its_seat_to_the_next_one(
    redis: Redis, seats: SeatPool
) -> None:
    await seats.pause("1002", "away")
    line = line_of(redis)
    await line.join("gone", 1000.0, None, T0)
    await line.join("next", 1001.0, None, T0)
    assert await line.leave("gone", T0) == [Offer("test", "next", "1001", APP)]
    assert await line.callers() == ["next"]


async def test_an_offer_for_another_process_s_caller_is_published_to_that_process(
    redis: Redis, seats: SeatPool
) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.offers("hotline-2"))
    await pubsub.get_message(timeout=1)  # the subscription's confirmation
    await seats.pause("1001", "away")
    await seats.pause("1002", "away")
    await line_of(redis, me="hotline-2").join("theirs", 1000.0, None, T0)
    await seats.resume("1001")  # this process frees the seat
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert message is not None and message["data"] == b"test theirs 1001"
    await pubsub.aclose()


async def test_a_seat_serving_two_queues_goes_to_whichever_line_frees_it_first(
    redis: Redis, time: clock.ManualClock
) -> None:
    pool = SeatPool(redis, APP)
    await pool.sync({"1001": ["citizen", "enterprise"]})
    await pool.pause("1001", "away")
    citizen, enterprise = line_of(redis, queue="citizen"), line_of(redis, queue="enterprise")
    await enterprise.join("company", 1000.0, None, T0)
    await citizen.join("citizen", 999.0, None, T0)
    offered: list[Offer] = []
    pool.deliver = offered.extend
    await pool.resume("1001")
    assert len(offered) == 1 and offered[0].seat == "1001"
    await pool.close()


async def test_a_seat_removed_from_the_site_is_no_longer_offered(
    redis: Redis, seats: SeatPool
) -> None:
    await seats.sync({"1001": ["test"]})
    await seats.pause("1001", "away")
    joined = await line_of(redis).join("caller", 1000.0, None, T0)
    assert joined.offers == []
