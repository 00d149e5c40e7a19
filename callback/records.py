"""What is recorded about call-backs (written to SQL by ``callback.recorder``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CallbackRequested:
    """The line promised to call the caller back (``callback``): the caller's channel is the
    request's key."""

    caller_channel: str
    queue: str
    reason: str
    at: datetime
    number: str | None = None
    """The number to call back (normalised)."""
    tier: str | None = None


@dataclass(frozen=True)
class CallbackAttemptEnded:
    """One attempt at a call-back ended (``callback.ticket.CallbackOutcome``)."""

    request: str
    channel: str
    attempt: int
    seat_id: str | None
    started_at: datetime
    at: datetime
    outcome: str
    cause: int | None = None


@dataclass(frozen=True)
class CallbackReached:
    """The company answered its call-back: from now on the attempt is a call like any other
    (recorded in ``call_legs`` with the request it kept)."""

    request: str
    caller_channel: str
    linkedid: str | None
    """The seat's leg: Asterisk links the company's leg to it (its CDRs carry it)."""
    number: str
    called_number: str
    queue: str
    caller_kind: str
    enterprise_id: int | None
    tier: str | None
    at: datetime
    node: str | None = None
    """The PBX node that made the call-back (a line of several nodes)."""


@dataclass(frozen=True)
class CallbackClosed:
    """The call-back is over: ``reached``, ``given-up`` or ``cancelled``."""

    request: str
    outcome: str
    at: datetime
