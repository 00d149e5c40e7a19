"""The front door on real calls: registered companies are recognised by their number,
red-list firms carry their tier and QUEUE_PRIO into Stasis, unknown callers can identify
themselves on the keypad, garbage caller IDs never break a call, and calls go on when the
FastAGI server or the Stasis app is down."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from cdr.models import CallLeg
from core import clock
from core.db import make_engine, sessions
from core.stores import database_url
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, KeyPress, Rig, RigReport, Scenario
from tests.conftest import ended_calls, seat_phones

pytestmark = pytest.mark.pbx

RED_FIRM = landline(0)  # 02150000000: a key firm
PLAIN_FIRM = landline(1)  # 02150000001: registered, not on the red list


def legs_since(stack: Stack, since: datetime) -> list[CallLeg]:
    engine = make_engine(database_url(stack.paths))
    with sessions(engine)() as session:
        found = list(
            session.execute(
                select(CallLeg).where(CallLeg.entered_at >= since).order_by(CallLeg.entered_at)
            ).scalars()
        )
    engine.dispose()
    return found


def leg_of(legs: list[CallLeg], number: str) -> CallLeg:
    matching = [leg for leg in legs if leg.caller_number == number]
    assert len(matching) == 1, f"expected one call from {number}, got {len(matching)}"
    return matching[0]


def answered_by_a_seat(report: RigReport) -> None:
    for caller in report.callers:
        assert caller.exit_code == 0, f"{caller.summary()}\n{caller.errors}"
    seats_answered = sum(phone.answered for phone in report.phones)
    assert seats_answered == len(report.callers), report.render()


async def test_callers_are_recognised_and_reach_stasis_with_their_tier(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    scenario = Scenario(
        "front-door",
        seat_phones(stack.site),
        callers=(
            CallerSpec(RED_FIRM, hold=3.0),
            CallerSpec(PLAIN_FIRM, at=0.2, hold=3.0),
            # an unknown mobile: presses 2, then keys its company's registered number and #
            CallerSpec(
                "13900000001",
                at=0.4,
                hold=20.0,
                keys=(KeyPress(1.5, "2"), KeyPress(4.0, PLAIN_FIRM + "#")),
            ),
            # an unknown mobile that does nothing at the menu
            CallerSpec("13900000002", at=0.6, hold=22.0),
        ),
    )
    report = await rig.run(scenario)
    answered_by_a_seat(report)
    legs = legs_since(stack, since)

    red = leg_of(legs, RED_FIRM)
    assert (red.caller_kind, red.tier, red.queue_prio, red.queue) == (
        "enterprise",
        "key-firm",
        10,
        "enterprise",
    )
    plain = leg_of(legs, PLAIN_FIRM)
    assert (plain.caller_kind, plain.tier, plain.queue_prio) == ("enterprise", None, 0)
    keyed = leg_of(legs, "13900000001")
    assert (keyed.caller_kind, keyed.enterprise_id, keyed.queue) == (
        "enterprise",
        plain.enterprise_id,
        "enterprise",
    )
    silent = leg_of(legs, "13900000002")
    assert (silent.caller_kind, silent.queue, silent.queue_prio) == ("citizen", "citizen", 0)
    assert silent.seat_id in {seat.id for seat in stack.site.seats_of("citizen")}


GARBAGE = (
    CallerSpec("", display=""),  # no caller ID at all
    CallerSpec("anonymous", display="Anonymous"),
    CallerSpec("9" * 200),
    CallerSpec('"; DROP TABLE call_legs; --', display="x\"y;z'q"),
    CallerSpec("电话", display="某某企业客户"),
)


async def test_garbage_caller_ids_never_break_the_call(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    callers = tuple(
        CallerSpec(
            spec.number, at=i * 0.3, hold=None, display=spec.display, keys=(KeyPress(0.8, "1"),)
        )
        for i, spec in enumerate(GARBAGE)
    )
    report = await rig.run(Scenario("garbage", seat_phones(stack.site, hold=2.0), callers))
    answered_by_a_seat(report)
    legs = legs_since(stack, since)
    assert len(legs) == len(GARBAGE) and all(leg.seat_id for leg in legs)
    assert all(leg.caller_kind == "citizen" for leg in legs)
    assert {leg.caller_number for leg in legs} == {"anonymous", "9" * 32}


async def test_with_the_front_door_down_calls_reach_stasis_within_two_seconds(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    stack.stop_front_door()
    try:
        report = await rig.run(
            Scenario("agi-down", seat_phones(stack.site), (CallerSpec(RED_FIRM, hold=2.0),))
        )
    finally:
        stack.start_front_door()
    answered_by_a_seat(report)
    leg = leg_of(legs_since(stack, since), RED_FIRM)
    started = report.callers[0].started_at
    assert started is not None
    # the installation's clock runs moved from real time; the phone's start is real time
    offset = clock.read_offset(clock.clock_file(stack.paths.state))
    waited = leg.entered_at.timestamp() - offset - started
    assert 0 <= waited < 2.0, f"the call reached the app {waited:.1f} s after it dialled"
    # the documented fallback: an unknown caller for the enterprise queue
    assert (leg.caller_kind, leg.queue, leg.queue_prio) == ("unknown", "enterprise", 0)


async def test_with_the_app_down_asterisk_queues_the_call_with_its_priority(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    stack.stop_app()
    seen: list[str] = []

    async def watch_queue() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any("prio: 10" in text for text in seen):
            seen.append(await asyncio.to_thread(stack.pbx.rx, "queue show enterprise"))
            await asyncio.sleep(0.2)

    try:
        watcher = asyncio.create_task(watch_queue())
        report = await rig.run(
            Scenario(
                "app-down",
                seat_phones(stack.site, answer_after=2.0),
                (CallerSpec(RED_FIRM, hold=4.0),),
            )
        )
        await watcher
    finally:
        stack.start_app()
    answered_by_a_seat(report)
    assert any("prio: 10" in text for text in seen), seen[-1:]
    # the app was down: Asterisk alone served the call, and its queue log records it (with
    # the firm's tier, looked up by its number); its moments are whole seconds
    legs = await ended_calls(registry, since - timedelta(seconds=1))
    served = [(leg.tier, leg.seat_id is not None) for leg in legs if leg.caller_number == RED_FIRM]
    assert served == [("key-firm", True)], legs
