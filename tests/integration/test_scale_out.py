"""Two Stasis app processes against one Asterisk and one Redis: calls spread between them,
no seat rung for two calls at once, every call answered by exactly one seat — and none
lost when one process is killed in the middle of it all."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from ari_app.client import Ari
from cdr.models import SeatAttempt
from core import clock
from core.stores import redis_url
from hotline import services
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import EventLog, ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

SEAT_HOLD = 1.0
"""Seconds each seat's phone talks before hanging up."""

CALLERS = 50
KILL_AFTER = 15
"""Callers that have arrived when the second process is killed: it dies with calls talking,
ringing and arriving."""


async def test_two_processes_fifty_callers_five_seats_one_process_killed(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    redis = Redis.from_url(redis_url(stack.paths))
    for seat in stack.site.seats_of("enterprise"):
        await SeatPool(redis).resume(seat.id)
    await redis.aclose()
    await asyncio.to_thread(stack.start_app, 2)
    phones = seat_phones(stack.site, "enterprise", answer_after=0.3, hold=SEAT_HOLD)
    assert len(phones) == 5
    callers = tuple(CallerSpec(landline(i % 10), at=i * 0.5, hold=None) for i in range(CALLERS))
    try:
        async with EventLog(redis_url(stack.paths)) as log:
            playing = asyncio.create_task(rig.run(Scenario("two-apps", phones, callers)))

            def arrived_on_second() -> list[str]:
                return [
                    str(e["caller"])
                    for e in log.events
                    if e["type"] == "caller-joined" and e["app"] == "hotline-2"
                ]

            async def second_busy() -> bool:
                joined = [e for e in log.events if e["type"] == "caller-joined"]
                talking = {
                    str(e["caller"]) for e in log.events if e["type"] == "caller-answered"
                } - {str(e["caller"]) for e in log.events if e["type"] == "call-ended"}
                return len(joined) >= KILL_AFTER and bool(talking & set(arrived_on_second()))

            assert await eventually(second_busy, within=30), "the second process took no call"
            await asyncio.to_thread(services.stop, stack.paths, "app-2", 5.0, signal.SIGKILL)
            report = await playing
    finally:
        await asyncio.to_thread(stack.stop_app, 2)

    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    seat_answers = sum(phone.answered for phone in report.phones)
    joined = [e for e in log.events if e["type"] == "caller-joined"]
    served_by = {str(e["app"]) for e in joined}
    assert served_by == {"hotline", "hotline-2"}, "the calls were not spread over both"

    legs = await ended_calls(registry, since, count=CALLERS, within=30)
    with registry.sessions() as session:
        attempts = (
            session.execute(select(SeatAttempt).where(SeatAttempt.rung_at >= since)).scalars().all()
        )
    assert len(legs) == CALLERS
    assert all(leg.seat_id is not None and leg.outcome == "seat-hangup" for leg in legs)
    answered: defaultdict[str, int] = defaultdict(int)
    for attempt in attempts:
        if attempt.outcome == "answered":
            answered[attempt.caller_channel] += 1
    assert sorted(answered.values()) == [1] * CALLERS, "a call answered twice, or not at all"
    # a seat that picked up while the killed process rang it was cut off by Asterisk (its
    # application had gone): every answer beyond one per caller is such an interrupted ring
    interrupted = sum(1 for attempt in attempts if attempt.outcome == "interrupted")
    assert CALLERS <= seat_answers <= CALLERS + interrupted, report.render()

    # a seat is busy from being rung until it hangs up (its phone talks SEAT_HOLD seconds;
    # the caller then stays for the survey without it): never two calls at once
    busy: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for attempt in attempts:
        start = attempt.rung_at
        talk = SEAT_HOLD if attempt.outcome == "answered" else 0.0
        end = start + timedelta(seconds=(attempt.rang_seconds or 0.0) + talk)
        busy[attempt.seat_id].append((start, end))
    for seat_id, spans in busy.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - timedelta(seconds=0.05), f"seat {seat_id} rung during a call"

    async def nothing_left() -> bool:
        return not await ari.channels() and not await ari.bridges()

    assert await eventually(nothing_left, within=5), "a channel or bridge was left"


TALK = 10.0


async def test_a_connected_call_of_a_process_that_dies_is_adopted_and_ends_cleanly(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    await asyncio.to_thread(stack.start_app, 2)
    await asyncio.to_thread(stack.stop_app, 1)  # stopped: calls go to the second process
    phones = tuple(p for p in seat_phones(stack.site, hold=TALK) if p.name == one_seat)
    caller = CallerSpec(landline(9), hold=None)

    async def connected() -> bool:
        return any(len(bridge["channels"]) == 2 for bridge in await ari.bridges())

    try:
        async with EventLog(redis_url(stack.paths)) as log:
            playing = asyncio.create_task(rig.run(Scenario("adopted", phones, (caller,))))
            assert await eventually(connected, within=10), "the call was never connected"
            await asyncio.to_thread(stack.start_app, 1)
            await asyncio.to_thread(services.stop, stack.paths, "app-2", 5.0, signal.SIGKILL)
            report = await playing
    finally:
        await asyncio.to_thread(stack.start_app, 1)
        await asyncio.to_thread(stack.stop_app, 2)

    assert report.callers[0].calls[0].events == ["calling", "answered", "remote-hangup"]
    seat = report.phone(one_seat)
    assert seat.calls[0].events == ["ringing", "answered", "local-hangup"]
    # audio all along: ~50 packets/s for the whole talk, across the death of its process
    assert seat.rtp_received > 0.8 * 50 * TALK and report.callers[0].rtp_received > 0.8 * 50 * TALK
    (leg,) = await ended_calls(registry, since)
    assert (leg.seat_id, leg.outcome) == (one_seat, "seat-hangup")
    steps = {str(e["type"]): e["app"] for e in log.of(leg.caller_channel)}
    assert steps["caller-answered"] == "hotline-2" and steps["call-ended"] == "hotline"

    async def nothing_left() -> bool:
        return not await ari.channels() and not await ari.bridges()

    assert await eventually(nothing_left, within=5), "a channel or bridge was left"
