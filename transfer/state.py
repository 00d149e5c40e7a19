"""A transfer as the call, the console and a process taking the call over see it: its states
and the names of its moves, the events the call tells it, the actions it asks for, where it
stands (:class:`TransferStatus`, saved in Redis) and what it knows of its call
(:class:`TransferContext`). The decisions are ``transfer.machine``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum

from core.actions import Action
from core.clock import moment
from core.outcomes import AttemptOutcome
from core.worktime import Schedule


class TransferState(StrEnum):
    REQUESTED = "requested"
    DIALING = "dialing"
    RINGING = "ringing"
    CONNECTED = "connected"
    HANDED_OVER = "handed-over"
    ORDERED = "ordered"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    ENDED = "ended"


class Move(StrEnum):
    """The names of the moves in :data:`ROWS` (a transfer's history lists them)."""

    OPEN = "open"
    """The department is in its working hours: dial."""
    CLOSED = "closed"
    """It is not: no number is dialled, a work order is made."""
    DIALED = "dialed"
    """Asterisk took the dial; the specialist's phone rings."""
    FORWARD = "forward"
    """That number failed (busy, no answer, unavailable...) and another one is left."""
    GIVE_UP = "give-up"
    """That number failed and none is left: a work order is made."""
    ANSWERED = "answered"
    CANCEL = "cancel"
    SEAT_GONE = "seat-gone"
    SPECIALIST_GONE = "specialist-gone"
    CALLER_GONE = "caller-gone"
    NOTE = "note"
    """Nothing moves; the step is noted (the ringing tone's playback, a message's end)."""


_S = TransferState
FINAL = frozenset({_S.ORDERED, _S.CANCELLED, _S.ABANDONED, _S.ENDED})
LIVE_SPECIALIST = frozenset({_S.CONNECTED, _S.HANDED_OVER})
STILL_DIALING = frozenset({_S.DIALING, _S.RINGING})
TTL = 86400


@dataclass(frozen=True)
class Route:
    """Where a transfer for one matter goes (from the plan, ``transfer.plan``)."""

    matter: str
    matter_name: str
    department: str
    department_name: str
    numbers: tuple[str, ...]
    """In forwarding order: the matter's own numbers if it has any, else the department's."""
    hours: Schedule
    script: str


# --- what the call tells the transfer -------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    """The seat asked for the transfer (the first event of every transfer, :func:`begin`)."""


@dataclass(frozen=True)
class DialAccepted:
    """Asterisk took the dial of ``leg``: the specialist's phone rings."""

    leg: str


@dataclass(frozen=True)
class DialRefused:
    """``leg`` could not even be dialled (no phone registered, no route)."""

    leg: str


@dataclass(frozen=True)
class SpecialistAnswered:
    leg: str


@dataclass(frozen=True)
class SpecialistHungUp:
    """The specialist's leg is gone: a dial that failed, or the specialist leaving."""

    leg: str
    cause: int | None = None
    sip_code: int | None = None


@dataclass(frozen=True)
class Cancel:
    """The seat cancels while it still rings."""

    by: str | None


@dataclass(frozen=True)
class SeatGone:
    """The seat left the call (hung up or keyed out)."""


@dataclass(frozen=True)
class CallerGone:
    """The caller hung up."""


@dataclass(frozen=True)
class RingbackStarted:
    playback: str


@dataclass(frozen=True)
class MessageDone:
    """The message to caller and seat has been played (or could not be)."""


@dataclass(frozen=True)
class Interrupted:
    """A process taking the call over found the transfer still dialling: the process that
    dialled cannot be told how the dial ended, so the dial is dropped (:func:`interrupted`)."""


TransferEvent = (
    Requested
    | DialAccepted
    | DialRefused
    | SpecialistAnswered
    | SpecialistHungUp
    | Cancel
    | SeatGone
    | CallerGone
    | RingbackStarted
    | MessageDone
    | Interrupted
)


# --- actions of the transfer's own ----------------------------------------------------------


@dataclass(frozen=True)
class SaveTransfer:
    """Keep this step in Redis (``hotline:transfer:<call>``)."""

    status: TransferStatus


@dataclass(frozen=True)
class CountLive:
    """Count a decided request (``number`` None) or a finished dial in the live rates."""

    in_hours: bool
    outcome: str
    department: str = ""
    matter: str = ""
    number: str | None = None


TransferAction = Action | SaveTransfer | CountLive
"""Everything a decision about a transfer may ask the edge to do."""


@dataclass(frozen=True)
class Then:
    """Inside a step: decide ``event`` next, in the state the step led to (a number that
    cannot even be dialled fails at once)."""

    event: TransferEvent


# --- the transfer --------------------------------------------------------------------------


@dataclass
class TransferStatus:
    """Where one transfer stands: what the console shows, what Redis keeps."""

    request: str
    """The request's key (its records refer to it)."""
    call: str
    matter: str
    department: str
    numbers: list[str]
    in_hours: bool = True
    seat: str | None = None
    state: TransferState = TransferState.REQUESTED
    attempt: int = 0
    """How many numbers have been dialled (the one ringing is ``numbers[attempt - 1]``)."""
    specialist_channel: str | None = None
    ringback: str | None = None
    """The playback of the ringing tone while it plays (a process taking over stops it)."""
    order: str | None = None
    message_pending: bool = False
    """The message to caller and seat is still playing."""
    history: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TransferStatus:
        """A status as :func:`status_from_json` read it back."""
        names = set(cls.__dataclass_fields__)
        fields = {key: value for key, value in data.items() if key in names}
        fields["state"] = TransferState(str(fields["state"]))
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def number(self) -> str | None:
        return self.numbers[self.attempt - 1] if 0 < self.attempt <= len(self.numbers) else None

    @property
    def numbers_left(self) -> bool:
        return self.attempt < len(self.numbers)

    @property
    def active(self) -> bool:
        return self.state not in FINAL

    def to_json(self, at: float) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        data["number"] = self.number
        data["at"] = at
        return json.dumps(data)


def status_from_json(raw: str | bytes | None) -> dict[str, object] | None:
    """A saved status as a dictionary (None if there is none)."""
    if raw is None:
        return None
    data: dict[str, object] = json.loads(raw)
    return data


@dataclass(frozen=True)
class TransferContext:
    """What a transfer needs to know of its call and its site when it decides."""

    now: float
    """The clock (``core.clock.time``)."""
    bridge: str
    """The call's bridge, where the specialist joins."""
    caller_number: str
    linkedid: str | None
    enterprise_id: int | None
    caller_id: str
    """The number the specialists see."""
    ring_seconds: int
    endpoint_for: Callable[[str], str | None]
    new_leg: Callable[[], str]
    """A new channel id for a specialist's leg of this call."""

    @property
    def at(self) -> datetime:
        return moment(self.now)


def attempt_outcome(cause: object, sip_code: int | None) -> AttemptOutcome:
    """Name how a dial ended, from Asterisk's Q.850 cause and the SIP response."""
    if cause == 17 or sip_code in (486, 600):
        return AttemptOutcome.BUSY
    if cause == 21 or sip_code in (403, 603):
        return AttemptOutcome.REJECTED
    if cause in (18, 19) or sip_code in (408, 480):
        return AttemptOutcome.NO_ANSWER
    if cause in (1, 3, 20, 27) or sip_code == 404:
        return AttemptOutcome.UNAVAILABLE
    return AttemptOutcome.FAILED
