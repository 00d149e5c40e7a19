"""The waiting line on real calls with one seat: red-list firms first, nobody starved,
abandoned callers recorded, waiting callers kept through a crash of the application."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from ari_app.client import Ari
from cdr.models import CallLeg
from core.stores import redis_url
from hotline import services
from hotline.stack import Stack
from queues.line import WaitingLine
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import HEAD_START, eventually, seat_phones

pytestmark = pytest.mark.pbx

RED = landline(0)  # a key firm in the sample registry
PLAIN = (landline(1), landline(3), landline(5))


def answer_order(registry: RedList, since: datetime) -> list[str]:
    with registry.sessions() as session:
        legs = session.execute(
            select(CallLeg)
            .where(CallLeg.entered_at >= since, CallLeg.answered_at.is_not(None))
            .order_by(CallLeg.answered_at)
        ).scalars()
        return [leg.caller_number for leg in legs]


async def test_a_red_list_firm_arriving_last_is_answered_first(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = datetime.now(UTC)
    phones = tuple(p for p in seat_phones(stack.site, hold=4.0) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # takes the seat
        CallerSpec(PLAIN[1], at=1.5, hold=None),  # then three wait...
        CallerSpec(PLAIN[2], at=2.0, hold=None),
        CallerSpec(RED, at=2.5, hold=None),  # ...and the red-list firm comes last
    )
    report = await rig.run(Scenario("red-first", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    assert answer_order(registry, since) == [PLAIN[0], RED, PLAIN[1], PLAIN[2]]


async def test_a_caller_who_waited_past_the_head_start_goes_before_a_red_list_firm(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = datetime.now(UTC)
    talk = HEAD_START + 3.0
    phones = tuple(p for p in seat_phones(stack.site, hold=talk) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # holds the seat for `talk` seconds
        CallerSpec(PLAIN[1], at=0.5, hold=None),  # waits past the head start by 1.5 s...
        CallerSpec(RED, at=0.5 + HEAD_START + 1.5, hold=None),  # ...when the red-list firm calls
    )
    report = await rig.run(Scenario("aging", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    assert answer_order(registry, since) == [PLAIN[0], PLAIN[1], RED]


async def test_a_caller_who_hangs_up_while_waiting_is_recorded_as_abandoned(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = datetime.now(UTC)
    phones = tuple(p for p in seat_phones(stack.site, hold=6.0) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # holds the only seat
        CallerSpec(PLAIN[1], at=1.0, hold=3.0),  # waits on hold, gives up after 3 s
    )
    report = await rig.run(Scenario("abandon", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    with registry.sessions() as session:
        leg = session.execute(
            select(CallLeg).where(CallLeg.entered_at >= since, CallLeg.caller_number == PLAIN[1])
        ).scalar_one()
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
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = datetime.now(UTC)
    phones = tuple(p for p in seat_phones(stack.site, hold=8.0) if p.name == one_seat)
    callers = (
        CallerSpec(PLAIN[0], at=0.0, hold=None),  # talking through the restart
        CallerSpec(PLAIN[1], at=1.0, hold=None),
        CallerSpec(RED, at=1.5, hold=None),
    )
    playing = asyncio.create_task(rig.run(Scenario("killed-while-waiting", phones, callers)))
    await asyncio.sleep(3.0)  # one caller talking, two waiting
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(stack.start_app)
    report = await playing
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    # everyone was answered by the seat, the red-list firm still ahead of the plain caller
    assert answer_order(registry, since) == [PLAIN[0], RED, PLAIN[1]]
