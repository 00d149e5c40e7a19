"""Records written to SQL off the call path: batched, in order, one writer per process.

A call never waits for the database. Its task hands each record (a small frozen dataclass:
"this seat was rung", "this transfer was answered") to :meth:`RecordWriter.put`, which
returns at once; the writer's own task applies everything handed over so far in one
transaction, in the order it came, while the calls go on. Each kind of record is applied by
the feature that defines it (an :class:`Applier`), and applying a record twice changes
nothing (each applier checks what is already there), so a batch can always be tried again.

When the database does not answer (down, locked, unreachable), the batch is kept, in order,
and tried again with a growing pause; nothing is dropped. With a :class:`~core.journal.Journal`
every record is first written to a local file and ``fsync``'d, so that neither a long outage
nor the death of the process loses it: a process that starts writes what its journal holds
first. A record that fails on its own
(a bug, a constraint) is logged with its content and set aside, so that it cannot hold up
every record behind it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.journal import Journal, JournalFull

log = logging.getLogger(__name__)

BATCH = 500
"""Records applied in one transaction at most."""
JOURNAL_GATHER = 0.005
"""Seconds the journal's keeper lets records gather before one frame (one fsync) takes them."""
RETRY_FIRST, RETRY_MAX = 0.2, 5.0
"""Seconds between tries while the database is unavailable (doubling up to the maximum)."""


class Applier(Protocol):
    """Writes the records of one feature into a session."""

    kinds: tuple[type, ...]
    """The record types it applies."""

    def apply(self, session: Session, record: object) -> None:
        """Apply one record; applying it again must change nothing."""
        ...


class DatabaseUnavailable(Exception):
    """The database (or the process writing to it) cannot take records now; try again."""


def unavailable(error: BaseException) -> bool:
    """Whether a database error means "not now" (down, locked, cut off) rather than "never"."""
    if isinstance(error, OperationalError | InterfaceError | DatabaseUnavailable):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


@dataclass
class WriterFigures:
    """What a writer has done: for ``/metrics``, logs and tests."""

    written: int = 0
    set_aside: int = 0
    retries: int = 0
    replayed: int = 0
    """Records found in the journal at start (not known to be in SQL) and written again."""


@dataclass
class RecordWriter:
    """One process's writer. Start :meth:`run` as a task; :meth:`put` from anywhere in the
    event loop; :meth:`close` at the end (it writes what is left)."""

    sessions: sessionmaker[Session] | None
    appliers: Sequence[Applier]
    remote: WriterProcess | None = None
    """Where the SQL work is done: a process of its own (the app), or a thread of this one."""
    journal: Journal | None = None
    """Where every record is kept durably until it is in SQL (None: memory only)."""
    figures: WriterFigures = field(default_factory=WriterFigures)
    _journaled: int = 0
    """How many of the pending records (from the front) are in the journal."""
    _frames: collections.deque[list[int]] = field(default_factory=collections.deque)
    """The journal's frames not yet all in SQL: [sequence, records of it still pending]."""
    _pending: collections.deque[object] = field(default_factory=collections.deque)
    _handed: int = 0
    _done: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)
    _routes: dict[type, Applier] = field(default_factory=dict)
    _to_append: asyncio.Event = field(default_factory=asyncio.Event)
    _appended: asyncio.Event = field(default_factory=asyncio.Event)
    _books: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while the journal's bookkeeping changes (appending, or marking what is in SQL)."""

    def __post_init__(self) -> None:
        for applier in self.appliers:
            for kind in applier.kinds:
                self._routes[kind] = applier

    def put(self, record: object) -> None:
        """Hand a record over; it is written soon, after every record handed before it."""
        if type(record) not in self._routes:
            raise TypeError(f"no applier for {type(record).__name__} records")
        self._pending.append(record)
        self._handed += 1
        self._wake.set()
        self._to_append.set()

    @property
    def backlog(self) -> int:
        """Records handed over and not written yet."""
        return self._handed - self._done

    async def flush(self, within: float | None = None) -> bool:
        """Wait until every record handed over so far is written (or set aside); False if
        ``within`` seconds passed first."""
        target = self._handed
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while self._done < target:
            self._progress.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def run(self) -> None:
        """Write batches until cancelled (what the journal held at start first). With a
        journal, a task of its own keeps every record handed over in the journal at once,
        whatever SQL is doing: a process killed while its database is slow loses nothing."""
        keeper: asyncio.Task[None] | None = None
        if self.journal is not None:
            await asyncio.to_thread(self._replay)
            keeper = asyncio.create_task(self._keep_journal())
        try:
            await self._write_batches()
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper

    async def _keep_journal(self) -> None:
        """Append what was handed over to the journal as soon as it comes (what a call's
        step hands over at once goes in one frame, one fsync)."""
        while True:
            await self._to_append.wait()
            await asyncio.sleep(JOURNAL_GATHER)
            self._to_append.clear()
            async with self._books:
                if self._journaled < len(self._pending):
                    await asyncio.to_thread(self._to_journal)
            self._appended.set()

    async def _write_batches(self) -> None:
        pause = RETRY_FIRST
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            ready = len(self._pending)
            if self.journal is not None:
                while self._journaled == 0:  # only what is in the journal goes to SQL
                    self._appended.clear()
                    self._to_append.set()
                    await self._appended.wait()
                ready = self._journaled
            batch = [self._pending[i] for i in range(min(BATCH, ready))]
            try:
                if self.remote is not None:
                    set_aside = await asyncio.to_thread(self.remote.write, batch)
                else:
                    set_aside = await asyncio.to_thread(self._write, batch)
            except Exception as error:
                if not unavailable(error):
                    raise  # _write handles every other error record by record
                self.figures.retries += 1
                log.warning(
                    "the database is unavailable (%s); %d record(s) wait, next try in %.1f s",
                    _short(error),
                    len(self._pending),
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            pause = RETRY_FIRST
            async with self._books:  # the journal's keeper does not count meanwhile
                for _ in batch:
                    self._pending.popleft()
                if self.journal is not None:
                    await asyncio.to_thread(self._written, len(batch))
            self._done += len(batch)
            self.figures.written += len(batch) - set_aside
            self.figures.set_aside += set_aside
            self._progress.set()

    async def close(self, within: float = 10.0) -> None:
        """Write what is left (for at most ``within`` seconds); the ones left are logged."""
        if not await self.flush(within) and self._pending:
            log.error(
                "%d record(s) could not be written before stopping: %s",
                len(self._pending),
                list(self._pending)[:20],
            )
        if self.remote is not None:
            await asyncio.to_thread(self.remote.stop)

    # --- in the worker thread -------------------------------------------------------------

    def _replay(self) -> None:
        """Put the journal's frames not known to be in SQL ahead of everything."""
        assert self.journal is not None
        frames = self.journal.unapplied()
        records = [record for _, batch in frames for record in batch]
        self._pending.extendleft(reversed(records))
        self._handed += len(records)
        self._journaled += len(records)
        self._frames.extendleft([seq, len(batch)] for seq, batch in reversed(frames))
        self.figures.replayed += len(records)
        if records:
            log.warning("%d record(s) from the journal are written again", len(records))

    def _to_journal(self) -> None:
        """Write the pending records not in the journal yet to it (one frame)."""
        assert self.journal is not None
        new = [self._pending[i] for i in range(self._journaled, len(self._pending))]
        try:
            seq = self.journal.append(new)
        except (JournalFull, OSError) as error:
            log.error("%d record(s) wait in memory only: %s", len(new), error)
            seq = 0  # not in the journal: nothing to mark
        self._frames.append([seq, len(new)])
        self._journaled += len(new)

    def _written(self, count: int) -> None:
        """``count`` records from the front are in SQL: mark the frames all of whose records
        are."""
        assert self.journal is not None
        self._journaled -= count
        done = 0
        while count and self._frames:
            frame = self._frames[0]
            taken = min(count, frame[1])
            frame[1] -= taken
            count -= taken
            if frame[1] == 0:
                done = max(done, frame[0])
                self._frames.popleft()
        if done:
            self.journal.mark(done)

    def _write(self, batch: Iterable[object]) -> int:
        """Apply a batch in one transaction; on an error of one record, apply them one by one
        and set aside those that fail. How many were set aside."""
        records = list(batch)
        assert self.sessions is not None, "a writer without sessions writes through its process"
        try:
            with self.sessions.begin() as session:
                for record in records:
                    self._routes[type(record)].apply(session, record)
            return 0
        except Exception as error:
            if unavailable(error):
                raise
        set_aside = 0
        with self.sessions.begin() as session:
            for record in records:
                try:
                    with session.begin_nested():
                        self._routes[type(record)].apply(session, record)
                except Exception as error:
                    if unavailable(error):
                        raise
                    set_aside += 1
                    log.exception("a record could not be written and is set aside: %r", record)
        return set_aside


Setup = Callable[[], tuple["sessionmaker[Session]", list[Applier]]]
"""Builds a writer's sessions and appliers: a module-level function (or a partial of one),
so that a child process can be handed it."""


class WriterProcess:
    """The SQL half of a :class:`RecordWriter` in a process of its own, so that the ORM's work
    never holds the interpreter lock the calls' event loop needs. Batches go down a pipe and
    each one is answered with how many records were set aside. If the process dies, it is
    started again and the batch is tried again (writing a record twice changes nothing)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None

    def start(self) -> None:
        """Start the process (done by the first :meth:`write` if not before)."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_write_batches, args=(theirs, self.setup), name="hotline-writer", daemon=True
        )
        process.start()
        theirs.close()
        self._process, self._pipe = process, ours

    def write(self, batch: list[object]) -> int:
        """Have the process write one batch; how many records it set aside."""
        with self._lock:
            if self._pipe is None or self._process is None or not self._process.is_alive():
                self._restart()
            assert self._pipe is not None
            try:
                self._pipe.send(batch)
                verdict, detail = self._pipe.recv()
            except (EOFError, OSError) as error:
                self._restart()
                raise DatabaseUnavailable(f"the writer process stopped ({error!r})") from error
        if verdict == "unavailable":
            raise DatabaseUnavailable(detail)
        if verdict == "error":
            raise RuntimeError(f"the writer process failed: {detail}")
        return int(detail)

    def _restart(self) -> None:
        self._stop_process()
        self.start()

    def stop(self) -> None:
        """Let the process finish and end."""
        with self._lock:
            self._stop_process()

    def _stop_process(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                self._pipe.send(None)
            self._pipe.close()
        if self._process is not None:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
        self._process, self._pipe = None, None


def _write_batches(pipe: Connection, setup: Setup) -> None:
    """The writer process: batches in, verdicts out, until told to stop."""
    for stop in (signal.SIGINT, signal.SIGTERM):  # the app ends it, after the last batch
        signal.signal(stop, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO)
    sessions, appliers = setup()
    writer = RecordWriter(sessions, appliers)
    while True:
        try:
            batch = pipe.recv()
        except EOFError:
            return
        if batch is None:
            return
        try:
            pipe.send(("ok", writer._write(batch)))
        except Exception as error:
            verdict = "unavailable" if unavailable(error) else "error"
            pipe.send((verdict, _short(error)))


def _short(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0][:200] if text else type(error).__name__
