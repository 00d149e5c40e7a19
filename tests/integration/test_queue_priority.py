"""The waiting line on real calls with one seat: red-list firms first, nobody starved,
abandoned callers recorded, waiting callers kept through a crash of the application."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime

import pytest
from redis.asyncio import Redis

from ari_app.client import Ari
from core import clock
from core.stores import redis_url
from hotline import services
from hotline.stack import Stack
from queues.line import WaitingLine
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import HEAD_START, ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

RED = landline(0)  # a key firm in the sample registry
PLAIN = (landline(1), landline(3), landline(5))


async def answer_order(registry: RedList, since: datetime, calls: int) -> list[str]:
    """The callers since ``since`` in the order a seat answered them (once all ``calls``
    are recorded to their end)."""
    legs = await ended_calls(registry, since, count=calls)
    answered = sorted((leg.answered_at, leg.caller_number) for leg in legs if leg.answered_at)
    return [number for _, number in answered]


async def test_a_red_list_firm_arriving_last_is_answered_first(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site, hold=4.0) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # takes the seat
        CallerSpec(PLAIN[1], at=1.5, hold=None),  # then three wait...
        CallerSpec(PLAIN[2], at=2.0, hold=None),
        CallerSpec(RED, at=2.5, hold=None),  # ...and the red-list firm comes last
    )
    report = await rig.run(Scenario("red-first", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    assert await answer_order(registry, since, 4) == [PLAIN[0], RED, PLAIN[1], PLAIN[2]]


async def test_a_caller_who_waited_past_the_head_start_goes_before_a_red_list_firm(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    talk = HEAD_START + 3.0
    phones = tuple(p for p in seat_phones(stack.site, hold=talk) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # holds the seat for `talk` seconds
        CallerSpec(PLAIN[1], at=0.5, hold=None),  # waits past the head start by 1.5 s...
        CallerSpec(RED, at=0.5 + HEAD_START + 1.5, hold=None),  # ...when the red-list firm calls
    )
    report = await rig.run(Scenario("aging", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    assert await answer_order(registry, since, 3) == [PLAIN[0], PLAIN[1], RED]


async def test_a_caller_who_hangs_up_while_waiting_is_recorded_as_abandoned(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site, hold=6.0) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # holds the only seat
        CallerSpec(PLAIN[1], at=1.0, hold=3.0),  # waits on hold, gives up after 3 s
    )
    report = await rig.run(Scenario("abandon", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    legs = await ended_calls(registry, since, count=2)
    (leg,) = [leg for leg in legs if leg.caller_number == PLAIN[1]]
    assert (leg.outcome, leg.seat_id) == ("abandoned", None)
    assert leg.wait_seconds is not None and 2.5 < leg.wait_seconds < 4.5

    async def nothing_left() -> bool:
        return not await ari.channels() and not await ari.bridges()

    assert await eventually(nothing_left, within=5), "a channel or bridge was left"
    assert (
        await WaitingLine(
            Redis.from_url(redis_url(stack.paths)), "enterprise", HEAD_START
        ).callers()
        == []
    )


async def test_callers_waiting_when_the_app_is_killed_are_still_served(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site, hold=8.0) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # talking through the restart
        CallerSpec(PLAIN[1], at=1.0, hold=None),
        CallerSpec(RED, at=1.5, hold=None),
    )
    playing = asyncio.create_task(rig.run(Scenario("killed-while-waiting", phones, callers)))

    async def one_talking_two_waiting() -> bool:
        bridges, channels = await ari.bridges(), await ari.channels()
        talking = any(len(bridge["channels"]) == 2 for bridge in bridges)
        return talking and len(channels) >= len(callers) + 1

    assert await eventually(one_talking_two_waiting, within=10), "the callers never queued"
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)
    await asyncio.to_thread(stack.start_app)
    report = await playing
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    # everyone was answered by the seat, the red-list firm still ahead of the plain caller
    assert await answer_order(registry, since, 3) == [PLAIN[0], RED, PLAIN[1]]
