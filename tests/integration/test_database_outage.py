"""The database held by someone else for 40 s (SQLite locked exclusively) while calls come
and go: callers reach a seat as fast as ever, and once the database answers again every
record of those calls is in SQL, once (the app's records wait in its journal meanwhile)."""

from __future__ import annotations

import os
import sqlite3

import pytest
from sqlalchemy import func, select

from cdr.models import CallLeg, SeatAttempt
from core import clock
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import ended_calls, holds, seat_phones

pytestmark = [
    pytest.mark.pbx,
    pytest.mark.skipif(
        bool(os.environ.get("HOTLINE_DATABASE_URL")), reason="locks the SQLite file"
    ),
]

OUTAGE = 40.0
CALLERS = (1, 3, 5)


async def test_calls_go_on_while_the_database_is_locked_and_every_record_arrives_once(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    since = clock.now()
    numbers = [landline(n) for n in CALLERS]

    async def nothing_written() -> bool:
        with registry.sessions() as session:  # WAL: reading goes on while writing is locked
            count = session.scalar(
                select(func.count()).select_from(CallLeg).where(CallLeg.entered_at >= since)
            )
        return count == 0

    holder = sqlite3.connect(stack.paths.state / "hotline.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    locked = clock.time()
    try:
        report = await rig.run(
            Scenario(
                "database-locked",
                seat_phones(stack.site, "enterprise", answer_after=0.3, hold=2.0),
                tuple(
                    CallerSpec(number, at=i * 0.5, hold=None) for i, number in enumerate(numbers)
                ),
            )
        )
        assert all(caller.exit_code == 0 for caller in report.callers), report.render()
        assert sum(phone.answered for phone in report.phones) == len(numbers), report.render()
        # the rest of the outage: nothing of these calls reaches SQL while it lasts
        assert await holds(nothing_written, during=max(0.0, OUTAGE - (clock.time() - locked)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    legs = await ended_calls(registry, since, count=len(numbers), within=60)
    assert sorted(leg.caller_number for leg in legs) == sorted(numbers), "each call once"
    for leg in legs:
        assert leg.answered_at is not None and leg.outcome == "seat-hangup"
        setup = (leg.answered_at - leg.entered_at).total_seconds()
        assert setup < 2.0, f"{leg.caller_number} waited {setup:.1f} s for a seat"
    with registry.sessions() as session:
        attempts = session.execute(
            select(SeatAttempt.caller_channel, SeatAttempt.seat_id, SeatAttempt.outcome).where(
                SeatAttempt.caller_channel.in_([leg.caller_channel for leg in legs])
            )
        ).all()
    # each call's answered seat once (a seat whose phone never registered may be tried first)
    answered = sorted(channel for channel, _, outcome in attempts if outcome == "answered")
    assert answered == sorted(leg.caller_channel for leg in legs)
    assert len({(channel, seat) for channel, seat, _ in attempts}) == len(attempts)
