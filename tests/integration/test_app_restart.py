"""The Stasis application dies in the middle of a call and is started again: the call keeps
its audio meanwhile, the new process takes it over, and when one side hangs up the other leg
is hung up and nothing is left in Asterisk."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from ari_app.client import Ari
from cdr.models import QueueVisit, SeatAttempt
from cdr.rollups import QueueHour
from core import clock
from core.stores import redis_url
from hotline import services
from hotline.stack import Stack
from queues.seats import SeatPool
from recording import files as recording_files
from recording.models import Recording
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import ended_calls, eventually, holds, seat_phones

pytestmark = pytest.mark.pbx

TALK = 9.0  # seconds the seat talks before hanging up


async def test_a_call_survives_a_restart_of_the_app_and_ends_cleanly(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    phones = seat_phones(stack.site, "enterprise", hold=TALK)
    playing = asyncio.create_task(
        rig.run(Scenario("restart", phones, (CallerSpec(landline(9), hold=None),)))
    )

    async def connected() -> bool:
        return any(len(bridge["channels"]) == 2 for bridge in await ari.bridges())

    assert await eventually(connected, within=10), "the call was never connected"
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)
    # the call goes on with no application at all
    assert await holds(connected, during=2.0), "killing the app must not break the call"
    await asyncio.to_thread(stack.start_app)
    report = await playing

    caller = report.callers[0]
    assert caller.exit_code == 0, report.render()
    assert caller.calls[0].events == ["calling", "answered", "remote-hangup"], report.render()
    seat = next(phone for phone in report.phones if phone.calls)
    assert seat.calls[0].events == ["ringing", "answered", "local-hangup"]
    # audio all along: ~50 packets/s for the whole talk, across the outage
    assert seat.rtp_received > 0.8 * 50 * TALK and caller.rtp_received > 0.8 * 50 * TALK

    async def nothing_left() -> bool:
        return not await ari.channels() and not await ari.bridges()

    assert await eventually(nothing_left, within=5), "a channel or bridge was left"
    (leg,) = await ended_calls(registry, since)
    assert (leg.seat_id, leg.outcome) == (seat.name, "seat-hangup"), (
        "the new process recorded the end"
    )


async def test_a_side_that_hangs_up_while_no_app_runs_ends_the_call_at_restart(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since = clock.now()
    phones = tuple(p for p in seat_phones(stack.site, hold=3.0) if p.name == one_seat)
    callers = (
        CallerSpec(landline(7), hold=None),  # its seat hangs up while the app is dead
        CallerSpec(landline(5), at=9.0, hold=2.0),  # later: the same seat must be free again
    )
    playing = asyncio.create_task(rig.run(Scenario("gone-while-down", phones, callers)))

    async def connected() -> bool:
        return any(len(bridge["channels"]) == 2 for bridge in await ari.bridges())

    assert await eventually(connected, within=10), "the call was never connected"
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)

    async def seat_gone() -> bool:
        return all(len(bridge["channels"]) < 2 for bridge in await ari.bridges())

    assert await eventually(seat_gone, within=10), "the seat should have hung up meanwhile"
    await asyncio.to_thread(stack.start_app)
    report = await playing

    assert [c.events for c in report.callers[0].calls] == [["calling", "answered", "remote-hangup"]]
    assert report.phone(one_seat).answered == 2, report.render()
    legs = await ended_calls(registry, since, count=2)
    (leg,) = [leg for leg in legs if leg.caller_number == landline(7)]
    # the new process found the seat's leg gone: the seat ended the call
    assert leg.outcome == "seat-hangup" and leg.ended_at is not None


async def test_a_seat_that_answers_while_no_app_runs_is_rung_again_at_restart(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    """Asterisk drops a seat's leg that answers into an application nobody runs; at restart
    the caller rings a seat afresh, and the lost attempt is recorded as interrupted."""
    since = clock.now()
    port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (PhoneSpec(one_seat, port, answer_after=3.0, hold=4.0),)
    playing = asyncio.create_task(
        rig.run(Scenario("answered-unwatched", phones, (CallerSpec(landline(3), hold=None),)))
    )

    async def seat_ringing() -> bool:
        channels = await ari.channels()
        return any(c["id"].startswith("seat-") for c in channels)

    assert await eventually(seat_ringing, within=10), "the seat was never rung"
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)

    async def seat_picked_up() -> bool:  # into an application nobody runs: Asterisk drops it
        channels = await ari.channels()
        return not any(c["id"].startswith("seat-") and c["state"] == "Ringing" for c in channels)

    assert await eventually(seat_picked_up, within=10), "the seat never picked up"
    await asyncio.to_thread(stack.start_app)
    report = await playing

    assert report.callers[0].exit_code == 0, report.render()
    assert report.phone(one_seat).calls[-1].events == ["ringing", "answered", "local-hangup"]
    (leg,) = await ended_calls(registry, since)
    with registry.sessions() as session:
        attempts = session.execute(
            select(SeatAttempt)
            .where(SeatAttempt.caller_channel == leg.caller_channel)
            .order_by(SeatAttempt.rung_at)
        ).scalars()
        outcomes = [a.outcome for a in attempts]
    assert (leg.seat_id, leg.outcome) == (one_seat, "seat-hangup")
    assert outcomes == ["interrupted", "answered"]

    async def nothing_left() -> bool:
        return not await ari.channels() and not await ari.bridges()

    assert await eventually(nothing_left, within=5), "a channel or bridge was left"


async def test_with_the_app_down_a_paused_seat_is_skipped_and_the_app_takes_its_callers_back(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    """Seat B paused, seat A idle, the app killed: Asterisk's own queue rings seat A only
    (B is paused there too). A second caller waits in Asterisk's queue while A talks; when
    the app is back it takes that caller back and puts it through to a seat, not to B."""
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    idle, away = "1001", "1002"
    others = [seat.id for seat in stack.site.seats if seat.id not in (idle, away)]
    phones = {p.name: p for p in seat_phones(stack.site, answer_after=0.3, hold=6.0)}
    for seat in [*others, away]:
        await seats.pause(seat, "test: away")

    async def queue_shows(check: Callable[[str], bool]) -> bool:
        return check(await asyncio.to_thread(stack.pbx.rx, "queue show enterprise"))

    def paused_in_asterisk(seat: str) -> Callable[[str], bool]:
        return lambda text: any(
            f"PJSIP/{seat}" in line and "paused" in line for line in text.splitlines()
        )

    since = clock.now() - timedelta(seconds=1)  # the queue log counts whole seconds
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)
    try:
        assert await eventually(lambda: queue_shows(paused_in_asterisk(away)), within=10)
        assert await queue_shows(lambda text: not paused_in_asterisk(idle)(text))
        playing = asyncio.create_task(
            rig.run(
                Scenario(
                    "fallback-mirror",
                    (phones[idle], phones[away]),
                    (
                        CallerSpec(landline(3), hold=None),
                        CallerSpec(landline(5), at=1.0, hold=None),
                    ),
                )
            )
        )
        # the second caller waits in Asterisk's queue (seat A talks with the first)
        assert await eventually(lambda: queue_shows(lambda t: "wait:" in t), within=10)
        await asyncio.to_thread(stack.start_app)
        back = clock.now()
        report = await playing
    finally:
        for seat in [*others, away]:
            await seats.resume(seat)
        if not stack.app_connected():
            await asyncio.to_thread(stack.start_app)
        await redis.aclose()
    assert report.phone(away).calls == [], "Asterisk's queue rang a paused seat"
    assert report.phone(idle).answered == 2, report.render()
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    legs = await ended_calls(registry, since, count=2)
    # the first served by Asterisk's queue alone (its queue log says so), the second taken back
    assert [leg.caller_number for leg in legs] == [landline(3), landline(5)]
    served = await asyncio.to_thread(_stays, registry, [leg.caller_channel for leg in legs])
    assert served == [("answered", "asterisk-queue", idle), ("answered", None, idle)], served
    assert legs[1].seat_id == idle and legs[1].answered_at is not None
    assert (legs[1].answered_at - back).total_seconds() < 30


def _stays(registry: RedList, calls: list[str]) -> list[tuple[str | None, str | None, str | None]]:
    """Each call's stay in the enterprise queue: how it ended, who held it, which seat."""
    stay = select(QueueVisit.outcome, QueueVisit.served_by, QueueVisit.seat_id)
    with registry.sessions() as session:
        return [
            (row.outcome, row.served_by, row.seat_id)
            for call in calls
            for row in session.execute(stay.where(QueueVisit.caller_channel == call))
        ]


async def test_with_the_app_down_callers_asterisk_serves_count_in_the_queue_report(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    """Two callers while no app process serves: Asterisk's queue puts them through to two
    seats; its queue log makes them answered calls with their wait in the queue report."""
    phones = {p.name: p for p in seat_phones(stack.site, answer_after=0.3, hold=3.0)}
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    others = [seat.id for seat in stack.site.seats if seat.id not in ("1001", "1002")]
    for seat in others:
        await seats.pause(seat, "test: two seats")
    since = clock.now() - timedelta(seconds=2)  # the queue log counts whole seconds
    before = _answered_today(registry, stack)
    await asyncio.to_thread(services.stop, stack.paths, "app", 5.0, signal.SIGKILL)
    try:
        report = await rig.run(
            Scenario(
                "asterisk-alone",
                (phones["1001"], phones["1002"]),
                (CallerSpec(landline(7), hold=None), CallerSpec(landline(9), at=0.5, hold=None)),
            )
        )
    finally:
        for seat in others:
            await seats.resume(seat)
        await asyncio.to_thread(stack.start_app)
        await redis.aclose()
    # Asterisk's queue may ring one seat for both callers at once (a ringing member is not
    # "in use" to it) and cancel the loser: count the calls the seats talked through
    talked = [c for phone in report.phones for c in phone.calls if c.has("local-hangup")]
    assert len(talked) == 2, report.render()
    legs = await ended_calls(registry, since, count=2)
    assert sorted(leg.caller_number for leg in legs) == [landline(7), landline(9)]
    assert all(leg.seat_id in ("1001", "1002") and leg.talk_seconds for leg in legs), legs
    stays = await asyncio.to_thread(_stays, registry, [leg.caller_channel for leg in legs])
    assert [(outcome, by) for outcome, by, _ in stays] == [("answered", "asterisk-queue")] * 2
    waits = [leg.wait_seconds for leg in legs]
    assert all(wait is not None and wait >= 0 for wait in waits), waits  # whole seconds
    answered, waited = _answered_today(registry, stack)
    assert answered == before[0] + 2, "the queue report counts both as answered"
    assert waited - before[1] == pytest.approx(sum(w or 0.0 for w in waits), abs=0.01)
    # the queue recorded both calls itself, each file as long as its talk
    root = recording_files.directory(stack.site, stack.paths)

    async def listed() -> bool:
        return len(_recordings(registry, [leg.caller_channel for leg in legs])) == 2

    assert await eventually(listed, within=10), "the queue's recordings were not listed"
    for leg in legs:
        (recording,) = _recordings(registry, [leg.caller_channel])
        assert recording.state == "recorded" and recording.name, recording.reason
        seconds = recording_files.ogg_seconds(recording_files.file_of(root, recording.name))
        assert seconds is not None and leg.talk_seconds is not None
        assert abs(seconds - leg.talk_seconds) <= 1.5, (seconds, leg.talk_seconds)


def _recordings(registry: RedList, calls: list[str]) -> list[Recording]:
    with registry.sessions() as session:
        rows = list(
            session.execute(select(Recording).where(Recording.caller_channel.in_(calls))).scalars()
        )
        session.expunge_all()
    return rows


def _answered_today(registry: RedList, stack: Stack) -> tuple[int, float]:
    """The enterprise queue's answered calls today and their total wait: the figures the
    queue report reads (``answered``, and ``asa_seconds`` × answered)."""
    day = clock.now().astimezone(stack.site.timezone).date()
    with registry.sessions() as session:
        answered, waited = session.execute(
            select(func.sum(QueueHour.answered), func.sum(QueueHour.wait_answered)).where(
                QueueHour.day == day, QueueHour.queue == "enterprise"
            )
        ).one()
    return int(answered or 0), float(waited or 0.0)
