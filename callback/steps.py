"""What a call's decisions may ask of the call-back book (``callback.book``, in Redis)."""

from __future__ import annotations

from dataclasses import dataclass

from redlist.tiers import RedListTier


@dataclass(frozen=True)
class BookCallback:
    """Promise the caller a call-back, keeping their place (arrival and tier). A number with
    a call-back pending keeps the one it has."""

    request: str
    queue: str
    number: str
    arrived: float
    tier: RedListTier | None
    reason: str
    prefer: str | None = None
    """The seat the caller was talking to when the hotline cut the call: rung first if free."""


@dataclass(frozen=True)
class RebookCallback:
    """The attempt did not reach the company: try again at ``due``; ``counted`` uses one
    of its attempts up."""

    request: str
    due: float
    counted: bool


@dataclass(frozen=True)
class CloseCallback:
    """The call-back is over: reached, given up or cancelled."""

    request: str


@dataclass(frozen=True)
class CancelCallback:
    """The company calls in again: a call-back still pending for its number is cancelled."""

    number: str


@dataclass(frozen=True)
class KeepCallbackCard:
    """On a line of several nodes: what the caller's call-back would be (``BookCallback``
    without a reason), kept beside the line, so that another node can book it if this
    node's machine goes with the call."""

    request: str
    queue: str
    number: str
    arrived: float
    tier: RedListTier | None


@dataclass(frozen=True)
class DropCallbackCard:
    """The call on a node has ended (or been booked its call-back): its card goes (kept, the
    cards of a busy line filled Redis for half a day: 24,000 in the first hour of the long
    run)."""

    request: str


CallbackStep = (
    BookCallback
    | RebookCallback
    | CloseCallback
    | CancelCallback
    | KeepCallbackCard
    | DropCallbackCard
)
"""Everything a call may ask of the call-back book."""
