"""The record writer: records written in order off the call's path, a bad one set aside, a
database that does not answer waited for, and the writing process replaced when it dies —
nothing lost."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ari_app.main import record_appliers
from cdr.records import CallEnded, UnobservedCallsClosed
from core import writer as writing
from core.outcomes import CallOutcome
from core.site import load_site
from core.writer import RecordWriter, WriterProcess
from tests.unit.records import AT, entered, legs

SITE = Path(__file__).resolve().parents[2] / "sites" / "example.toml"


@pytest.fixture
def appliers() -> list[writing.Applier]:
    return record_appliers(load_site(SITE), "sqlite://", sessions_too=False)[1]


class Flaky:
    """An applier that fails as a database does (``down`` times), or on one bad record."""

    def __init__(self, inner: writing.Applier, down: int = 0, bad: str = "") -> None:
        self.inner, self.down, self.bad = inner, down, bad
        self.kinds = inner.kinds

    def apply(self, session: Session, record: object) -> None:
        if self.down:
            self.down -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        if getattr(record, "caller_channel", None) == self.bad:
            raise ValueError("a record no database would take")
        self.inner.apply(session, record)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(writing, "RETRY_FIRST", 0.01)
    yield


async def run_until_written(writer: RecordWriter) -> None:
    task = asyncio.create_task(writer.run())
    try:
        assert await writer.flush(within=30), f"still {writer.backlog} record(s) to write"
    finally:
        await writer.close(within=5)
        task.cancel()


async def test_records_are_written_in_the_order_handed_over(
    factory: sessionmaker[Session], appliers: list[writing.Applier]
) -> None:
    writer = RecordWriter(factory, appliers)
    writer.put(entered("a"))
    writer.put(CallEnded("a", CallOutcome.CALLER_HANGUP, AT))  # needs the row before it
    writer.put(entered("b"))
    await run_until_written(writer)
    assert legs(factory) == [("a", "caller-hangup"), ("b", None)]
    assert (writer.figures.written, writer.figures.set_aside) == (3, 0)


async def test_closing_unobserved_calls_leaves_a_call_that_entered_after_the_look(
    factory: sessionmaker[Session], appliers: list[writing.Applier]
) -> None:
    """A takeover looks at the channels, then closes the open records not among them: a
    call that entered after the look is not among them either, and is not over."""
    writer = RecordWriter(factory, appliers)
    writer.put(entered("gone"))
    writer.put(entered("alive"))
    writer.put(entered("came-after", at=AT + timedelta(seconds=2)))
    writer.put(UnobservedCallsClosed(frozenset({"alive"}), AT + timedelta(seconds=1)))
    await run_until_written(writer)
    assert legs(factory) == [("gone", "ended-unobserved"), ("alive", None), ("came-after", None)]


async def test_a_node_closes_only_its_own_unobserved_calls(
    factory: sessionmaker[Session], appliers: list[writing.Applier]
) -> None:
    """Node A's app took over after A's Asterisk restarted: node B's calls are not among A's
    channels, and are not over (41 of B's were closed so in the first long run)."""
    writer = RecordWriter(factory, appliers)
    writer.put(entered("pbx-a-gone", node="pbx-a"))
    writer.put(entered("pbx-a-alive", node="pbx-a"))
    writer.put(entered("pbx-b-talking", node="pbx-b"))
    writer.put(UnobservedCallsClosed(frozenset({"pbx-a-alive"}), AT, node="pbx-a"))
    await run_until_written(writer)
    assert legs(factory) == [
        ("pbx-a-gone", "ended-unobserved"),
        ("pbx-a-alive", None),
        ("pbx-b-talking", None),
    ]


async def test_a_bad_record_is_set_aside_and_the_others_are_written(
    factory: sessionmaker[Session], appliers: list[writing.Applier]
) -> None:
    writer = RecordWriter(factory, [Flaky(appliers[0], bad="bad"), appliers[1]])
    for channel in ("a", "bad", "c"):
        writer.put(entered(channel))
    await run_until_written(writer)
    assert legs(factory) == [("a", None), ("c", None)]
    assert (writer.figures.written, writer.figures.set_aside) == (2, 1)


async def test_a_database_that_does_not_answer_is_waited_for_and_nothing_is_lost(
    factory: sessionmaker[Session], appliers: list[writing.Applier]
) -> None:
    writer = RecordWriter(factory, [Flaky(appliers[0], down=3), appliers[1]])
    writer.put(entered("a"))
    writer.put(entered("b"))
    await run_until_written(writer)
    assert legs(factory) == [("a", None), ("b", None)]
    assert writer.figures.retries == 3


async def test_a_writer_process_that_dies_is_replaced_and_nothing_is_lost(
    database: str, factory: sessionmaker[Session], appliers: list[writing.Applier]
) -> None:
    process = WriterProcess(functools.partial(record_appliers, load_site(SITE), database))
    writer = RecordWriter(None, appliers, remote=process)
    writer.put(entered("a"))
    task = asyncio.create_task(writer.run())
    try:
        assert await writer.flush(within=60)
        assert process._process is not None
        process._process.kill()  # between two batches, as a crash would
        process._process.join()
        writer.put(CallEnded("a", CallOutcome.SEAT_HANGUP, AT))
        writer.put(entered("b"))
        assert await writer.flush(within=60)
    finally:
        await writer.close(within=10)
        task.cancel()
    assert legs(factory) == [("a", "seat-hangup"), ("b", None)]
    assert process._process is None, "stopped with the writer"
