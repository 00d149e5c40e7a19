"""What a call-back attempt carries (pure data, read by the call's decisions)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.outcomes import unreached_because


class CallbackOutcome(StrEnum):
    """How one attempt ended, and how a call-back request ended."""

    REACHED = "reached"
    """The company answered: a seat talks to it."""
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    UNREACHABLE = "unreachable"
    SEAT_LEFT = "seat-left"
    """The seat hung up before the company answered (not counted as an attempt)."""
    INTERRUPTED = "interrupted"
    """The attempt was cut short by the hotline (a process died, Redis went away): it is
    made again in its turn, not counted."""
    GIVEN_UP = "given-up"
    """Every attempt was made and none reached the company."""
    CANCELLED = "cancelled"
    """The company called in again before its call-back."""


CALL_OFF = "call-off"
"""The command (on ``hotline:commands``) that stops an attempt whose call-back was cancelled."""

COUNTED = frozenset({CallbackOutcome.BUSY, CallbackOutcome.NO_ANSWER, CallbackOutcome.UNREACHABLE})
"""The outcomes that use up one of the call-back's attempts."""


def outcome_of(cause: int | None) -> CallbackOutcome:
    """What a company leg's Q.850 hangup cause says about the attempt."""
    return CallbackOutcome(unreached_because(cause).value)


@dataclass(frozen=True)
class CallbackTicket:
    """One attempt of one call-back request."""

    request: str
    """The request's key (the channel of the call that asked for it)."""
    number: str
    """The company's number, normalised: what is dialled through the trunk."""
    attempt: int
    """This attempt's number, from 1."""
    requested_at: float
    prefer: str | None = None
    """The seat to ring first if it is free (the one the hotline's failure cut off)."""


@dataclass(frozen=True)
class CallbackRules:
    """The site's ``[callbacks]`` as the decisions read them."""

    enabled: bool = True
    attempts: int = 3
    retry_after: int = 300
    ring_timeout: int = 30
    caller_id: str = ""
    """What the company sees: the hotline's number."""
    endpoint: str | None = None
    """How the company's number is dialled (``{number}`` in it); None: no trunk goes out."""

    def endpoint_for(self, number: str) -> str | None:
        return self.endpoint.format(number=number) if self.endpoint else None
