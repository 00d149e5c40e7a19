"""Seats on real phones: a seat that lets a call ring out is paused and the call goes to the
next seat; a seat in its wrap-up time after a call is not rung."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from ari_app.client import Ari
from cdr.models import CallLeg
from core import clock
from core.stores import redis_url
from hotline.stack import Stack
from queues.seats import IDLE, SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import Behaviour, CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import WRAP_UP, eventually, seat_phones

pytestmark = pytest.mark.pbx


async def test_a_seat_that_does_not_answer_is_paused_and_the_next_seat_takes_the_call(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    away, present = "1001", "1002"
    others = [seat.id for seat in stack.site.seats if seat.id not in (away, present)]
    for seat in others:
        await seats.pause(seat, "test")
    await redis.zadd(IDLE, {away: -1}, xx=True)  # the absent agent's seat is rung first
    phones = {p.name: p for p in seat_phones(stack.site, hold=2.0)}
    try:
        report = await rig.run(
            Scenario(
                "rings-out",
                (PhoneSpec(away, phones[away].port, behaviour=Behaviour.RING), phones[present]),
                (CallerSpec(landline(3), hold=None),),
            )
        )
        paused = await seats.paused()
    finally:
        for seat in [*others, away]:
            await seats.resume(seat)
        await redis.aclose()

    assert report.callers[0].exit_code == 0, report.render()
    assert [c.events for c in report.phone(away).calls] == [["ringing", "cancelled"]]
    assert report.phone(present).answered == 1
    assert paused.get(away) == "no-answer"


async def test_a_seat_in_wrap_up_is_not_rung(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site, hold=None) if p.name == one_seat)
    callers = (  # the callers hang up (a seat hanging up would leave them in the survey)
        CallerSpec(landline(1), at=0.0, hold=2.0),
        CallerSpec(landline(3), at=3.0, hold=6.0),  # arrives during the seat's wrap-up
    )
    report = await rig.run(Scenario("wrap-up", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    with registry.sessions() as session:
        first, second = session.execute(
            select(CallLeg).where(CallLeg.entered_at >= since).order_by(CallLeg.entered_at)
        ).scalars()
    assert first.ended_at is not None and second.answered_at is not None
    assert (second.answered_at - first.ended_at).total_seconds() >= WRAP_UP - 0.3


async def test_a_seat_logs_out_and_in_with_feature_codes_on_its_phone(
    rig: Rig, stack: Stack
) -> None:
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)

    port = next(p.port for p in seat_phones(stack.site) if p.name == "1003")

    async def key(code: str) -> dict[str, object]:
        # seat 1003's own phone: its address and its port
        phone = CallerSpec("1003", dial=code, hold=None, source="127.0.0.1", source_port=port)
        report = await rig.run(Scenario(f"code-{code}", (), (phone,)))
        assert report.callers[0].calls[0].events == ["calling", "answered", "remote-hangup"], (
            report.render()
        )
        return (await seats.states(["1003"]))["1003"]

    try:
        assert await key("*42") == {"state": "paused", "reason": "logged-out"}
        assert await key("*41") == {"state": "available"}
        assert await key("*43") == {"state": "paused", "reason": "phone"}
        assert await key("*44") == {"state": "available"}
    finally:
        await seats.resume("1003")
        await redis.aclose()


async def test_a_seat_phone_that_vanishes_mid_call_frees_its_seat_and_its_channels(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str, ari: Ari
) -> None:
    """A power cut at the seat's desk: no BYE, no more audio. Asterisk hangs the seat's leg
    up when its audio stops (RTP timeout); the seat is free again, nothing is left up, and
    the call is recorded as ``seat-lost``."""
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    phones = {p.name: p for p in seat_phones(stack.site)}
    vanishing = PhoneSpec(one_seat, phones[one_seat].port, Behaviour.VANISH, 0.3, hold=2.0)
    since = clock.now()
    try:
        report = await rig.run(
            Scenario("vanishes", (vanishing,), (CallerSpec(landline(3), hold=None),)), grace=1
        )
        caller, seat = report.callers[0], report.phones[0]
        assert seat.calls[0].events == ["ringing", "answered", "vanished"], seat.summary()
        assert caller.exit_code == 0, caller.errors  # the call ended for the caller too

        async def all_gone() -> bool:
            return not await ari.channels() and await seats.busy_with(one_seat) is None

        assert await eventually(all_gone, within=90), "a channel or the seat is still held"
        with registry.sessions() as session:
            leg = session.execute(select(CallLeg).where(CallLeg.entered_at >= since)).scalar_one()
        # the record says the seat's phone was lost, not that the seat hung up
        assert leg.seat_id == one_seat and leg.outcome == "seat-lost", leg.outcome
    finally:
        await redis.aclose()
