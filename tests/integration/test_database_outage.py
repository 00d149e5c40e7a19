"""The database held by someone else for 40 s (SQLite locked exclusively), or stopped for a
minute (PostgreSQL), while calls come and go: callers reach a seat as fast as ever, and once
the database answers again every record of those calls is in SQL, once (the app's records
wait in its journal meanwhile)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import pytest
from sqlalchemy import func, select, text

from cdr import reports
from cdr.models import CallLeg, SeatAttempt
from core import clock
from core.db import make_engine, sessions
from hotline.schema import migrate
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import PrivatePostgres, ended_calls, eventually, holds, seat_phones

pytestmark = [
    pytest.mark.pbx,
    pytest.mark.skipif(
        bool(os.environ.get("HOTLINE_DATABASE_URL")), reason="locks the SQLite file"
    ),
]

OUTAGE = 40.0
PG_OUTAGE = 60.0
CALLERS = (1, 3, 5)


def today_in(stack: Stack) -> reports.Period:
    """The installation's today, in the site's time zone."""
    zone = stack.site.timezone
    today = clock.now().astimezone(zone).date()
    return reports.Period(today, today, zone)


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


async def test_calls_go_on_while_postgres_is_stopped_and_the_reports_equal_what_the_phones_saw(
    rig: Rig, stack: Stack, postgres_server: PrivatePostgres | None
) -> None:
    """The app writes to PostgreSQL; the server is stopped for a minute while calls come and
    go; once it is started again every record is there once, and the seats report counts
    what the seats' phones answered."""
    if postgres_server is None:
        pytest.skip("HOTLINE_TEST_POSTGRES_URL names a server the tests must not stop")
    url = postgres_server.url
    with make_engine(url).begin() as connection:  # this test's calls alone
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate(url)
    await asyncio.to_thread(stack.stop_app)
    await asyncio.to_thread(stack.start_app, 1, 20.0, {"HOTLINE_DATABASE_URL": url})
    engine = make_engine(url)
    factory = sessions(engine)
    numbers = [landline(n) for n in (2, 4, 6)]
    since = clock.now()
    try:
        await asyncio.to_thread(postgres_server.stop)
        stopped = time.monotonic()
        try:
            report = await rig.run(
                Scenario(
                    "postgres-stopped",
                    seat_phones(stack.site, "enterprise", answer_after=0.3, hold=2.0),
                    tuple(CallerSpec(n, at=i * 0.5, hold=None) for i, n in enumerate(numbers)),
                )
            )
            assert all(caller.exit_code == 0 for caller in report.callers), report.render()
            await asyncio.sleep(max(0.0, stopped + PG_OUTAGE - time.monotonic()))  # the fault
        finally:
            await asyncio.to_thread(postgres_server.start)

        async def all_written() -> bool:
            with factory() as session:
                ended = session.scalar(
                    select(func.count())
                    .select_from(CallLeg)
                    .where(CallLeg.entered_at >= since, CallLeg.ended_at.is_not(None))
                )
            return bool(ended == len(numbers))

        assert await eventually(all_written, within=60), "every call in PostgreSQL"
        with factory() as session:
            legs = session.execute(select(CallLeg).where(CallLeg.entered_at >= since)).scalars()
            legs = list(legs)
            attempts = session.execute(select(SeatAttempt)).scalars().all()
            answered_by_seat = {
                row["seat"]: row["answered"] for row in reports.seats(session, today_in(stack)).rows
            }
        assert sorted(leg.caller_number for leg in legs) == sorted(numbers), "each call once"
        assert all(leg.answered_at is not None for leg in legs)
        for leg in legs:
            setup = (leg.answered_at - leg.entered_at).total_seconds()
            assert setup < 2.0, f"{leg.caller_number} waited {setup:.1f} s for a seat"
        assert len({(a.caller_channel, a.seat_id) for a in attempts}) == len(attempts)
        seen = {phone.name: phone.answered for phone in report.phones if phone.answered}
        assert {seat: n for seat, n in answered_by_seat.items() if n} == seen, report.render()
    finally:
        engine.dispose()
        await asyncio.to_thread(stack.stop_app)
        await asyncio.to_thread(stack.start_app)
