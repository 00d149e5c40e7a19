"""Call-backs on the real PBX, with SIPp as the seats and as the carrier's SBC (where the
hotline's calls out arrive): a waiting caller keys 1 and is let go; in their turn a seat is
rung first, then the SBC receives an INVITE for the company's number with the hotline's
number, and both talk; a company busy twice is called until it answers, every attempt
recorded; a red-list call-back asked for after an ordinary one is served first; a company
that calls in again while its call-back rings a seat calls it off, and takes the seat."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from callback.book import is_attempt
from cdr.models import CallbackAttempt, CallbackRequest
from core import clock
from core.stores import redis_url
from hotline.stack import Stack
from queues.line import WaitingLine
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import Behaviour, CallerSpec, KeyPress, PhoneSpec, Rig, Scenario
from tests.conftest import CARRIER_SBC, called_back, eventually, move_clock, seat_phones

pytestmark = pytest.mark.pbx

RED, PLAIN = landline(0), landline(1)  # a key firm and an ordinary firm of the registry
RETRY_AFTER = 300  # the example site's [callbacks].retry_after


def sbc(behaviour: Behaviour = Behaviour.ANSWER) -> PhoneSpec:
    """The carrier's SBC: answers (and talks with a 660 Hz tone for 2 s) or is busy."""
    return PhoneSpec("carrier-sbc", CARRIER_SBC, behaviour, answer_after=0.5, hold=2.0, tone=660)


def keys_1(number: str, at: float = 0.0) -> CallerSpec:
    """A caller who waits and keys 1 two seconds into the wait."""
    return CallerSpec(number, at=at, hold=None, keys=(KeyPress(2.0, "1"),))


def attempts_of(registry: RedList, number: str) -> list[tuple[str, str | None, int]]:
    with registry.sessions() as session:
        requests = select(CallbackRequest.caller_channel).where(CallbackRequest.number == number)
        rows = session.execute(
            select(CallbackAttempt)
            .where(CallbackAttempt.request.in_(requests))
            .order_by(CallbackAttempt.id)
        ).scalars()
        return [(row.outcome, row.seat_id, row.attempt) for row in rows]


async def resume_when_booked(stack: Stack, seat: str, booked: int = 1) -> None:
    """Free ``seat`` once ``booked`` call-backs wait in the line (their turn can come)."""
    redis = Redis.from_url(redis_url(stack.paths))
    try:

        async def waiting() -> bool:
            line = await WaitingLine(redis, "enterprise", 0).callers()
            return sum(is_attempt(member) for member in line) >= booked

        assert await eventually(waiting, within=20), "the call-back never took its place"
        await SeatPool(redis).resume(seat)
    finally:
        await redis.aclose()


async def test_a_caller_who_keys_1_is_called_back_until_the_company_answers(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """Keys 1, is let go; attempt 1 and 2 find the company busy (a seat rung first each
    time), attempt 3 (``retry_after`` later each) reaches it and seat and company talk."""
    seat = next(p for p in seat_phones(stack.site) if p.name == one_seat)
    redis = Redis.from_url(redis_url(stack.paths))
    await SeatPool(redis).pause(one_seat, "test: busy with something else")
    await redis.aclose()

    async def tried(count: int) -> bool:
        return len(attempts_of(registry, PLAIN)) >= count

    freeing = asyncio.create_task(resume_when_booked(stack, one_seat))
    first = await rig.run(
        Scenario("keys-1", (seat, sbc(Behaviour.BUSY)), (keys_1(PLAIN),)),
        until=lambda: tried(1),
    )
    await freeing
    caller = first.callers[0]
    assert caller.calls[0].events == ["calling", "answered", "keyed", "remote-hangup"], (
        first.render()
    )
    assert first.phone(one_seat).answered == 1, "the seat is rung before the company"
    assert [c.invited for c in first.phone("carrier-sbc").calls] == [(PLAIN, "12345")]

    move_clock(stack.paths, by=RETRY_AFTER)
    second = await rig.run(
        Scenario("busy-again", (seat, sbc(Behaviour.BUSY)), ()), until=lambda: tried(2)
    )
    move_clock(stack.paths, by=RETRY_AFTER)

    async def talked() -> bool:
        return any(leg.ended_at for leg in called_back(registry, PLAIN))

    third = await rig.run(Scenario("answered", (seat, sbc()), ()), until=talked)
    assert second.phone("carrier-sbc").calls and third.phone("carrier-sbc").answered == 1
    company, desk = third.phone("carrier-sbc"), third.phone(one_seat)
    assert company.rtp_received > 50 and desk.rtp_received > 50, third.render()  # both ways
    assert attempts_of(registry, PLAIN) == [
        ("busy", one_seat, 1),
        ("busy", one_seat, 2),
        ("reached", one_seat, 3),
    ]
    (leg,) = called_back(registry, PLAIN)
    with registry.sessions() as session:
        request = session.execute(
            select(CallbackRequest).where(CallbackRequest.caller_channel == leg.callback_request)
        ).scalar_one()
    assert (request.reason, request.state, request.attempts) == ("callback", "reached", 2)
    assert (leg.seat_id, leg.outcome) == (one_seat, "caller-hangup")


async def test_a_red_list_call_back_asked_for_after_an_ordinary_one_is_served_first(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    seat = next(p for p in seat_phones(stack.site, hold=None) if p.name == one_seat)
    redis = Redis.from_url(redis_url(stack.paths))
    await SeatPool(redis).pause(one_seat, "test: busy with something else")
    await redis.aclose()

    async def both_talked() -> bool:
        return all(any(leg.ended_at for leg in called_back(registry, n)) for n in (RED, PLAIN))

    freeing = asyncio.create_task(resume_when_booked(stack, one_seat, booked=2))
    report = await rig.run(
        Scenario("red-first", (seat, sbc()), (keys_1(PLAIN), keys_1(RED, at=2.0))),
        until=both_talked,
    )
    await freeing
    invited = [call.invited for call in report.phone("carrier-sbc").calls]
    assert invited == [(RED, "12345"), (PLAIN, "12345")], report.render()


async def test_a_company_that_calls_in_while_its_call_back_rings_a_seat_takes_the_seat(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """The call-back waits (the seat paused); the seat is freed and rung for it, and while
    it rings the company calls in: the seat stops ringing for the call-back (cancelled,
    the company never dialled) and rings for the company's own call, which it answers."""
    since = clock.now()
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    await seats.pause(one_seat, "test: busy with something else")

    async def in_line() -> bool:
        line = await WaitingLine(redis, "enterprise", 0).callers()
        return any(is_attempt(member) for member in line)

    await rig.run(Scenario("keys-1-alone", (), (keys_1(PLAIN),)), until=in_line, within=20)
    assert await in_line(), "the call-back never took its place"

    async def free_the_seat() -> None:
        await asyncio.sleep(0.5)  # the seat's phone is up: rung for the call-back first
        await seats.resume(one_seat)

    seat = PhoneSpec(one_seat, _port(stack, one_seat), answer_after=4.0, hold=2.0)
    freeing = asyncio.create_task(free_the_seat())
    report = await rig.run(
        Scenario("calls-in-again", (seat, sbc()), (CallerSpec(PLAIN, at=1.5, hold=None),))
    )
    await freeing
    await redis.aclose()
    # rung for the call-back and let go unanswered (SIPp ends that call on the CANCEL),
    # then rung for the company's own call and answered
    assert [c.events for c in report.phone(one_seat).calls] == [
        ["ringing"],
        ["ringing", "answered", "local-hangup"],
    ], report.render()
    assert report.callers[0].calls[0].events == ["calling", "answered", "remote-hangup"]
    assert not report.phone("carrier-sbc").calls, "the company is not dialled"
    with registry.sessions() as session:  # this test's request (earlier ones called PLAIN)
        request = session.execute(
            select(CallbackRequest).where(
                CallbackRequest.number == PLAIN, CallbackRequest.requested_at >= since
            )
        ).scalar_one()
        tried = session.execute(
            select(CallbackAttempt).where(CallbackAttempt.request == request.caller_channel)
        ).scalars()
        attempts = [(row.outcome, row.seat_id, row.attempt) for row in tried]
    assert (request.state, attempts) == ("cancelled", [("cancelled", one_seat, 1)])


def _port(stack: Stack, seat: str) -> int:
    return next(p.port for p in seat_phones(stack.site) if p.name == seat)
