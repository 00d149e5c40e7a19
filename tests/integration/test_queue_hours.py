"""Opening hours: out of the enterprise queue's hours (06:00-24:00 in Asia/Shanghai) a
caller hears the closed message, no seat is rung, and a call-back request is noted. The
clock is injected (HOTLINE_CLOCK), not waited for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from cdr.models import CallbackRequest, CallLeg
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import MAX_WAIT, seat_phones

pytestmark = pytest.mark.pbx

THREE_AM_IN_SHANGHAI = "2026-11-23T03:00:00+08:00"


async def test_out_of_hours_callers_hear_the_closed_message_and_get_a_call_back(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    since = datetime.now(UTC)
    stack.stop_app()
    stack.start_app(env={"HOTLINE_CLOCK": THREE_AM_IN_SHANGHAI})
    try:
        report = await rig.run(
            Scenario("closed", seat_phones(stack.site), (CallerSpec(landline(1), hold=None),))
        )
    finally:
        stack.stop_app()
        stack.start_app()

    caller = report.callers[0]
    assert caller.calls[0].events == ["calling", "answered", "remote-hangup"], report.render()
    assert caller.rtp_received > 50 * 4, "the closed message was played"
    assert all(not phone.calls for phone in report.phones), "no seat may be rung when closed"
    with registry.sessions() as session:
        leg = session.execute(select(CallLeg).where(CallLeg.entered_at >= since)).scalar_one()
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
    since = datetime.now(UTC)
    phones = tuple(p for p in seat_phones(stack.site) if p.name == one_seat)
    callers = (
        CallerSpec(landline(3), hold=MAX_WAIT + 8.0),  # keeps the only seat busy throughout
        CallerSpec(landline(5), at=1.0, hold=None),  # waits, until the maximum sends it off
    )
    report = await rig.run(Scenario("max-wait", phones, callers))

    waiting = report.callers[1]
    assert waiting.calls[0].events == ["calling", "answered", "remote-hangup"], report.render()
    with registry.sessions() as session:
        leg = session.execute(
            select(CallLeg).where(CallLeg.entered_at >= since, CallLeg.caller_number == landline(5))
        ).scalar_one()
        request = session.execute(
            select(CallbackRequest).where(CallbackRequest.caller_channel == leg.caller_channel)
        ).scalar_one()
    assert (leg.outcome, leg.seat_id, request.reason) == ("max-wait", None, "max-wait")
    assert leg.wait_seconds is not None and leg.wait_seconds >= MAX_WAIT
