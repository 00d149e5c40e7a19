"""What is recorded about transfers, as data: the request, each dial, the outcome and the
work order, handed to the process's :class:`core.writer.RecordWriter` and written to SQL
off the call's path by :class:`transfer.recorder.TransferRecords`.

A request is known by a key the call makes up (``TransferStatus.request``), so nothing on
the call's path waits for the database to hand out an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.outcomes import AttemptOutcome, TransferOutcome
from transfer.deadlines import Level


@dataclass(frozen=True)
class TransferRequested:
    request: str
    caller_channel: str
    linkedid: str | None
    seat_id: str | None
    matter: str
    department: str
    in_hours: bool
    via: str
    at: datetime


@dataclass(frozen=True)
class DialStarted:
    request: str
    position: int
    number: str
    channel: str
    at: datetime


@dataclass(frozen=True)
class DialEnded:
    channel: str
    outcome: AttemptOutcome
    at: datetime
    cause: int | None = None
    sip_code: int | None = None
    cancelled_by: str | None = None


@dataclass(frozen=True)
class TransferDecided:
    """The request's outcome: answered (the specialist picked up), or how it ended without."""

    request: str
    outcome: TransferOutcome
    at: datetime
    answered_number: str | None = None


@dataclass(frozen=True)
class SpecialistLeft:
    """The specialist's part of the call is over."""

    request: str
    at: datetime


@dataclass(frozen=True)
class WorkOrderMade:
    """A second-urgent work order for the department of a request nobody could answer."""

    request: str
    department: str
    reason: str
    at: datetime
    matter: str | None
    enterprise_id: int | None
    caller_number: str | None
    caller_channel: str | None
    level: Level = Level.SECOND_URGENT
