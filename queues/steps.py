"""The queue's own steps, as a call's decisions ask for them: carried out against Redis by
the call's edge (``ari_app.call``) through the waiting line (``queues.line``) and the seat
pool (``queues.seats``)."""

from __future__ import annotations

from dataclasses import dataclass

from redlist.tiers import RedListTier


@dataclass(frozen=True)
class JoinLine:
    """Take (or keep) a place in the queue's line and announce it on the bus."""

    queue: str
    arrived: float
    tier: RedListTier | None
    prefer: str | None = None
    """A seat the caller gets at once if it is free (a call the hotline cut)."""


@dataclass(frozen=True)
class AnsweredLine:
    """Out of the line: a seat answered (it stays busy with the call)."""

    queue: str


@dataclass(frozen=True)
class LeaveLine:
    """Out of the line, with a seat reserved and not answered given back."""

    queue: str


@dataclass(frozen=True)
class NewRound:
    """Every seat may be tried again for the caller."""

    queue: str


@dataclass(frozen=True)
class ReleaseSeat:
    """Give a seat back: after ``rest_for`` seconds, or paused for ``pause``. ``ringing_in``
    names the queue whose line the caller stays in (the seat did not answer)."""

    seat: str
    rest_for: float = 0.0
    pause: str = ""
    ringing_in: str = ""


@dataclass(frozen=True)
class AnnouncePosition:
    """Tell the caller on hold how many callers are ahead (music after it), and with
    ``offer_callback`` that keying 1 hangs up and keeps their place."""

    queue: str
    offer_callback: bool = False


@dataclass(frozen=True)
class MarkSurveying:
    """The caller is (or is no longer) being asked to rate the call: a process taking over
    must not queue them again."""

    on: bool


QueueStep = (
    JoinLine | AnsweredLine | LeaveLine | NewRound | ReleaseSeat | AnnouncePosition | MarkSurveying
)
"""Everything a call may ask of the queue."""
