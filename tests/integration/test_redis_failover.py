"""Redis without a single point: the line's processes (front door, Stasis app, monitor) on
Redis Sentinel — a primary, a replica, three sentinels — and the primary SIGKILLed with two
calls connected and two callers waiting: the sentinels promote the replica, every process
finds it by itself, every caller reaches a seat (the waiting ones through Asterisk's own
queue while the line's Redis is away, as in any Redis outage), nothing is left held in the
new primary, and the next caller is served by the app again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ari_app.client import Ari
from cdr.models import QueueVisit
from core import clock, keys
from core.stores import async_redis
from hotline.redis_server import SentinelSet
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import ended_calls, eventually, on_sentinels, seat_phones

pytestmark = pytest.mark.pbx

TALK = 8.0
SEATS = ("1001", "1002")


@pytest.fixture
async def sentinels(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SentinelSet]:
    """The session's line moved onto a Sentinel set for the test, and back afterwards."""
    async with on_sentinels(tmp_path / "sentinel", monkeypatch, [stack]) as redis_set:
        yield redis_set


async def test_the_redis_primary_killed_with_callers_waiting_every_caller_reaches_a_seat(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, sentinels: SentinelSet
) -> None:
    redis = async_redis(stack.paths)
    seats = SeatPool(redis)
    for seat in (s.id for s in stack.site.seats if s.id not in SEATS):
        await seats.pause(seat, "test: two seats only")
    seat_names = tuple(f"PJSIP/{seat}-" for seat in SEATS)

    async def connected_and_waiting() -> bool:
        try:
            waiting = int(await redis.zcard(keys.line_waiting("enterprise")))
        except Exception:
            return False
        talking = sum(
            channel["state"] == "Up" and channel["name"].startswith(seat_names)
            for channel in await ari.channels()
        )
        return talking == 2 and waiting == 2

    phones = tuple(
        p for p in seat_phones(stack.site, answer_after=0.3, hold=TALK) if p.name in SEATS
    )
    callers = (
        CallerSpec(landline(1), hold=None),  # connected when the primary dies
        CallerSpec(landline(2), at=0.3, hold=None),
        CallerSpec(landline(3), at=2.0, hold=None),  # waiting when it dies
        CallerSpec(landline(4), at=2.5, hold=None),
    )
    since = clock.now()
    playing = asyncio.create_task(rig.run(Scenario("redis-failover", phones, callers)))
    assert await eventually(connected_and_waiting, within=10), "two talking, two waiting"
    sentinels.kill("primary")
    report = await asyncio.wait_for(playing, timeout=120)

    assert sentinels.primary() == sentinels.replica_port, "the replica was promoted"
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    assert sum(phone.answered for phone in report.phones) == len(callers), report.render()
    legs = await ended_calls(registry, since, count=len(callers), within=30)
    assert sorted(leg.caller_number for leg in legs) == sorted(c.number for c in callers)
    assert all(leg.seat_id in SEATS and leg.answered_at for leg in legs), legs

    # every process found the new primary: the app's heartbeat is there, nothing is held
    assert await eventually(lambda: asyncio.to_thread(stack.app_connected), within=15)

    async def nothing_held() -> bool:
        line = await redis.zcard(keys.line_waiting("enterprise"))
        return line == 0 and not await SeatPool(redis).busy()

    assert await eventually(nothing_held, within=15), "a place or a seat was left held"

    # and the next caller is put through by the app on the new primary
    after = clock.now()
    second = await rig.run(
        Scenario("after-failover", phones, (CallerSpec(landline(6), hold=None),))
    )
    assert second.callers[0].exit_code == 0, second.render()
    (leg,) = await ended_calls(registry, after)
    assert leg.answered_at is not None and leg.seat_id in SEATS, second.render()
    assert (leg.answered_at - leg.entered_at).total_seconds() < 5
    with registry.sessions() as session:
        served = session.execute(
            select(QueueVisit.served_by).where(QueueVisit.caller_channel == leg.caller_channel)
        ).scalars()
        assert list(served) == [None], "served by the app, not Asterisk's queue"
    await redis.aclose()
