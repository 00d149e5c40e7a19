"""The time the hotline believes it is: one clock for every process of an installation.

Every "now" of the hotline — records, deadlines, overdue checks, opening hours, live
windows, the seat claim in Redis, a waiting caller's timers — comes from :func:`now` /
:func:`time`, never from ``datetime.now`` or ``time.time`` directly.

By default that is real UTC. A rehearsal or a test moves the whole installation at once:
``hotline clock set 2026-11-23T10:00:00+08:00`` writes an offset into the state directory's
``clock`` file; every process of the installation reads it (rechecked at most every
:data:`RECHECK` seconds) and runs on from that moment; ``hotline clock advance 60`` moves it
on, ``hotline clock real`` removes it. Timers waiting on the clock (:func:`sleep_until`)
notice a move within :data:`RECHECK` seconds. Unit tests install a :class:`ManualClock`
with :func:`use` and move it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

RECHECK = 0.25
"""Seconds between looks at the installation's clock file."""
FILE_NAME = "clock"


class Clock(Protocol):
    """A source of the current moment."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, moment: float) -> None:
        """Return once :meth:`time` has reached ``moment``."""
        ...


def _state_dir() -> Path:
    # read each time: a test sets HOTLINE_STATE_DIR after this module is imported
    return Path(os.environ.get("HOTLINE_STATE_DIR") or Path.home() / ".local/state/hotline")


def clock_file(state: Path | None = None) -> Path:
    """The installation's clock file (in ``state``, or the one ``HOTLINE_STATE_DIR`` names)."""
    return (state or _state_dir()) / FILE_NAME


@dataclass
class InstallationClock:
    """Real time, moved by the offset in the installation's clock file if there is one."""

    _offset: float = 0.0
    _checked: float = -1e9
    _stamp: tuple[str, int] | None = None

    def offset(self) -> float:
        """Seconds the installation's time is ahead of real time (negative: behind)."""
        tick = _time.monotonic()
        if tick - self._checked >= RECHECK:
            self._checked = tick
            path = clock_file()
            try:
                stat = path.stat()
            except OSError:
                self._offset, self._stamp = 0.0, None
            else:
                stamp = (str(path), stat.st_mtime_ns)
                if stamp != self._stamp:
                    self._offset, self._stamp = read_offset(path), stamp
        return self._offset

    def time(self) -> float:
        return _time.time() + self.offset()

    async def sleep_until(self, moment: float) -> None:
        # a moved clock must be noticed: sleep in short steps while one is set
        while (remaining := moment - self.time()) > 0:  # noqa: ASYNC110 (time, not a flag)
            await asyncio.sleep(min(remaining, 1.0) if self.offset() else remaining)


@dataclass
class ManualClock:
    """A clock that moves only when told: unit tests and scripted call flows."""

    moment: float = 1_795_000_000.0
    _sleepers: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)

    def time(self) -> float:
        return self.moment

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``, waking every sleeper whose moment has come."""
        self.set(self.moment + seconds)

    def set(self, moment: float) -> None:
        self.moment = moment
        due = [(at, f) for at, f in self._sleepers if at <= moment]
        self._sleepers = [(at, f) for at, f in self._sleepers if at > moment]
        for _, future in due:
            if not future.done():
                future.set_result(None)

    async def sleep_until(self, moment: float) -> None:
        if moment <= self.moment:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((moment, future))
        await future


def read_offset(path: Path) -> float:
    """The offset a clock file holds (0 for a file that cannot be read)."""
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["offset_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def set_installation_time(moment: datetime, state: Path | None = None) -> None:
    """Run the installation's clock from ``moment`` (aware) on, in every process."""
    if moment.tzinfo is None:
        raise ValueError("the moment needs a time zone, e.g. 2026-11-23T10:00:00+08:00")
    write_offset(moment.timestamp() - _time.time(), state)


def advance_installation_time(seconds: float, state: Path | None = None) -> None:
    """Move the installation's clock on by ``seconds`` (back, if negative)."""
    write_offset(read_offset(clock_file(state)) + seconds, state)


def write_offset(offset: float, state: Path | None = None) -> None:
    """Write the offset atomically, so that no process reads half a file."""
    path = clock_file(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    moment = datetime.fromtimestamp(_time.time() + offset, UTC).isoformat(timespec="seconds")
    partial.write_text(json.dumps({"offset_seconds": offset, "set_to": moment}) + "\n")
    partial.replace(path)


def real_installation_time(state: Path | None = None) -> None:
    """Back to real time."""
    clock_file(state).unlink(missing_ok=True)


_current: Clock = InstallationClock()


def time() -> float:
    """The current moment, seconds since the epoch."""
    return _current.time()


def now() -> datetime:
    """The current moment (UTC, aware)."""
    return moment(_current.time())


def from_real_time(seconds: float) -> datetime:
    """A moment another program wrote in real time (Asterisk's logs), on the clock in use:
    the installation's, moved or not, and a test's."""
    current = _current
    ahead = (
        current.offset()
        if isinstance(current, InstallationClock)
        else (current.time() - _time.time())
    )
    return moment(seconds + ahead)


def moment(seconds: float) -> datetime:
    """A moment given in seconds since the epoch, as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


async def sleep_until(moment: float) -> None:
    """Return once the clock has reached ``moment`` (seconds since the epoch)."""
    await _current.sleep_until(moment)


Item = TypeVar("Item")


async def next_before(inbox: asyncio.Queue[Item], moment: float) -> Item | None:
    """The next item of ``inbox``, or None once the clock reaches ``moment`` first: a call's
    events and its timers, in one wait."""
    if not inbox.empty():
        return inbox.get_nowait()
    if moment <= time():
        return None
    getting = asyncio.ensure_future(inbox.get())
    sleeping = asyncio.ensure_future(sleep_until(moment))
    try:
        await asyncio.wait({getting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeping.cancel()
        if not getting.done():
            getting.cancel()
    if getting.done() and not getting.cancelled():
        return getting.result()
    return None


def current() -> Clock:
    """The clock in use."""
    return _current


AnyClock = TypeVar("AnyClock", bound=Clock)


@contextlib.contextmanager
def use(clock: AnyClock) -> Iterator[AnyClock]:
    """Use ``clock`` for the duration (tests)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
