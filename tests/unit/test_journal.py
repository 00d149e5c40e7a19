"""The writer's journal: every record is on disk before it goes to SQL, so a process that
dies while the database is down (or before its records reached SQL) writes them when it
starts again — each once; a frame cut short by a crash is cut off; an emptied journal is
reported empty."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ari_app.main import record_appliers
from cdr.records import CallEnded
from core import journal as journals
from core import writer as writing
from core.journal import Journal, backlog
from core.outcomes import CallOutcome
from core.site import load_site
from core.writer import RecordWriter
from tests.conftest import EXAMPLE_SITE, eventually
from tests.unit.records import AT, entered, legs


@pytest.fixture
def appliers() -> list[writing.Applier]:
    return record_appliers(load_site(EXAMPLE_SITE), "sqlite://", sessions_too=False)[1]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(writing, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(writing, "RETRY_MAX", 0.05)
    yield


class Down:
    """An applier whose database does not answer until ``up`` is set."""

    def __init__(self, inner: writing.Applier) -> None:
        self.inner, self.kinds, self.up = inner, inner.kinds, False

    def apply(self, session: Session, record: object) -> None:
        if not self.up:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        self.inner.apply(session, record)


async def test_records_of_a_process_that_died_while_the_database_was_down_are_written_once(
    factory: sessionmaker[Session], appliers: list[writing.Applier], tmp_path: Path
) -> None:
    path = tmp_path / "journal" / "hotline.journal"
    down = [Down(applier) for applier in appliers]
    first = RecordWriter(factory, down, journal=Journal(path))
    task = asyncio.create_task(first.run())
    for n in range(30):
        first.put(entered(f"call-{n}"))
        if n % 10 == 9:
            await asyncio.sleep(0.05)  # several frames, while the database is down
    first.put(CallEnded("call-3", CallOutcome.CALLER_HANGUP, AT))

    async def journaled() -> bool:
        return first._journaled == 31

    assert await eventually(journaled, within=5), "never journaled"
    task.cancel()  # the process dies: nothing reached SQL
    await asyncio.gather(task, return_exceptions=True)
    assert legs(factory) == []
    assert backlog(path.parent)["hotline"] > 0

    second = RecordWriter(factory, appliers, journal=Journal(path))
    task = asyncio.create_task(second.run())

    async def replayed() -> bool:
        return second.figures.replayed > 0 and second.backlog == 0

    try:
        assert await eventually(replayed, within=5), "the journal was not written again"
    finally:
        task.cancel()
    written = legs(factory)
    assert [channel for channel, _ in written] == [f"call-{n}" for n in range(30)]
    assert dict(written)["call-3"] == "caller-hangup"
    assert backlog(path.parent) == {"hotline": 0}

    third = RecordWriter(factory, appliers, journal=Journal(path))  # nothing left to replay
    third._replay()
    assert third.backlog == 0


async def test_a_record_written_twice_after_a_lagging_mark_is_stored_once(
    factory: sessionmaker[Session], appliers: list[writing.Applier], tmp_path: Path
) -> None:
    path = tmp_path / "hotline.journal"
    writer = RecordWriter(factory, appliers, journal=Journal(path))
    task = asyncio.create_task(writer.run())
    writer.put(entered("call-1"))
    assert await writer.flush(within=5)
    task.cancel()
    path.with_suffix(".applied").unlink()  # the mark was lost: the frame is replayed
    again = RecordWriter(factory, appliers, journal=Journal(path))
    task = asyncio.create_task(again.run())
    await asyncio.sleep(0)
    assert await again.flush(within=5)
    task.cancel()
    assert legs(factory) == [("call-1", None)]


def test_a_frame_cut_short_by_a_crash_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "app.journal"
    journal = Journal(path)
    journal.append([entered("call-1")])
    journal.append([entered("call-2")])
    journal.close()
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - 3)
    reopened = Journal(path)
    assert [seq for seq, _ in reopened.unapplied()] == [1]
    assert reopened.append([entered("call-3")]) == 2
    assert [batch[0].caller_channel for _, batch in reopened.unapplied()] == [  # type: ignore[attr-defined]
        "call-1",
        "call-3",
    ]


def test_a_full_journal_refuses_and_an_applied_one_is_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journals, "COMPACT_AT", 1)
    journal = Journal(tmp_path / "app.journal", limit=400)
    seq = journal.append([entered("call-1")])
    with pytest.raises(journals.JournalFull):
        journal.append([entered(f"call-{n}") for n in range(10)])
    journal.mark(seq)
    assert journal.size() == 0 and journal.unapplied() == []
    assert journal.append([entered("call-2")]) == seq + 1
