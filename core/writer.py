"""Records written to SQL off the call path: batched, in order, one writer per process.

A call never waits for the database. Its task hands each record (a small frozen dataclass:
"this seat was rung", "this transfer was answered") to :meth:`RecordWriter.put`, which
returns at once; the writer's own task applies everything handed over so far in one
transaction, in the order it came, while the calls go on. Each kind of record is applied by
the feature that defines it (an :class:`Applier`), and applying a record twice changes
nothing (each applier checks what is already there), so a batch can always be tried again.

When the database does not answer (down, locked, unreachable), the batch is kept, in order,
and tried again with a growing pause; nothing is dropped. A record that fails on its own
(a bug, a constraint) is logged with its content and set aside, so that it cannot hold up
every record behind it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

BATCH = 500
"""Records applied in one transaction at most."""
RETRY_FIRST, RETRY_MAX = 0.2, 5.0
"""Seconds between tries while the database is unavailable (doubling up to the maximum)."""


class Applier(Protocol):
    """Writes the records of one feature into a session."""

    kinds: tuple[type, ...]
    """The record types it applies."""

    def apply(self, session: Session, record: object) -> None:
        """Apply one record; applying it again must change nothing."""
        ...


def unavailable(error: BaseException) -> bool:
    """Whether a database error means "not now" (down, locked, cut off) rather than "never"."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


@dataclass
class WriterFigures:
    """What a writer has done: for ``/metrics``, logs and tests."""

    written: int = 0
    set_aside: int = 0
    retries: int = 0


@dataclass
class RecordWriter:
    """One process's writer. Start :meth:`run` as a task; :meth:`put` from anywhere in the
    event loop; :meth:`close` at the end (it writes what is left)."""

    sessions: sessionmaker[Session]
    appliers: Sequence[Applier]
    figures: WriterFigures = field(default_factory=WriterFigures)
    _pending: collections.deque[object] = field(default_factory=collections.deque)
    _handed: int = 0
    _done: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)
    _routes: dict[type, Applier] = field(default_factory=dict)

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
        """Write batches until cancelled."""
        pause = RETRY_FIRST
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._pending[i] for i in range(min(BATCH, len(self._pending)))]
            try:
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
            for _ in batch:
                self._pending.popleft()
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

    # --- in the worker thread -------------------------------------------------------------

    def _write(self, batch: Iterable[object]) -> int:
        """Apply a batch in one transaction; on an error of one record, apply them one by one
        and set aside those that fail. How many were set aside."""
        records = list(batch)
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


def _short(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0][:200] if text else type(error).__name__
