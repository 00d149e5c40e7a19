"""Redis frozen for 20 s (SIGSTOP), then killed and started again, with calls connected,
callers waiting and a caller arriving: the connected calls keep their audio, the waiting and
the arriving callers go on in Asterisk's own queue and reach a seat there, nothing of the
gone callers is left in the line, and the next caller reaches a seat at once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable

import pytest

from ari_app.client import Ari
from core import clock, keys
from core.stores import async_redis
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

TALK = 10.0
"""Seconds each seat talks before it hangs up."""
FREEZE = 20.0
SEATS = ("1001", "1002")

Count = Callable[[], Awaitable[int]]


def redis_pid(stack: Stack) -> int:
    return int(stack.redis.pid_file.read_text())


async def test_calls_go_on_through_a_frozen_and_a_killed_redis_and_nothing_is_left_behind(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList
) -> None:
    redis = async_redis(stack.paths)
    seats = SeatPool(redis)
    seat_names = tuple(f"PJSIP/{seat}-" for seat in SEATS)
    others = [seat.id for seat in stack.site.seats if seat.id not in SEATS]
    for seat in others:
        await seats.pause(seat, "test: two seats only")
    for seat in SEATS:  # available, whatever an earlier test left them (paused, resting)
        await seats.resume(seat)

    async def paused_in_asterisk() -> bool:
        """Each member of Asterisk's queue paused exactly when it is one of the others.
        (A member's line names its seat, "Seat 4 (PJSIP/1004) ... (paused ...)": the check
        once looked for "/1004 " and so passed only while no member at all was paused.)"""
        text = await asyncio.to_thread(stack.pbx.rx, "queue show enterprise")
        members = {
            match.group(1): "(paused" in line
            for line in text.splitlines()
            if "(ringinuse" in line and (match := re.search(r"PJSIP/(\d+)\b", line))
        }
        return bool(members) and all(paused == (seat in others) for seat, paused in members.items())

    async def line_length() -> int:
        return int(await redis.zcard(keys.line_waiting("enterprise")))

    async def bridged_calls() -> int:
        """Seats talking (a call the app bridged, or one Asterisk's queue put through)."""
        return sum(
            channel["state"] == "Up" and channel["name"].startswith(seat_names)
            for channel in await ari.channels()
        )

    phones = tuple(
        p for p in seat_phones(stack.site, answer_after=0.3, hold=TALK) if p.name in SEATS
    )
    callers = (
        CallerSpec(landline(1), hold=None),  # connected when Redis freezes
        CallerSpec(landline(2), at=0.3, hold=None),
        CallerSpec(landline(3), at=2.0, hold=None),  # waiting when Redis freezes
        CallerSpec(landline(4), at=2.5, hold=None),
        CallerSpec(landline(5), at=9.0, hold=None),  # arrives while Redis is frozen
    )
    since = clock.now()
    frozen = False
    try:
        if not await eventually(paused_in_asterisk, within=20):
            shown = await asyncio.to_thread(stack.pbx.rx, "queue show enterprise")
            raise AssertionError(f"the mirror paused the others, and only them:\n{shown}")
        started = time.monotonic()
        playing = asyncio.create_task(rig.run(Scenario("redis-outage", phones, callers)))
        assert await eventually(lambda: _both(bridged_calls, line_length), within=8), (
            "two calls connected and two callers waiting before the freeze"
        )
        os.kill(redis_pid(stack), signal.SIGSTOP)
        frozen, frozen_at = True, time.monotonic()

        async def handed_to_asterisk() -> bool:
            text = await asyncio.to_thread(stack.pbx.rx, "queue show enterprise")
            return "wait:" in text

        assert await eventually(handed_to_asterisk, within=10), (
            "the waiting callers went on in Asterisk's queue"
        )
        await asyncio.sleep(max(0.0, frozen_at + FREEZE - time.monotonic()))  # the fault lasts
        os.kill(redis_pid(stack), signal.SIGCONT)
        frozen = False

        # and now the server dies and is started again while calls are connected
        assert await eventually(lambda: _at_least(bridged_calls, 1), within=15)
        os.kill(redis_pid(stack), signal.SIGKILL)
        await asyncio.to_thread(stack.redis.up)
        report = await asyncio.wait_for(playing, timeout=120)
        took = time.monotonic() - started

        assert all(caller.exit_code == 0 for caller in report.callers), report.render()
        assert sum(phone.answered for phone in report.phones) == len(callers), report.render()
        # each waiting and arriving caller reached a seat within 60 s: all five were through,
        # one after another on two seats, well inside that
        assert took < 9.0 + 60.0, f"the last caller was through {took:.0f} s after the first"
        for connected in report.callers[:2]:  # ~50 packets/s all through the freeze
            assert connected.rtp_received > 0.8 * 50 * TALK, report.render()

        # no place in line is left for a caller who has gone; every call's record is closed
        assert await eventually(lambda: _equals(line_length, 0), within=10), "a place was left"
        legs = await ended_calls(registry, since, count=len(callers), within=30)
        assert sorted(leg.caller_number for leg in legs) == sorted(c.number for c in callers)

        # afterwards a new caller reaches a seat within 10 s
        after = clock.now()
        second = await rig.run(
            Scenario("after-redis-outage", phones, (CallerSpec(landline(6), hold=None),))
        )
        assert second.callers[0].exit_code == 0, second.render()
        (leg,) = await ended_calls(registry, after)
        assert leg.answered_at is not None, second.render()
        assert (leg.answered_at - leg.entered_at).total_seconds() < 10
    finally:
        if frozen:
            os.kill(redis_pid(stack), signal.SIGCONT)
        if not stack.redis.running():
            await asyncio.to_thread(stack.redis.up)
        for seat in others:
            await seats.resume(seat)
        await redis.aclose()


async def _both(bridged: Count, waiting: Count) -> bool:
    return await bridged() == 2 and await waiting() == 2


async def _at_least(count: Count, least: int) -> bool:
    return await count() >= least


async def _equals(count: Count, value: int) -> bool:
    return await count() == value
