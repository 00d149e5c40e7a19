"""Opening hours: out of the enterprise queue's hours (06:00-24:00 in Asia/Shanghai) a
caller hears the closed message, no seat is rung, and a call-back is booked for the opening;
a caller who waits the queue's maximum hears a message and is called back. The clock of the
whole installation is moved (``core.clock``), not waited for."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from callback.book import CallbackBook
from cdr.models import CallbackAttempt, CallbackRequest
from core import clock
from core.stores import redis_url
from hotline.stack import Stack
from queues.line import WaitingLine
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import (
    CARRIER_SBC,
    HEAD_START,
    MAX_WAIT,
    called_back,
    ended_calls,
    eventually,
    move_clock,
    seat_phones,
)
from tests.integration.conftest import drop_call_backs

pytestmark = pytest.mark.pbx

THREE_AM_NEXT_DAY = "2026-11-24T03:00:00+08:00"
TEN_AM_NEXT_DAY = "2026-11-24T10:00:00+08:00"


async def test_out_of_hours_callers_hear_the_closed_message_and_get_a_call_back(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    move_clock(stack.paths, to=THREE_AM_NEXT_DAY)
    since = clock.now()
    redis = Redis.from_url(redis_url(stack.paths))
    try:
        report = await rig.run(
            Scenario("closed", seat_phones(stack.site), (CallerSpec(landline(1), hold=None),))
        )
        # booked with the caller's place, waiting for the queue to open (not tried at 3 am)
        booked = await CallbackBook(redis).pending()
    finally:
        drop_call_backs(redis_url(stack.paths), ["enterprise", "citizen"])
        move_clock(stack.paths, to=TEN_AM_NEXT_DAY)
        await redis.aclose()

    caller = report.callers[0]
    assert caller.calls[0].events == ["calling", "answered", "remote-hangup"], report.render()
    assert caller.rtp_received > 50 * 4, "the closed message was played"
    assert all(not phone.calls for phone in report.phones), "no seat may be rung when closed"
    (leg,) = await ended_calls(registry, since)
    with registry.sessions() as session:
        request = session.execute(
            select(CallbackRequest).where(CallbackRequest.caller_channel == leg.caller_channel)
        ).scalar_one()
    assert (leg.outcome, leg.seat_id) == ("closed", None)
    assert (request.caller_number, request.queue, request.reason) == (
        landline(1),
        "enterprise",
        "closed",
    )
    ((entry, due),) = booked
    assert (entry.request, entry.number, entry.queue, due is not None) == (
        leg.caller_channel,
        landline(1),
        "enterprise",
        True,
    )


async def test_a_caller_who_reaches_the_maximum_wait_is_told_and_called_back(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """The only seat is busy; the second caller waits the maximum, hears that they will be
    called back and is let go; once the seat is free it is rung, then the company's number
    goes out to the carrier's SBC with the hotline's number, and they talk."""
    since = clock.now()
    phones = (
        *(p for p in seat_phones(stack.site) if p.name == one_seat),
        PhoneSpec("carrier-sbc", CARRIER_SBC, answer_after=0.5, hold=2.0, tone=660.0),
    )
    callers = (
        CallerSpec(landline(3), hold=12.0),  # keeps the only seat busy meanwhile
        CallerSpec(landline(5), at=1.0, hold=None),  # waits, until the maximum sends it off
    )
    redis = Redis.from_url(redis_url(stack.paths))
    line, seats = WaitingLine(redis, "enterprise", HEAD_START), SeatPool(redis)

    async def kept() -> bool:  # the call-back reached the company and their talk is over
        return any(leg.ended_at for leg in called_back(registry, landline(5)))

    playing = asyncio.create_task(
        rig.run(Scenario("max-wait", phones, callers), until=kept, within=40)
    )

    async def second_caller_waits() -> bool:  # the line holds a caller the seat is not on
        waiting, talking = await line.callers(), await seats.busy_with(one_seat)
        return len(waiting) == 1 and talking is not None and talking not in waiting

    assert await eventually(second_caller_waits, within=10), "the second caller never waited"
    move_clock(stack.paths, by=MAX_WAIT)  # its maximum wait has passed
    report = await playing
    await redis.aclose()

    waiting = report.callers[1]
    assert waiting.calls[0].events == ["calling", "answered", "remote-hangup"], report.render()
    legs = {
        leg.caller_number: leg
        for leg in await ended_calls(registry, since, count=3)
        if leg.callback_request is None
    }
    leg = legs[landline(5)]
    with registry.sessions() as session:
        request = session.execute(
            select(CallbackRequest).where(CallbackRequest.caller_channel == leg.caller_channel)
        ).scalar_one()
        tried = select(CallbackAttempt).where(CallbackAttempt.request == leg.caller_channel)
        attempts = list(session.execute(tried).scalars())
    assert (leg.outcome, leg.seat_id, request.reason) == ("max-wait", None, "max-wait")
    assert leg.wait_seconds is not None and leg.wait_seconds >= MAX_WAIT
    (back,) = called_back(registry, landline(5))
    assert (back.seat_id, back.callback_request, request.state) == (
        one_seat,
        leg.caller_channel,
        "reached",
    )
    assert [(a.outcome, a.seat_id) for a in attempts] == [("reached", one_seat)]
    sbc = report.phone("carrier-sbc")
    assert [call.invited for call in sbc.calls] == [(landline(5), "12345")], report.render()
    assert sbc.rtp_received > 50 and report.phone(one_seat).answered == 2, report.render()
