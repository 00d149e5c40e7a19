"""How things end, in one place: a call, a stay in a queue, a seat rung, a transfer request,
one dial of a specialist's number, and the caller's rating. The values are what SQL, the
events and the reports carry."""

from __future__ import annotations

from enum import StrEnum


class CallOutcome(StrEnum):
    """How a call ended."""

    CALLER_HANGUP = "caller-hangup"
    SEAT_HANGUP = "seat-hangup"
    SEAT_LOST = "seat-lost"
    """The seat's phone vanished mid-call (no more audio, no BYE): Asterisk's RTP timeout."""
    SPECIALIST_HANGUP = "specialist-hangup"
    """The seat had left a three-way call and the specialist hung up."""
    TRANSFER_FAILED = "transfer-failed"
    """The seat had left and the transfer ended in a work order."""
    ABANDONED = "abandoned"
    """The caller hung up while waiting for a seat."""
    CLOSED = "closed"
    """The queue was out of its hours: the caller heard the closed message."""
    MAX_WAIT = "max-wait"
    """The caller waited the queue's maximum: a message and a call-back request."""
    CALLBACK = "callback"
    """The caller keyed 1 while waiting: hung up, to be called back in their turn."""
    PBX_LOST = "pbx-lost"
    """Asterisk died under the call: the caller is called back (``callback``)."""
    FAILED = "failed"
    """Something went wrong that the hotline could not recover from (logged)."""
    ENDED_UNOBSERVED = "ended-unobserved"
    """The call ended while no application process was watching it."""


class VisitOutcome(StrEnum):
    """How one stay of a caller in one queue ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CLOSED = "closed"
    MAX_WAIT = "max-wait"
    CALLBACK = "callback"
    """Keyed 1 to be called back in their turn."""
    FAILED = "failed"
    MOVED = "moved"
    """A seat answered and moved the caller on to another queue."""


class SeatOutcome(StrEnum):
    """How ringing one seat for one caller ended."""

    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    """It rang out: the seat is paused."""
    DECLINED = "declined"
    """Busy or rejected by the agent: the next seat is tried."""
    UNREACHABLE = "unreachable"
    """No phone could be rung: the seat rests a while."""
    CALLER_LEFT = "caller-left"
    INTERRUPTED = "interrupted"
    """The process ringing it died; the caller rang a seat afresh."""


class TransferOutcome(StrEnum):
    """How a transfer request ended."""

    ANSWERED = "answered"
    FAILED = "failed"
    """Nobody answered: a work order."""
    CLOSED = "closed"
    """The department was out of its hours: nothing dialled, a work order."""
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    """The caller hung up before a specialist answered."""


class AttemptOutcome(StrEnum):
    """How one dial of one specialist's number ended."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"
    """Not registered or no way to reach it."""
    FAILED = "failed"
    """Congestion and everything else."""
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


class Rating(StrEnum):
    """The caller's answer to the satisfaction survey."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically-satisfied"
    DISSATISFIED = "dissatisfied"
    NO_ANSWER = "no-answer"
    """Asked (twice), no key pressed."""


class Unreached(StrEnum):
    """Why a company the hotline dialled (a call-back, a return visit) was not reached."""

    BUSY = "busy"
    NO_ANSWER = "no-answer"
    UNREACHABLE = "unreachable"


BUSY_CAUSES = frozenset({17})
NO_ANSWER_CAUSES = frozenset({18, 19, 21})
"""Q.850: no user responding, no answer, call rejected (a phone that declines rang)."""


def unreached_because(cause: int | None) -> Unreached:
    """What a dialled leg's Q.850 hangup cause says, when it was never answered."""
    if cause in BUSY_CAUSES:
        return Unreached.BUSY
    if cause in NO_ANSWER_CAUSES:
        return Unreached.NO_ANSWER
    return Unreached.UNREACHABLE
