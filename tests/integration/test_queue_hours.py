"""Opening hours: out of the enterprise queue's hours (06:00-24:00 in Asia/Shanghai) a
caller hears the closed message, no seat is rung, and a call-back request is noted; a caller
who waits the queue's maximum hears a message and is noted for a call-back. The clock of the
whole installation is moved (``core.clock``), not waited for."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from cdr.models import CallbackRequest
from core import clock
from core.stores import redis_url
from hotline.stack import Stack
from queues.line import WaitingLine
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import (
    HEAD_START,
    MAX_WAIT,
    ended_calls,
    eventually,
    move_clock,
    seat_phones,
)

pytestmark = pytest.mark.pbx

THREE_AM_NEXT_DAY = "2026-11-24T03:00:00+08:00"
TEN_AM_NEXT_DAY = "2026-11-24T10:00:00+08:00"


async def test_out_of_hours_callers_hear_the_closed_message_and_get_a_call_back(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    move_clock(stack.paths, to=THREE_AM_NEXT_DAY)
    since = clock.now()
    try:
        report = await rig.run(
            Scenario("closed", seat_phones(stack.site), (CallerSpec(landline(1), hold=None),))
        )
    finally:
        move_clock(stack.paths, to=TEN_AM_NEXT_DAY)

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


async def test_a_caller_who_reaches_the_maximum_wait_gets_a_message_and_a_call_back(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site) if p.name == one_seat)
    callers = (
        CallerSpec(landline(3), hold=15.0),  # keeps the only seat busy throughout
        CallerSpec(landline(5), at=1.0, hold=None),  # waits, until the maximum sends it off
    )
    redis = Redis.from_url(redis_url(stack.paths))
    line, seats = WaitingLine(redis, "enterprise", HEAD_START), SeatPool(redis)
    playing = asyncio.create_task(rig.run(Scenario("max-wait", phones, callers)))

    async def second_caller_waits() -> bool:  # the line holds a caller the seat is not on
        waiting, talking = await line.callers(), await seats.busy_with(one_seat)
        return len(waiting) == 1 and talking is not None and talking not in waiting

    assert await eventually(second_caller_waits, within=10), "the second caller never waited"
    move_clock(stack.paths, by=MAX_WAIT)  # its maximum wait has passed
    report = await playing
    await redis.aclose()

    waiting = report.callers[1]
    assert waiting.calls[0].events == ["calling", "answered", "remote-hangup"], report.render()
    legs = {leg.caller_number: leg for leg in await ended_calls(registry, since, count=2)}
    leg = legs[landline(5)]
    with registry.sessions() as session:
        request = session.execute(
            select(CallbackRequest).where(CallbackRequest.caller_channel == leg.caller_channel)
        ).scalar_one()
    assert (leg.outcome, leg.seat_id, request.reason) == ("max-wait", None, "max-wait")
    assert leg.wait_seconds is not None and leg.wait_seconds >= MAX_WAIT
