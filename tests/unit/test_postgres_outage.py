"""PostgreSQL stopped for a minute while calls come and go (the Stasis application against a
scripted Asterisk, its records through the journal to a real PostgreSQL): no call waits for
the database, and once it is back every call, seat attempt and transfer attempt is in SQL,
once. (The PBX-level database test locks SQLite: ``tests/integration/test_database_outage.py``.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallLeg, SeatAttempt
from core import clock
from core import writer as writing
from core.db import make_engine, sessions
from core.journal import Journal, backlog
from hotline.schema import migrate
from tests.conftest import PrivatePostgres
from tests.unit.ari_script import SPECIALIST_A, Script, scripted_site
from transfer.models import TransferAttempt, TransferRequest

pytestmark = pytest.mark.postgres

OUTAGE = 60.0


@pytest.fixture
def server(postgres_server: PrivatePostgres | None) -> PrivatePostgres:
    if postgres_server is None:
        pytest.skip("HOTLINE_TEST_POSTGRES_URL names a server the tests must not stop")
    return postgres_server


@pytest.fixture
def pg_factory(server: PrivatePostgres) -> Iterator[sessionmaker[Session]]:
    migrate(server.url)
    engine = make_engine(server.url)
    yield sessions(engine)
    engine.dispose()
    with make_engine(server.url).begin() as connection:  # a clean schema for the next test
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing, "RETRY_MAX", 1.0)


@pytest.fixture
async def on_postgres(
    redis: Redis,
    pg_factory: sessionmaker[Session],
    time: clock.ManualClock,
    tmp_path: Path,
) -> AsyncIterator[Script]:
    journal = Journal(tmp_path / "journal" / "hotline.journal")
    async with Script(redis, pg_factory, time, scripted_site(), journal=journal) as running:
        yield running
    journal.close()


async def a_call(script: Script, number: str, ring_out_first: bool, transfer: bool) -> str:
    """One whole call: a seat answers (after one rang out), the caller talks (and the seat
    brings the tax bureau in), the caller hangs up."""
    caller = script.caller_arrives(number)
    await script.until(lambda: bool(script.ringing()), "a seat rings")
    if ring_out_first:
        first = script.ringing()[0]
        script.fail(first, cause=19)
        await script.until(lambda: bool(set(script.ringing()) - {first}), "the next seat rings")
    seat = script.ari.channels_[script.ringing()[0]].endpoint
    script.answer(script.ringing(seat)[0])
    await script.until(lambda: len(script.bridge_of(caller)) == 2, "put through at once")
    if transfer:
        script.key(script.bridge_of(caller)[1], "*101#")
        await script.until(
            lambda: bool(script.ringing(f"PJSIP/{SPECIALIST_A}")), "the specialist rings"
        )
        script.answer(script.ringing(f"PJSIP/{SPECIALIST_A}")[0])
        await script.until(lambda: len(script.bridge_of(caller)) == 3, "three-way")
    script.hang_up(caller)
    await script.over(caller)
    await script.advance(11)  # the seat's wrap-up
    return caller


async def test_calls_go_on_while_postgres_is_stopped_and_every_record_arrives_once(
    on_postgres: Script, server: PrivatePostgres, tmp_path: Path
) -> None:
    script = on_postgres
    await asyncio.to_thread(server.stop)
    stopped = time.monotonic()
    try:
        callers = [
            await a_call(script, "02150000001", ring_out_first=False, transfer=False),
            await a_call(script, "02150000002", ring_out_first=True, transfer=False),
            await a_call(script, "02150000003", ring_out_first=False, transfer=True),
        ]
        assert sum(backlog(tmp_path / "journal").values()) > 0, "the records wait in the journal"
        await asyncio.sleep(max(0.0, stopped + OUTAGE - time.monotonic()))  # the fault lasts
    finally:
        await asyncio.to_thread(server.start)

    await script.records()
    with script.sessions() as session:
        legs = session.execute(
            select(CallLeg.caller_channel, CallLeg.outcome, CallLeg.seat_id).order_by(CallLeg.id)
        ).all()
        attempts = session.execute(
            select(SeatAttempt.caller_channel, SeatAttempt.seat_id, SeatAttempt.outcome)
        ).all()
        dials = session.scalar(select(func.count()).select_from(TransferAttempt))
        requests = session.execute(select(TransferRequest.outcome)).scalars().all()
    assert [(channel, outcome) for channel, outcome, _ in legs] == [
        (caller, "caller-hangup") for caller in callers
    ]
    outcomes = {caller: [str(o) for c, _, o in attempts if c == caller] for caller in callers}
    assert [sorted(outcomes[caller]) for caller in callers] == [
        ["answered"],
        ["answered", "no-answer"],
        ["answered"],
    ]
    assert len({(channel, seat) for channel, seat, _ in attempts}) == len(attempts), "once"
    assert requests == ["answered"] and dials == 1, "the transfer and its one dial, once"
