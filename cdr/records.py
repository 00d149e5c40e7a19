"""What is recorded about calls, as data: one small record per step, handed by the call to
the process's :class:`core.writer.RecordWriter` and written to SQL off the call's path by
:class:`cdr.recorder.CallRecords`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.outcomes import CallOutcome, Rating, SeatOutcome


@dataclass(frozen=True)
class CallEntered:
    """A caller reached the application, as the front door identified them."""

    caller_channel: str
    linkedid: str | None
    caller_number: str
    called_number: str
    at: datetime
    caller_kind: str
    enterprise_id: int | None
    tier: str | None
    queue_prio: int
    queue: str
    node: str | None = None
    """The PBX node the call is on (a line of several nodes)."""


@dataclass(frozen=True)
class SeatRung:
    """A seat's phone is being rung for a caller."""

    caller_channel: str
    queue: str
    seat_id: str
    seat_channel: str
    at: datetime


@dataclass(frozen=True)
class SeatAttemptEnded:
    """The seat rung on ``seat_channel`` answered, or did not."""

    seat_channel: str
    outcome: SeatOutcome
    at: datetime
    cause: int | None = None


@dataclass(frozen=True)
class AttemptsInterrupted:
    """The seat attempts of a caller left open by a process that died are closed."""

    caller_channel: str
    at: datetime


@dataclass(frozen=True)
class CallAnswered:
    caller_channel: str
    seat_id: str
    seat_channel: str
    at: datetime


@dataclass(frozen=True)
class CallEnded:
    caller_channel: str
    outcome: CallOutcome
    at: datetime


@dataclass(frozen=True)
class CallMoved:
    """The seat that answered moved the caller on to ``to_queue``: that stay is marked
    ``moved`` and a new one begins."""

    caller_channel: str
    to_queue: str
    at: datetime


@dataclass(frozen=True)
class CallRated:
    caller_channel: str
    rating: Rating


@dataclass(frozen=True)
class UnobservedCallsClosed:
    """Calls whose record is still open and whose channel is gone ended while no process
    watched: their records are closed. ``at`` is the moment before ``live_channels`` was
    looked at (a call that entered later is left alone)."""

    live_channels: frozenset[str]
    at: datetime
    node: str | None = None
    """The PBX node whose channels were looked at: only its calls are judged (another
    node's are not among its channels, and are not over); None: a one-PBX line, every call."""
