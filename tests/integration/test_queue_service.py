"""What a waiting caller hears and what the queue tells the world: position announcements,
events on Redis pub/sub, a record of every stay in a queue and every seat rung, and the
citizen line's one-key move to the enterprise queue."""

from __future__ import annotations

from datetime import datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from cdr.models import CallLeg, QueueVisit, SeatAttempt
from core import clock, keys
from core.stores import redis_url
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import Behaviour, CallerSpec, KeyPress, PhoneSpec, Rig, Scenario
from tests.conftest import EventLog, ended_calls, seat_phones

pytestmark = pytest.mark.pbx

MOBILE = "13900000042"  # not a registered company: hears the menu


async def legs_since(registry: RedList, since: datetime, calls: int) -> dict[str, CallLeg]:
    """The calls since ``since`` by caller number, once all ``calls`` are recorded."""
    return {leg.caller_number: leg for leg in await ended_calls(registry, since, count=calls)}


async def test_waiting_callers_hear_how_many_are_ahead_and_the_queue_publishes_each_step(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site, hold=9.0) if p.name == one_seat)
    talking, first, second = landline(1), landline(3), landline(5)
    callers = (
        CallerSpec(talking, at=0.0, hold=None),  # holds the seat for 9 s
        CallerSpec(first, at=1.0, hold=None),
        CallerSpec(second, at=1.5, hold=None),
    )
    async with EventLog(redis_url(stack.paths)) as log:
        report = await rig.run(Scenario("announce", phones, callers))
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    legs = await legs_since(registry, since, len(callers))

    def heard(number: str) -> list[object]:
        return [e["prompt"] for e in log.of(legs[number].caller_channel) if "prompt" in e]

    # Asterisk started playing each announcement (PlaybackStarted), with the right count
    assert heard(talking) == []  # answered at once: nothing to announce
    assert heard(first)[:1] == ["ahead-0-or-1"]  # and "or press 1 to be called back"
    assert heard(second)[:1] == ["ahead-1-or-1"]
    steps = [e["type"] for e in log.of(legs[second].caller_channel)]
    assert steps[0] == "caller-joined" and steps[-1] == "call-ended"
    assert steps.index("caller-announced") < steps.index("seat-ringing")
    assert steps.index("seat-ringing") < steps.index("caller-answered")
    answered = next(
        e for e in log.of(legs[second].caller_channel) if e["type"] == "caller-answered"
    )
    assert answered["seat"] == one_seat and float(str(answered["waited"])) > 5.0
    # and the music came back after each announcement: every waiting caller was answered
    assert all(legs[n].answered_at is not None for n in (talking, first, second))


async def test_every_stay_in_a_queue_and_every_seat_rung_is_recorded(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    redis = Redis.from_url(redis_url(stack.paths))
    try:
        await SeatPool(redis).resume("1002")
        # the seat that is rung first is busy (486); then 1001 or 1002 answers
        phones = {p.name: p for p in seat_phones(stack.site, hold=1.0)}
        busy = PhoneSpec("1002", phones["1002"].port, behaviour=Behaviour.BUSY)
        await redis.zadd("hotline:seats:idle", {"1002": -1}, xx=True)
        report = await rig.run(
            Scenario("attempts", (busy, phones["1001"]), (CallerSpec(landline(7), hold=None),))
        )
    finally:
        await SeatPool(redis).pause("1002", "test: one seat only")
        await redis.aclose()
    assert report.callers[0].exit_code == 0, report.render()
    leg = (await legs_since(registry, since, 1))[landline(7)]
    with registry.sessions() as session:
        attempts = (
            session.execute(
                select(SeatAttempt)
                .where(SeatAttempt.caller_channel == leg.caller_channel)
                .order_by(SeatAttempt.rung_at)
            )
            .scalars()
            .all()
        )
        visits = (
            session.execute(
                select(QueueVisit).where(QueueVisit.caller_channel == leg.caller_channel)
            )
            .scalars()
            .all()
        )
    assert [(a.seat_id, a.outcome, a.cause) for a in attempts] == [
        ("1002", "declined", 17),
        ("1001", "answered", None),
    ]
    assert all(a.rang_seconds is not None and a.rang_seconds < 3.0 for a in attempts)
    assert [(v.queue, v.outcome, v.seat_id, v.tier) for v in visits] == [
        ("enterprise", "answered", "1001", None)
    ]
    assert visits[0].wait_seconds == pytest.approx(leg.wait_seconds)


async def test_a_citizen_seat_moves_the_caller_to_the_enterprise_queue_with_one_key(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """The moved caller keeps their first arrival: they go before an enterprise caller who
    called after them, though that one had been waiting in the enterprise queue longer."""
    since = clock.now()
    redis = Redis.from_url(redis_url(stack.paths))
    await SeatPool(redis).resume("2001")
    try:
        phones = {p.name: p for p in seat_phones(stack.site)}
        enterprise_seat = PhoneSpec(one_seat, phones[one_seat].port, answer_after=0.5, hold=7.0)
        citizen_seat = PhoneSpec(
            "2001", phones["2001"].port, answer_after=0.5, keys=(KeyPress(2.5, "#"),)
        )
        talking, later = landline(1), landline(3)
        callers = (
            CallerSpec(talking, at=0.0, hold=None),  # keeps the enterprise seat 7 s
            CallerSpec(MOBILE, at=0.0, hold=None, keys=(KeyPress(0.8, "1"),)),  # a citizen
            CallerSpec(later, at=2.0, hold=None),  # calls after the citizen, waits for 1001
        )
        report = await rig.run(Scenario("move", (enterprise_seat, citizen_seat), callers))
    finally:
        await SeatPool(redis).pause("2001", "test: one seat only")
        await redis.aclose()
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    citizen_calls = report.phone("2001").calls
    assert [c.events for c in citizen_calls] == [["ringing", "answered", "keyed", "remote-hangup"]]
    legs = await legs_since(registry, since, len(callers))
    moved = legs[MOBILE]
    assert (moved.caller_kind, moved.queue, moved.seat_id) == ("citizen", "enterprise", one_seat)
    answered = [legs[talking].answered_at, moved.answered_at, legs[later].answered_at]
    assert None not in answered and answered == sorted(answered)  # type: ignore[type-var]
    with registry.sessions() as session:
        visits = (
            session.execute(
                select(QueueVisit)
                .where(QueueVisit.caller_channel == moved.caller_channel)
                .order_by(QueueVisit.id)
            )
            .scalars()
            .all()
        )
    assert [(v.queue, v.outcome, v.seat_id) for v in visits] == [
        ("citizen", "moved", "2001"),
        ("enterprise", "answered", one_seat),
    ]


async def test_a_caller_who_went_while_nobody_watched_does_not_hold_the_line(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    """The jam a Redis hiccup left: a caller gone from Asterisk still first in the line (its
    clean-up failed). The next caller reaches a seat, and the place is freed and announced."""
    gone = "1700000000.999"
    redis = Redis.from_url(redis_url(stack.paths))
    try:
        await redis.zadd(keys.line_waiting("enterprise"), {gone: clock.time() - 600})
        await redis.hset(keys.line_owners("enterprise"), gone, "hotline")
        async with EventLog(redis_url(stack.paths)) as log:
            report = await rig.run(
                Scenario(
                    "gone-first-in-line",
                    seat_phones(stack.site, "enterprise", hold=2.0),
                    (CallerSpec(landline(7), hold=None),),
                )
            )
        assert report.callers[0].exit_code == 0, report.render()
        assert sum(phone.answered for phone in report.phones) == 1, report.render()
        assert await redis.zscore(keys.line_waiting("enterprise"), gone) is None
        assert [e["found"] for e in log.of(gone) if e["type"] == "place-freed"] == [
            "offered a seat"
        ]
    finally:
        await redis.zrem(keys.line_waiting("enterprise"), gone)
        await redis.hdel(keys.line_owners("enterprise"), gone)
        await redis.aclose()
