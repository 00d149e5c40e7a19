"""What happens to a call, as its decisions hear it: the edge (``ari_app.translate``,
``ari_app.call``) turns ARI's events, timers, offers and commands into these."""

from __future__ import annotations

from dataclasses import dataclass

from core.actions import Purpose, Timer
from core.outcomes import CallOutcome
from transfer.keys import Command
from transfer.state import TransferEvent


@dataclass(frozen=True)
class Arrived:
    """The caller entered the application (a new call's first event)."""


@dataclass(frozen=True)
class Resumed:
    """A process takes over a call another process (or its earlier self) had connected."""


@dataclass(frozen=True)
class SeatOffered:
    seat: str


@dataclass(frozen=True)
class SeatAnswered:
    leg: str


@dataclass(frozen=True)
class SeatNotAnswered:
    """The seat's leg ended before it answered (cause None: it could not even be rung)."""

    leg: str
    cause: int | None


@dataclass(frozen=True)
class SeatHungUp:
    """The seat's leg ended after it answered (``cause``: Asterisk's hangup cause)."""

    leg: str
    cause: int | None = None


@dataclass(frozen=True)
class CallerHungUp:
    pass


@dataclass(frozen=True)
class CompanyAnswered:
    """A call-back: the company's phone answered (its leg is the call's caller channel)."""


@dataclass(frozen=True)
class CompanyMissed:
    """A call-back: the company's leg ended before it answered (busy, no answer, no way)."""

    cause: int | None


@dataclass(frozen=True)
class TimerDue:
    timer: Timer


@dataclass(frozen=True)
class PromptStarted:
    purpose: Purpose
    prompt: str


@dataclass(frozen=True)
class PromptEnded:
    """A prompt ended (or could not be played)."""

    purpose: Purpose


@dataclass(frozen=True)
class SeatKeyed:
    digit: str


@dataclass(frozen=True)
class CallerKeyed:
    digit: str


@dataclass(frozen=True)
class SeatCommand:
    """A seat's command: keyed on its phone (``via`` keypad), the API or the console."""

    command: Command
    via: str


@dataclass(frozen=True)
class CalledOff:
    """The company called in again while its call-back was being attempted: the attempt
    stops where it is (``callback.book``'s cancel tells the process that makes it)."""


@dataclass(frozen=True)
class CallBroken:
    """Something the call needs failed (a bridge could not be made, a store is away): the
    call ends as well as it can, recorded as failed."""

    reason: str


@dataclass(frozen=True)
class PbxLost:
    """Asterisk died and came back: the call's channels are gone with it."""


@dataclass(frozen=True)
class StoreLost:
    """Redis, where the lines and the seats are, does not answer: no seat can be offered."""


@dataclass(frozen=True)
class PlaceLost:
    """The caller waits but is not in its line (freed while Redis was away, or by a race):
    it takes its place again, by its arrival."""


@dataclass(frozen=True)
class TransferStep:
    """Something happened to the transfer (``transfer.machine``'s events)."""

    event: TransferEvent


@dataclass(frozen=True)
class TalkOver:
    """Whoever served the caller has gone and the caller is alone on the line (decided
    inside the call: a seat hung up, or a transfer ended with no seat left)."""

    outcome: CallOutcome


CallEvent = (
    Arrived
    | Resumed
    | SeatOffered
    | SeatAnswered
    | SeatNotAnswered
    | SeatHungUp
    | CallerHungUp
    | CompanyAnswered
    | CompanyMissed
    | TimerDue
    | PromptStarted
    | PromptEnded
    | SeatKeyed
    | CallerKeyed
    | SeatCommand
    | CalledOff
    | CallBroken
    | StoreLost
    | PbxLost
    | PlaceLost
    | TransferStep
    | TalkOver
)


@dataclass(frozen=True)
class Then:
    """Inside a step: decide ``event`` next, in the phase the step led to."""

    event: CallEvent
