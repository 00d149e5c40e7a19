"""Redis away, against a scripted Asterisk: waiting and arriving callers go on in Asterisk's
own queue (the dialplan's fallback) with their queue and arrival; calls in progress go on;
when Redis answers again nothing it could not be told is left behind (the real PBX and a
frozen and killed Redis: ``tests/integration/test_redis_outage.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from ari_app import housekeeping
from ari_app.call import ASTERISK_QUEUE
from cdr.models import CallLeg
from core import keys
from core.signals import stop_task
from tests.unit.ari_script import MONDAY_10AM, Channel, Script

ENTERPRISE_SEATS = ("1001", "1002")


@pytest.fixture(autouse=True)
def quick_store_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(housekeeping, "STORE_CHECK_EVERY", 0.01)
    monkeypatch.setattr(housekeeping, "STORE_GRACE", 0.05)


@pytest.fixture
async def watched(script: Script) -> AsyncIterator[Script]:
    """The script with the app's watch on Redis running."""
    task = asyncio.create_task(script.app.housekeeping.watch_store())
    yield script
    await stop_task(task)


class Away:
    """Whether the test's Redis is away: connections made while it is fail to connect."""

    now = False


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The real Redis, through connections that fail while :class:`Away` says so."""
    pool = ConnectionPool.from_url(redis_url)
    base = pool.connection_class

    class Switchable(base):  # type: ignore[valid-type,misc]
        async def connect(self) -> None:
            if Away.now:
                raise RedisConnectionError("Redis is away (test)")
            await super().connect()

    pool.connection_class = Switchable
    client = Redis(connection_pool=pool)
    await client.flushdb()
    yield client
    Away.now = False
    await client.aclose()


@contextlib.asynccontextmanager
async def redis_away(redis: Redis) -> AsyncIterator[None]:
    """Redis stops answering: every connection of the client goes, new ones fail."""
    Away.now = True
    await redis.connection_pool.disconnect()
    try:
        yield
    finally:
        Away.now = False


def sent_to_asterisk_queue(script: Script, caller: str) -> bool:
    return (caller, *ASTERISK_QUEUE) in script.ari.called("continue_in_dialplan")


def leg_of(script: Script, caller: str) -> CallLeg:
    with script.sessions() as session:
        return session.execute(select(CallLeg).where(CallLeg.caller_channel == caller)).scalar_one()


async def pause_every_seat(script: Script) -> None:
    for seat in ENTERPRISE_SEATS:
        await script.app.seats.pause(seat, "test: away")


async def test_waiting_and_new_callers_go_on_in_asterisks_queue_and_come_back_in_their_place(
    watched: Script, redis: Redis
) -> None:
    script = watched
    await pause_every_seat(script)
    first = script.caller_arrives(tier="gold")
    await script.until(lambda: ("start_moh", (first,)) in script.ari.requests, "music")
    place = await redis.zscore(keys.line_waiting("enterprise"), first)
    assert place is not None
    await script.advance(5)

    async with redis_away(redis):
        await script.until(lambda: not script.app.store_ok, "Redis counts as lost")
        await script.until(lambda: sent_to_asterisk_queue(script, first), "first to the fallback")
        assert ("stop_moh", (first,)) in script.ari.requests
        variables = script.ari.channels_[first].variables
        assert variables["HOTLINE_QUEUE"] == "enterprise"
        assert float(variables["HOTLINE_ARRIVED"]) == MONDAY_10AM, "its arrival, not now"
        assert first not in script.app.owners
        assert script.ari.channels_[first].state == "Up", "the caller is not hung up"

        second = script.caller_arrives()  # arriving while Redis is away: straight there
        await script.until(lambda: sent_to_asterisk_queue(script, second), "second too")
        assert ("answer", (second,)) in script.ari.requests
    await script.until(lambda: script.app.store_ok, "Redis answers again")

    # both wait in Asterisk's queue: the first one's place is freed (seen there twice), with
    # no record of an end, and neither record is closed while they are there
    suspected = await script.app.housekeeping.free_gone(set(), "sweep")
    assert first in suspected
    await script.app.housekeeping.free_gone(suspected, "sweep")
    assert await redis.zscore(keys.line_waiting("enterprise"), first) is None
    await script.app.housekeeping.follow_handed_over()
    await script.records()
    assert leg_of(script, first).outcome is None and leg_of(script, second).outcome is None

    # the app takes the first back: it waits in its place again (its arrival and tier)
    await script.app.seats.resume("1001")
    script.taken_back(first)
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "a seat rings for it")
    assert await redis.zscore(keys.line_waiting("enterprise"), first) == place
    await script.app.housekeeping.follow_handed_over()
    assert first not in script.app.handed_over_calls, "taken back: the app records its end"
    script.answer(script.ringing("PJSIP/1001")[0])
    await script.until(lambda: len(script.bridge_of(first)) == 2, "put through")

    # the second hangs up in Asterisk's queue: its record is closed, seen gone twice
    script.ari.channels_.pop(second)
    await script.app.housekeeping.follow_handed_over()
    await script.app.housekeeping.follow_handed_over()
    script.hang_up(first)
    await script.over(first)
    await script.records()
    assert leg_of(script, second).outcome == "ended-unobserved"
    assert leg_of(script, first).outcome == "caller-hangup"
    assert leg_of(script, first).seat_id == "1001"


async def test_a_call_in_progress_goes_on_without_redis_and_its_seat_is_freed_after(
    watched: Script, redis: Redis
) -> None:
    script = watched
    caller = script.caller_arrives()
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "seat 1001 rings")
    leg = script.ringing("PJSIP/1001")[0]
    script.answer(leg)
    await script.until(lambda: len(script.bridge_of(caller)) == 2, "talking")

    async with redis_away(redis):
        await script.until(lambda: not script.app.store_ok, "Redis counts as lost")
        await script.quiet()
        assert not sent_to_asterisk_queue(script, caller)
        assert script.bridge_of(caller) == [caller, leg], "the call goes on"
        script.hang_up(caller)  # its clean-up cannot reach Redis
        await script.over(caller)
        assert leg not in script.ari.channels_, "the seat's leg is hung up all the same"
    await script.until(lambda: script.app.store_ok, "Redis answers again")
    await script.records()
    assert leg_of(script, caller).outcome == "caller-hangup"

    assert await redis.hget(keys.SEATS_BUSY, "1001") == caller.encode(), "not told yet"
    suspected = await script.app.housekeeping.free_gone(set(), "sweep")
    await script.app.housekeeping.free_gone(suspected, "sweep")
    assert await redis.hget(keys.SEATS_BUSY, "1001") is None


async def test_a_waiting_caller_whose_place_went_takes_it_again(
    script: Script, redis: Redis
) -> None:
    await pause_every_seat(script)
    caller = script.caller_arrives()
    await script.until(lambda: ("start_moh", (caller,)) in script.ari.requests, "waiting")
    line = keys.line_waiting("enterprise")
    place = await redis.zscore(line, caller)
    await redis.zrem(line, caller)  # freed by a sweep that raced its coming back
    await script.app.housekeeping.find_lost_offers()
    await script.until(lambda: script.app.calls[0]._inbox.empty(), "noticed")
    await script.quiet()
    assert await redis.zscore(line, caller) == place


async def test_a_seat_held_for_a_gone_call_whose_phone_is_in_a_call_stays_held(
    script: Script, redis: Redis
) -> None:
    """While Redis was away Asterisk's queue put a caller through to a seat still held for a
    call that ended meanwhile: the seat is held for Asterisk's queue, never offered."""
    await redis.hset(keys.SEATS_BUSY, mapping={"1001": "gone-call", "1002": "gone-too"})
    fallback_call = Channel("asterisk-queue-leg", endpoint="PJSIP/1001", in_stasis=False)
    script.ari.channels_[fallback_call.id] = fallback_call
    suspected = await script.app.housekeeping.free_gone(set(), "sweep")
    await script.app.housekeeping.free_gone(suspected, "sweep")
    assert await redis.hget(keys.SEATS_BUSY, "1001") == keys.FALLBACK_CALL.encode()
    assert await redis.hget(keys.SEATS_BUSY, "1002") is None, "its phone is free: freed"


async def test_a_seat_given_back_while_redis_was_away_is_free_when_it_returns(
    watched: Script, redis: Redis
) -> None:
    """The seat hangs up while Redis is away: its caller is asked to rate the call, and the
    seat, which the call could not give back, is given back as soon as Redis answers."""
    script = watched
    caller = script.caller_arrives()
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "seat 1001 rings")
    leg = script.ringing("PJSIP/1001")[0]
    script.answer(leg)
    await script.until(lambda: len(script.bridge_of(caller)) == 2, "talking")
    async with redis_away(redis):
        await script.until(lambda: not script.app.store_ok, "Redis counts as lost")
        script.hang_up(leg)
        await script.until(lambda: any(m.endswith("/survey") for m in script.playing()), "survey")
        assert script.app.calls[0].owes
    await script.until(lambda: script.app.store_ok, "Redis answers again")
    await script.until(lambda: not script.app.calls[0].owes, "the seat given back")
    assert await redis.hget(keys.SEATS_BUSY, "1001") is None
    assert await redis.zscore(keys.SEATS_RESTING, "1001") is not None, "off to its wrap-up"
    assert caller in script.ari.channels_, "still being asked to rate the call"
