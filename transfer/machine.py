"""The three-way transfer's decisions: an event in, the next state and the actions out.

The one place that says which event moves a transfer from which state to which
(:data:`TRANSITIONS`), and what is done on each move: dial the next number, play the ringing
tone to caller and seat, bring the specialist who answers into the call's bridge, record
every request and dial, count the live connect rate, make the work order and tell caller
and seat. Nothing here talks to Asterisk, Redis or SQL: the call's edge (``ari_app.call``)
carries the actions out and hands the outcomes back as events. Every step is saved
(:class:`SaveTransfer`) for the console, the API and a process taking the call over.

::

    requested --open--> dialing --dialed--> ringing --answered--> connected
        |                 ^   |                |   |                  |
        |closed           +---+--forward-------+   |cancel            |seat-gone
        v                     |give-up             v                  v
     ordered <----------------+-----------------cancelled         handed-over
                                                                      |
    caller-gone before an answer: abandoned;  specialist-gone or caller-gone: ended
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum

from core import keys
from core.actions import (
    Action,
    AddToBridge,
    Dial,
    HangUp,
    Play,
    Publish,
    Purpose,
    Record,
    Ringback,
    StopPlaying,
)
from core.clock import moment
from core.outcomes import AttemptOutcome, TransferOutcome
from core.worktime import Schedule
from transfer.deadlines import Level
from transfer.records import (
    DialEnded,
    DialStarted,
    SpecialistLeft,
    TransferDecided,
    TransferRequested,
    WorkOrderMade,
)


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
    """The moves of :data:`TRANSITIONS`."""

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


S, M = TransferState, Move

TRANSITIONS: dict[tuple[TransferState, Move], TransferState] = {
    (S.REQUESTED, M.OPEN): S.DIALING,
    (S.REQUESTED, M.CLOSED): S.ORDERED,
    (S.REQUESTED, M.CALLER_GONE): S.ABANDONED,
    (S.DIALING, M.DIALED): S.RINGING,
    (S.DIALING, M.FORWARD): S.DIALING,
    (S.DIALING, M.GIVE_UP): S.ORDERED,
    (S.DIALING, M.CANCEL): S.CANCELLED,
    (S.DIALING, M.CALLER_GONE): S.ABANDONED,
    (S.DIALING, M.SEAT_GONE): S.DIALING,
    (S.RINGING, M.ANSWERED): S.CONNECTED,
    (S.RINGING, M.FORWARD): S.DIALING,
    (S.RINGING, M.GIVE_UP): S.ORDERED,
    (S.RINGING, M.CANCEL): S.CANCELLED,
    (S.RINGING, M.CALLER_GONE): S.ABANDONED,
    (S.RINGING, M.SEAT_GONE): S.RINGING,
    (S.CONNECTED, M.SEAT_GONE): S.HANDED_OVER,
    (S.CONNECTED, M.SPECIALIST_GONE): S.ENDED,
    (S.CONNECTED, M.CALLER_GONE): S.ENDED,
    (S.HANDED_OVER, M.SPECIALIST_GONE): S.ENDED,
    (S.HANDED_OVER, M.CALLER_GONE): S.ENDED,
}
"""Every allowed move. Anything else is refused (:class:`TransitionRefused`)."""

FINAL = frozenset({S.ORDERED, S.CANCELLED, S.ABANDONED, S.ENDED})
LIVE_SPECIALIST = frozenset({S.CONNECTED, S.HANDED_OVER})
STILL_DIALING = frozenset({S.DIALING, S.RINGING})
TTL = 86400


class TransitionRefused(Exception):
    """A move that does not apply in the transfer's state."""


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


TransferEvent = (
    DialAccepted
    | DialRefused
    | SpecialistAnswered
    | SpecialistHungUp
    | Cancel
    | SeatGone
    | CallerGone
    | RingbackStarted
    | MessageDone
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

    @property
    def specialist_on_line(self) -> bool:
        return self.state in LIVE_SPECIALIST

    def apply(self, move: Move) -> TransferState:
        """Make ``move``; raises :class:`TransitionRefused` if it does not apply."""
        target = TRANSITIONS.get((self.state, move))
        if target is None:
            raise TransitionRefused(f"{move.value} does not apply to a {self.state.value} transfer")
        self.history.append(f"{self.state.value} --{move.value}--> {target.value}")
        self.state = target
        return target

    def to_json(self, at: float) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        data["number"] = self.number
        data["at"] = at
        return json.dumps(data)


def status_key(call: str) -> str:
    return keys.transfer_status(call)


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


# --- the decisions -------------------------------------------------------------------------


def begin(
    route: Route,
    request: str,
    call: str,
    seat: str | None,
    via: str,
    ctx: TransferContext,
) -> tuple[TransferStatus, list[TransferAction]]:
    """A seat asks for a transfer: record it, then dial the first number — or, out of the
    department's hours, make the work order at once."""
    in_hours = route.hours.is_open(ctx.at)
    status = TransferStatus(
        request, call, route.matter, route.department, list(route.numbers), in_hours, seat
    )
    actions: list[TransferAction] = [
        Record(
            TransferRequested(
                request,
                call,
                ctx.linkedid,
                seat,
                route.matter,
                route.department,
                in_hours,
                via,
                ctx.at,
            )
        ),
        _publish(status, "transfer-requested", via=via, in_hours=in_hours),
    ]
    if in_hours:
        actions += _move(status, Move.OPEN)
        actions += _dial_next(status, ctx)
    else:
        actions += _move(status, Move.CLOSED)
        actions += _make_order(status, ctx, "closed", "department-closed")
    return status, actions


def handle(
    status: TransferStatus, event: TransferEvent, ctx: TransferContext
) -> list[TransferAction]:
    """What the transfer does about ``event``; events that do not apply change nothing."""
    state = status.state
    match event:
        case DialAccepted(leg) if leg == status.specialist_channel and state is S.DIALING:
            ringback: list[TransferAction] = [Ringback(ctx.bridge)] if not status.ringback else []
            return [
                *_move(status, Move.DIALED),
                *ringback,
                _publish(status, "transfer-ringing", number=status.number),
            ]
        case DialRefused(leg) if leg == status.specialist_channel and state is S.DIALING:
            return _dial_failed(status, ctx, AttemptOutcome.UNAVAILABLE, None, None)
        case SpecialistAnswered(leg) if leg == status.specialist_channel and state is S.RINGING:
            return _answered(status, ctx)
        case SpecialistHungUp(leg, cause, sip) if leg == status.specialist_channel:
            if state in STILL_DIALING:
                return _dial_failed(status, ctx, attempt_outcome(cause, sip), cause, sip)
            if state in LIVE_SPECIALIST:
                status.specialist_channel = None
                return [
                    *_move(status, Move.SPECIALIST_GONE),
                    Record(SpecialistLeft(status.request, ctx.at)),
                    _publish(status, "transfer-ended"),
                ]
            return []
        case RingbackStarted(playback) if state in STILL_DIALING:
            status.ringback = playback
            return [SaveTransfer(_copy(status))]
        case Cancel(by) if state in STILL_DIALING:
            return _cancel(status, ctx, by)
        case SeatGone():
            status.seat = None
            return _move(status, Move.SEAT_GONE) if (state, Move.SEAT_GONE) in TRANSITIONS else []
        case CallerGone():
            return _caller_gone(status, ctx)
        case MessageDone():
            status.message_pending = False
            return [SaveTransfer(_copy(status))]
    return []


def interrupted(status: TransferStatus, ctx: TransferContext) -> list[TransferAction]:
    """A process taking over found this transfer still dialling: the dial is dropped (the
    process that made it cannot be told its outcome) and recorded as failed; the call goes
    on."""
    actions: list[TransferAction] = []
    if status.ringback is not None:
        actions.append(StopPlaying(Purpose.RINGBACK, status.ringback))
        status.ringback = None
    leg = status.specialist_channel
    if leg is not None:
        status.specialist_channel = None
        actions += [HangUp(leg), Record(DialEnded(leg, AttemptOutcome.FAILED, ctx.at))]
    actions.append(Record(TransferDecided(status.request, TransferOutcome.FAILED, ctx.at)))
    if (status.state, Move.CANCEL) in TRANSITIONS:
        actions += _move(status, Move.CANCEL)
    return actions


def _dial_next(status: TransferStatus, ctx: TransferContext) -> list[TransferAction]:
    """Dial the next number; one that cannot even be dialled moves on at once."""
    status.attempt += 1
    number = status.number
    assert number is not None
    leg = ctx.new_leg()
    status.specialist_channel = leg
    actions: list[TransferAction] = [
        Record(DialStarted(status.request, status.attempt, number, leg, ctx.at)),
        SaveTransfer(_copy(status)),
    ]
    endpoint = ctx.endpoint_for(number)
    if endpoint is None:  # no way to reach the number
        return actions + _dial_failed(status, ctx, AttemptOutcome.UNAVAILABLE, None, None)
    return [*actions, Dial(leg, endpoint, ctx.caller_id, ctx.ring_seconds, "specialist")]


def _dial_failed(
    status: TransferStatus,
    ctx: TransferContext,
    outcome: AttemptOutcome,
    cause: int | None,
    sip_code: int | None,
) -> list[TransferAction]:
    leg, number = status.specialist_channel, status.number
    assert leg is not None and number is not None
    status.specialist_channel = None
    actions: list[TransferAction] = [
        Record(DialEnded(leg, outcome, ctx.at, cause, sip_code)),
        CountLive(status.in_hours, outcome.value, number=number),
        _publish(status, "transfer-attempt", number=number, outcome=outcome.value),
    ]
    if status.numbers_left:
        return actions + _move(status, Move.FORWARD) + _dial_next(status, ctx)
    return (
        actions
        + _stop_ringback(status)
        + _move(status, Move.GIVE_UP)
        + _make_order(status, ctx, "unanswered", "transfer-failed")
    )


def _answered(status: TransferStatus, ctx: TransferContext) -> list[TransferAction]:
    leg, number = status.specialist_channel, status.number
    assert leg is not None and number is not None
    return [
        *_stop_ringback(status),
        AddToBridge(ctx.bridge, leg),
        *_move(status, Move.ANSWERED),
        Record(DialEnded(leg, AttemptOutcome.ANSWERED, ctx.at)),
        Record(TransferDecided(status.request, TransferOutcome.ANSWERED, ctx.at, number)),
        CountLive(status.in_hours, AttemptOutcome.ANSWERED.value, number=number),
        _decided(status, TransferOutcome.ANSWERED),
        _publish(status, "transfer-answered", number=number),
    ]


def _cancel(status: TransferStatus, ctx: TransferContext, by: str | None) -> list[TransferAction]:
    leg = status.specialist_channel
    actions = _move(status, Move.CANCEL) + _stop_ringback(status)
    if leg is not None:
        status.specialist_channel = None
        actions += [
            Record(DialEnded(leg, AttemptOutcome.CANCELLED, ctx.at, cancelled_by=by)),
            CountLive(status.in_hours, AttemptOutcome.CANCELLED.value, number=status.number),
            HangUp(leg),
        ]
    return [
        *actions,
        Record(TransferDecided(status.request, TransferOutcome.CANCELLED, ctx.at)),
        _decided(status, TransferOutcome.CANCELLED),
        SaveTransfer(_copy(status)),
        _publish(status, "transfer-cancelled", by=by),
    ]


def _caller_gone(status: TransferStatus, ctx: TransferContext) -> list[TransferAction]:
    """The caller hung up: a dial still ringing is abandoned and hung up."""
    state, leg = status.state, status.specialist_channel
    if (state, Move.CALLER_GONE) not in TRANSITIONS:
        return []
    actions = _move(status, Move.CALLER_GONE) + _stop_ringback(status)
    if leg is None:
        return actions
    status.specialist_channel = None
    if state in STILL_DIALING:
        actions += [
            Record(DialEnded(leg, AttemptOutcome.ABANDONED, ctx.at)),
            CountLive(status.in_hours, AttemptOutcome.ABANDONED.value, number=status.number),
            Record(TransferDecided(status.request, TransferOutcome.ABANDONED, ctx.at)),
            _decided(status, TransferOutcome.ABANDONED),
        ]
    else:
        actions.append(Record(SpecialistLeft(status.request, ctx.at)))
    return [*actions, HangUp(leg), SaveTransfer(_copy(status))]


def _make_order(
    status: TransferStatus, ctx: TransferContext, reason: str, prompt: str
) -> list[TransferAction]:
    """Nobody can be reached: a second-urgent work order for the department, and caller and
    seat hear it together in the bridge."""
    outcome = TransferOutcome.CLOSED if reason == "closed" else TransferOutcome.FAILED
    status.message_pending = True
    return [
        *_stop_ringback(status),
        Record(
            WorkOrderMade(
                status.request,
                status.department,
                reason,
                ctx.at,
                status.matter,
                ctx.enterprise_id,
                ctx.caller_number,
                status.call,
                Level.SECOND_URGENT,
            )
        ),
        Record(TransferDecided(status.request, outcome, ctx.at)),
        _decided(status, outcome),
        SaveTransfer(_copy(status)),
        _publish(status, "transfer-ordered", reason=reason),
        Play(prompt, Purpose.TRANSFER_MESSAGE, bridge=ctx.bridge),
    ]


def _decided(status: TransferStatus, outcome: TransferOutcome) -> CountLive:
    return CountLive(status.in_hours, outcome.value, status.department, status.matter)


def _stop_ringback(status: TransferStatus) -> list[TransferAction]:
    if status.ringback is None:
        return []
    playback, status.ringback = status.ringback, None
    return [StopPlaying(Purpose.RINGBACK, playback)]


def _move(status: TransferStatus, move: Move) -> list[TransferAction]:
    status.apply(move)
    return [SaveTransfer(_copy(status))]


def _copy(status: TransferStatus) -> TransferStatus:
    """A snapshot: the saved step must not change when the status moves on."""
    return TransferStatus.from_dict({**asdict(status), "state": status.state.value})


def _publish(status: TransferStatus, kind: str, **details: object) -> Publish:
    return Publish(
        kind,
        {
            "caller": status.call,
            "seat": status.seat,
            "transfer": status.request,
            "matter": status.matter,
            "department": status.department,
            "state": status.state.value,
            **details,
        },
    )
