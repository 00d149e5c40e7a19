"""The three-way transfer on real calls: the seat keys a matter code, the department's
numbers are dialled in turn, the specialist joins caller and seat in one bridge; busy and
no answer forward; nobody reachable or a closed department makes a work order."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ari_app.client import Ari
from cdr.models import CallLeg
from core import clock
from hotline import services
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.media import tone_presence
from rig.orchestrator import Behaviour, CallerSpec, KeyPress, PhoneSpec, Rig, Scenario
from tests.conftest import (
    DESK_PHONE,
    SPECIALIST_A,
    SPECIALIST_B,
    ended_calls,
    eventually,
    holds,
    move_clock,
    seat_phones,
)
from transfer.models import TransferAttempt, TransferRequest, WorkOrder

pytestmark = pytest.mark.pbx

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALLER = landline(1)


def specialist(number: str, behaviour: Behaviour = Behaviour.ANSWER, **kw: float) -> PhoneSpec:
    port = {SPECIALIST_A: 5081, SPECIALIST_B: 5082}[number]
    return PhoneSpec(number, port, behaviour=behaviour, **kw)  # type: ignore[arg-type]


def seat(one_seat: str, stack: Stack, *keys: KeyPress, hold: float | None = None) -> PhoneSpec:
    port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    return PhoneSpec(one_seat, port, answer_after=0.3, hold=hold, keys=keys)


async def the_call(registry: RedList, since: datetime, number: str = CALLER) -> CallLeg:
    """The call from ``number`` since ``since``, once recorded to its end."""
    (leg,) = [leg for leg in await ended_calls(registry, since) if leg.caller_number == number]
    return leg


def transfer_of(
    registry: RedList, leg: CallLeg
) -> tuple[TransferRequest, list[TransferAttempt], WorkOrder | None]:
    with registry.sessions() as session:
        request = session.execute(
            select(TransferRequest).where(TransferRequest.caller_channel == leg.caller_channel)
        ).scalar_one()
        attempts = list(
            session.execute(
                select(TransferAttempt)
                .where(TransferAttempt.request_id == request.id)
                .order_by(TransferAttempt.position)
            ).scalars()
        )
        order = session.get(WorkOrder, request.work_order_id) if request.work_order_id else None
        session.expunge_all()
        return request, attempts, order


async def nothing_left(ari: Ari) -> bool:
    async def empty() -> bool:
        return not await ari.channels() and not await ari.bridges()

    return await eventually(empty, within=8)


async def test_the_seat_keys_a_matter_and_the_specialist_joins_caller_and_seat(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """Each party sends its own tone (caller 440 Hz, seat 700 Hz, specialist 1100 Hz); each
    must hear the tones of the other two, and not its own."""
    since = clock.now()
    caller_tone, seat_tone, specialist_tone = 440.0, 700.0, 1100.0
    port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (
        PhoneSpec(one_seat, port, answer_after=0.3, keys=(KeyPress(1.0, "*101#"),), tone=seat_tone),
        PhoneSpec(SPECIALIST_A, 5081, answer_after=0.5, hold=6.0, tone=specialist_tone),
    )
    sizes: list[int] = []

    async def watch() -> None:
        while True:
            sizes.extend(len(b["channels"]) for b in await ari.bridges())
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    try:
        report = await rig.run(
            Scenario("three-way", phones, (CallerSpec(CALLER, hold=12.0, tone=caller_tone),)),
            listen=(CALLER, one_seat, SPECIALIST_A),
        )
    finally:
        watcher.cancel()
    assert report.callers[0].exit_code == 0, report.render()
    assert max(sizes) == 3, "caller, seat and specialist were never in one bridge"
    spec, seat_phone, caller = report.phone(SPECIALIST_A), report.phone(one_seat), report.callers[0]
    assert spec.calls[0].events == ["ringing", "answered", "local-hangup"], report.render()
    # audio reached everyone from the other two (share of 100 ms blocks carrying each tone);
    # the specialist was there for 6 s of the caller's and the seat's 12
    assert tone_presence(spec.audio, caller_tone) > 0.6
    assert tone_presence(spec.audio, seat_tone) > 0.6
    assert tone_presence(caller.audio, seat_tone) > 0.6
    assert tone_presence(caller.audio, specialist_tone) > 0.25
    assert tone_presence(seat_phone.audio, caller_tone) > 0.6
    assert tone_presence(seat_phone.audio, specialist_tone) > 0.25
    # and nobody hears themselves: the detector tells the tones apart
    assert tone_presence(caller.audio, caller_tone) < 0.1
    assert tone_presence(spec.audio, specialist_tone) < 0.1
    request, attempts, order = transfer_of(registry, await the_call(registry, since))
    assert (request.outcome, request.answered_number, request.via) == (
        "answered",
        SPECIALIST_A,
        "keypad",
    )
    assert request.in_hours and order is None
    assert [(a.number, a.outcome) for a in attempts] == [(SPECIALIST_A, "answered")]
    assert await nothing_left(ari), "a channel or bridge was left"


async def test_a_busy_first_number_forwards_to_the_second(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = (
        seat(one_seat, stack, KeyPress(1.0, "*901#"), hold=8.0),
        specialist(SPECIALIST_A, Behaviour.BUSY),
        specialist(SPECIALIST_B, answer_after=0.5, hold=3.0),
    )
    report = await rig.run(Scenario("busy-forward", phones, (CallerSpec(CALLER, hold=None),)))
    assert report.callers[0].exit_code == 0, report.render()
    request, attempts, _ = transfer_of(registry, await the_call(registry, since))
    assert (request.outcome, request.answered_number) == ("answered", SPECIALIST_B)
    assert [(a.number, a.outcome, a.cause, a.sip_code) for a in attempts] == [
        (SPECIALIST_A, "busy", 17, 486),
        (SPECIALIST_B, "answered", None, None),
    ]
    assert await nothing_left(ari)


async def test_no_answer_then_unregistered_then_answered(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """While the specialists' phones ring, caller and seat hear the ringing tone (450 Hz,
    China's ringback), not silence."""
    since = clock.now()
    port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (
        PhoneSpec(
            one_seat, port, answer_after=0.3, hold=14.0, keys=(KeyPress(1.0, "*902#"),), tone=1100
        ),
        specialist(SPECIALIST_A, Behaviour.RING),
        specialist(SPECIALIST_B, answer_after=0.5, hold=3.0),
    )
    report = await rig.run(
        Scenario("forwards", phones, (CallerSpec(CALLER, hold=None, tone=700),)),
        listen=(CALLER, one_seat),
    )
    assert report.callers[0].exit_code == 0, report.render()
    assert report.phone(SPECIALIST_A).calls[0].events == ["ringing", "cancelled"]
    request, attempts, _ = transfer_of(registry, await the_call(registry, since))
    assert (request.outcome, request.answered_number) == ("answered", SPECIALIST_B)
    assert [(a.number, a.outcome) for a in attempts] == [
        (SPECIALIST_A, "no-answer"),
        (DESK_PHONE, "unavailable"),
        (SPECIALIST_B, "answered"),
    ]
    assert attempts[0].rang_seconds is not None and 4.0 < attempts[0].rang_seconds < 7.0
    # China's ringback plays 1 s in 5: over ~6 s of ringing in a ~14 s call, both heard it
    heard = [tone_presence(report.callers[0].audio, 450.0)]
    heard.append(tone_presence(report.phone(one_seat).audio, 450.0))
    assert min(heard) > 0.04, heard
    assert await nothing_left(ari)


async def test_the_seat_cancels_a_transfer_that_still_rings(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = (
        seat(one_seat, stack, KeyPress(1.0, "*901#"), KeyPress(3.5, "*#"), hold=7.0),
        specialist(SPECIALIST_A, Behaviour.RING),
    )
    report = await rig.run(Scenario("cancel", phones, (CallerSpec(CALLER, hold=None),)))
    assert report.callers[0].exit_code == 0, report.render()
    assert report.phone(SPECIALIST_A).calls[0].events == ["ringing", "cancelled"]
    assert report.phone(one_seat).calls[0].events[-1] == "local-hangup"  # talked on, then left
    leg = await the_call(registry, since)
    request, attempts, order = transfer_of(registry, leg)
    assert (request.outcome, order) == ("cancelled", None)
    assert [(a.outcome, a.cancelled_by) for a in attempts] == [("cancelled", one_seat)]
    assert leg.outcome == "seat-hangup"
    assert await nothing_left(ari)


def next_monday_ten() -> str:
    """The next Monday 10:00 in Shanghai after the installation's now (a working day: the
    tests' clock starts on 2026-11-23 and moves forward by hours)."""
    local = clock.now().astimezone(SHANGHAI)
    monday = (local + timedelta(days=(7 - local.weekday()) % 7 or 7)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    return monday.isoformat()


async def test_when_every_number_fails_a_second_urgent_order_is_made(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    move_clock(stack.paths, to=next_monday_ten())  # whichever test ran before
    since = clock.now()
    phones = (
        seat(one_seat, stack, KeyPress(1.0, "*901#"), hold=9.0),
        specialist(SPECIALIST_A, Behaviour.BUSY),
        specialist(SPECIALIST_B, Behaviour.BUSY),
    )
    report = await rig.run(Scenario("all-busy", phones, (CallerSpec(CALLER, hold=None),)))
    assert report.callers[0].exit_code == 0, report.render()
    request, attempts, order = transfer_of(registry, await the_call(registry, since))
    assert request.outcome == "failed" and request.in_hours
    assert [a.outcome for a in attempts] == ["busy", "busy"]
    assert order is not None
    assert (order.department_code, order.matter_code, order.level, order.state) == (
        "tax",
        "901",
        "second-urgent",
        "open",
    )
    assert order.caller_number == CALLER and order.enterprise_id is not None
    # made on a Monday at 10:00: 24 h of the tax bureau's working time (09:00-12:00,
    # 13:30-17:30, 7 h a day) later is Thursday 14:30, three days on: 3 days 4 h 30 min
    created = order.created_at.astimezone(SHANGHAI)
    assert (created.weekday(), created.hour) == (0, 10)
    assert order.deadline_at - order.created_at == timedelta(days=3, hours=4, minutes=30)
    assert await nothing_left(ari)


async def test_a_closed_department_gets_an_order_and_nobody_is_dialled(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = (seat(one_seat, stack, KeyPress(1.0, "*903#"), hold=7.0), specialist(SPECIALIST_A))
    report = await rig.run(Scenario("closed-dept", phones, (CallerSpec(CALLER, hold=None),)))
    assert report.callers[0].exit_code == 0, report.render()
    assert report.phone(SPECIALIST_A).calls == []
    request, attempts, order = transfer_of(registry, await the_call(registry, since))
    assert (request.outcome, request.in_hours, attempts) == ("closed", False, [])
    assert order is not None and (order.reason, order.department_code) == ("closed", "night")


async def test_the_seat_leaves_and_caller_and_specialist_keep_talking(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = (
        seat(one_seat, stack, KeyPress(1.0, "*901#"), KeyPress(4.0, "*0#")),
        specialist(SPECIALIST_A, answer_after=0.5, hold=9.0),
    )
    report = await rig.run(Scenario("seat-leaves", phones, (CallerSpec(CALLER, hold=None),)))
    caller = report.callers[0]
    assert caller.exit_code == 0, report.render()
    assert caller.calls[0].events == ["calling", "answered", "remote-hangup"]
    assert report.phone(one_seat).calls[0].events[-1] == "remote-hangup"
    spec = report.phone(SPECIALIST_A)
    assert spec.calls[0].events == ["ringing", "answered", "local-hangup"]
    assert spec.rtp_received > 0.8 * 50 * 9.0 and caller.rtp_received > 0.8 * 50 * 10.0
    leg = await the_call(registry, since)
    assert leg.outcome == "specialist-hangup"
    assert await nothing_left(ari)


async def test_the_caller_hangs_up_while_the_specialist_rings(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = (
        seat(one_seat, stack, KeyPress(1.0, "*901#")),
        specialist(SPECIALIST_A, Behaviour.RING),
    )
    report = await rig.run(Scenario("abandon-ring", phones, (CallerSpec(CALLER, hold=4.0),)))
    assert report.callers[0].exit_code == 0, report.render()
    assert report.phone(SPECIALIST_A).calls[0].events == ["ringing", "cancelled"]
    request, attempts, order = transfer_of(registry, await the_call(registry, since))
    assert request.outcome == "abandoned" and order is None
    assert [(a.number, a.outcome) for a in attempts] == [(SPECIALIST_A, "abandoned")]
    assert await nothing_left(ari)


async def test_a_three_way_call_survives_a_restart_of_the_app(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    talk = 10.0
    phones = (
        seat(one_seat, stack, KeyPress(1.0, "*901#"), hold=talk + 4.0),
        specialist(SPECIALIST_A, answer_after=0.5, hold=talk),
    )
    playing = asyncio.create_task(
        rig.run(Scenario("restart-3way", phones, (CallerSpec(CALLER, hold=None),)))
    )

    async def three_way() -> bool:
        return any(len(b["channels"]) == 3 for b in await ari.bridges())

    assert await eventually(three_way, within=10), "the specialist never joined"
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)
    assert await holds(three_way, during=1.5), "killing the app must not break the call"
    await asyncio.to_thread(stack.start_app)
    report = await playing
    caller = report.callers[0]
    assert caller.exit_code == 0, report.render()
    spec = report.phone(SPECIALIST_A)
    assert spec.calls[0].events == ["ringing", "answered", "local-hangup"]
    assert spec.rtp_received > 0.8 * 50 * talk
    # the specialist hung up; the seat and the caller went on, then the call ended cleanly
    leg = await the_call(registry, since)
    assert leg.ended_at is not None
    assert await nothing_left(ari)
