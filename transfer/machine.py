"""The three-way transfer's decisions: an event in, the next state and the actions out.

The one place that says which event moves a transfer from which state to which, on which
condition, and what is done on the way: :data:`ROWS`, at the end of this file, read in one
screen. Dial the next number, play the ringing tone to caller and seat, bring the
specialist who answers into the call's bridge, record every request and dial, count the
live connect rate, make the work order and tell caller and seat. Nothing here talks to
Asterisk, Redis or SQL: the call's edge (``ari_app.call``) carries the actions out and
hands the outcomes back as events. :func:`handle` is the one choke point: it finds the row,
moves the state, notes the move in the history, runs the row's effect and saves the step
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

from collections.abc import Callable
from dataclasses import asdict, dataclass

from core.actions import (
    AddToBridge,
    Dial,
    HangUp,
    LegKind,
    Play,
    Publish,
    Purpose,
    Record,
    Ringback,
    StopPlaying,
)
from core.outcomes import AttemptOutcome, TransferOutcome
from transfer.deadlines import Level
from transfer.records import (
    DialEnded,
    DialStarted,
    SpecialistLeft,
    TransferDecided,
    TransferRequested,
    WorkOrderMade,
)
from transfer.state import (
    FINAL,
    LIVE_SPECIALIST,
    STILL_DIALING,
    CallerGone,
    Cancel,
    CountLive,
    DialAccepted,
    DialRefused,
    Interrupted,
    MessageDone,
    Move,
    Requested,
    RingbackStarted,
    Route,
    SaveTransfer,
    SeatGone,
    SpecialistAnswered,
    SpecialistHungUp,
    Then,
    TransferAction,
    TransferContext,
    TransferEvent,
    TransferState,
    TransferStatus,
    attempt_outcome,
)

S, M = TransferState, Move


# --- the steps: what each row of the table does --------------------------------------------

Step = list[TransferAction | Then]
Effect = Callable[[TransferStatus, TransferEvent, TransferContext], Step]
Guard = Callable[[TransferStatus, TransferEvent], bool]


def _dial_next(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    """Dial the next number; one that cannot even be dialled fails at once."""
    status.attempt += 1
    number = status.number
    assert number is not None
    leg = ctx.new_leg()
    status.specialist_channel = leg
    actions: Step = [Record(DialStarted(status.request, status.attempt, number, leg, ctx.at))]
    endpoint = ctx.endpoint_for(number)
    if endpoint is None:  # no way to reach the number
        return [*actions, Then(DialRefused(leg))]
    return [*actions, Dial(leg, endpoint, ctx.caller_id, ctx.ring_seconds, LegKind.SPECIALIST)]


def _ring(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    ringback: Step = [Ringback(ctx.bridge)] if not status.ringback else []
    return [*ringback, _publish(status, "transfer-ringing", number=status.number)]


def _dial_failed(status: TransferStatus, event: TransferEvent, ctx: TransferContext) -> Step:
    """Record how the number's dial ended (a refused dial: unavailable)."""
    leg, number = status.specialist_channel, status.number
    assert leg is not None and number is not None
    status.specialist_channel = None
    cause = sip_code = None
    outcome = AttemptOutcome.UNAVAILABLE
    if isinstance(event, SpecialistHungUp):
        cause, sip_code = event.cause, event.sip_code
        outcome = attempt_outcome(cause, sip_code)
    return [
        Record(DialEnded(leg, outcome, ctx.at, cause, sip_code)),
        CountLive(status.in_hours, outcome.value, number=number),
        _publish(status, "transfer-attempt", number=number, outcome=outcome.value),
    ]


def _forward(status: TransferStatus, event: TransferEvent, ctx: TransferContext) -> Step:
    return _dial_failed(status, event, ctx) + _dial_next(status, event, ctx)


def _give_up(status: TransferStatus, event: TransferEvent, ctx: TransferContext) -> Step:
    return _dial_failed(status, event, ctx) + _order(status, ctx, "unanswered", "transfer-failed")


def _closed(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    return _order(status, ctx, "closed", "department-closed")


def _connect(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    leg, number = status.specialist_channel, status.number
    assert leg is not None and number is not None
    return [
        *_stop_ringback(status),
        AddToBridge(ctx.bridge, leg),
        Record(DialEnded(leg, AttemptOutcome.ANSWERED, ctx.at)),
        Record(TransferDecided(status.request, TransferOutcome.ANSWERED, ctx.at, number)),
        CountLive(status.in_hours, AttemptOutcome.ANSWERED.value, number=number),
        _decided(status, TransferOutcome.ANSWERED),
        _publish(status, "transfer-answered", number=number),
    ]


def _cancel(status: TransferStatus, event: TransferEvent, ctx: TransferContext) -> Step:
    by = event.by if isinstance(event, Cancel) else None
    leg = status.specialist_channel
    actions = _stop_ringback(status)
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
        _publish(status, "transfer-cancelled", by=by),
    ]


def _abandon(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    """The caller hung up while the specialist's phone rang: the dial is abandoned."""
    leg = status.specialist_channel
    actions = _stop_ringback(status)
    if leg is None:
        return actions
    status.specialist_channel = None
    return [
        *actions,
        Record(DialEnded(leg, AttemptOutcome.ABANDONED, ctx.at)),
        CountLive(status.in_hours, AttemptOutcome.ABANDONED.value, number=status.number),
        Record(TransferDecided(status.request, TransferOutcome.ABANDONED, ctx.at)),
        _decided(status, TransferOutcome.ABANDONED),
        HangUp(leg),
    ]


def _caller_left(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    """The caller hung up on a connected specialist: the specialist is hung up too."""
    leg, status.specialist_channel = status.specialist_channel, None
    return [Record(SpecialistLeft(status.request, ctx.at)), HangUp(leg)] if leg else []


def _spec_left(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    status.specialist_channel = None
    return [Record(SpecialistLeft(status.request, ctx.at)), _publish(status, "transfer-ended")]


def _forget_seat(status: TransferStatus, _: TransferEvent, __: TransferContext) -> Step:
    status.seat = None
    return []


def _tone_on(status: TransferStatus, event: TransferEvent, _: TransferContext) -> Step:
    status.ringback = event.playback if isinstance(event, RingbackStarted) else status.ringback
    return []


def _msg_done(status: TransferStatus, _: TransferEvent, __: TransferContext) -> Step:
    status.message_pending = False
    return []


def _drop_dial(status: TransferStatus, _: TransferEvent, ctx: TransferContext) -> Step:
    """Taken over while dialling: the dial is hung up and the request recorded as failed."""
    actions = _stop_ringback(status)
    leg, status.specialist_channel = status.specialist_channel, None
    if leg is not None:
        actions += [HangUp(leg), Record(DialEnded(leg, AttemptOutcome.FAILED, ctx.at))]
    return [*actions, Record(TransferDecided(status.request, TransferOutcome.FAILED, ctx.at))]


def _order(status: TransferStatus, ctx: TransferContext, reason: str, prompt: str) -> Step:
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
        _publish(status, "transfer-ordered", reason=reason),
        Play(prompt, Purpose.TRANSFER_MESSAGE, bridge=ctx.bridge),
    ]


def _decided(status: TransferStatus, outcome: TransferOutcome) -> CountLive:
    return CountLive(status.in_hours, outcome.value, status.department, status.matter)


def _stop_ringback(status: TransferStatus) -> Step:
    if status.ringback is None:
        return []
    playback, status.ringback = status.ringback, None
    return [StopPlaying(Purpose.RINGBACK, playback)]


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


# --- the guards ----------------------------------------------------------------------------


def _any(_: TransferStatus, __: TransferEvent) -> bool:
    return True


def _open(status: TransferStatus, _: TransferEvent) -> bool:
    return status.in_hours


def _its_leg(status: TransferStatus, event: TransferEvent) -> bool:
    """The event is about the leg the transfer dials now (not an earlier, forgotten one)."""
    leg = getattr(event, "leg", None)
    return leg is not None and leg == status.specialist_channel


def _more(status: TransferStatus, event: TransferEvent) -> bool:
    return _its_leg(status, event) and status.numbers_left


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """In one of the states ``source``, an event of type ``on`` for which ``when`` holds
    makes ``move`` to ``to`` (None: the state stays) and does ``effect``."""

    source: frozenset[TransferState]
    on: type[TransferEvent]
    when: Guard
    move: Move
    to: TransferState | None
    effect: Effect


def _r(
    source: TransferState | frozenset[TransferState],
    on: type[TransferEvent],
    when: Guard,
    move: Move,
    to: TransferState | None,
    effect: Effect,
) -> Row:
    states = source if isinstance(source, frozenset) else frozenset({source})
    return Row(states, on, when, move, to, effect)


LIVE, ANY = LIVE_SPECIALIST, frozenset(TransferState)
SETTLED = frozenset({S.HANDED_OVER, *FINAL})
"""States in which the seat's leaving changes nothing."""

ROWS: tuple[Row, ...] = (
    #  in             on                  when      move               to             do
    _r(S.REQUESTED,   Requested,          _open,    M.OPEN,            S.DIALING,     _dial_next),
    _r(S.REQUESTED,   Requested,          _any,     M.CLOSED,          S.ORDERED,     _closed),
    _r(S.DIALING,     DialAccepted,       _its_leg, M.DIALED,          S.RINGING,     _ring),
    _r(S.DIALING,     DialRefused,        _more,    M.FORWARD,         S.DIALING,     _forward),
    _r(S.DIALING,     DialRefused,        _its_leg, M.GIVE_UP,         S.ORDERED,     _give_up),
    _r(STILL_DIALING, SpecialistHungUp,   _more,    M.FORWARD,         S.DIALING,     _forward),
    _r(STILL_DIALING, SpecialistHungUp,   _its_leg, M.GIVE_UP,         S.ORDERED,     _give_up),
    _r(S.RINGING,     SpecialistAnswered, _its_leg, M.ANSWERED,        S.CONNECTED,   _connect),
    _r(STILL_DIALING, Cancel,             _any,     M.CANCEL,          S.CANCELLED,   _cancel),
    _r(STILL_DIALING, CallerGone,         _any,     M.CALLER_GONE,     S.ABANDONED,   _abandon),
    _r(STILL_DIALING, Interrupted,        _any,     M.CANCEL,          S.CANCELLED,   _drop_dial),
    _r(STILL_DIALING, SeatGone,           _any,     M.SEAT_GONE,       None,          _forget_seat),
    _r(STILL_DIALING, RingbackStarted,    _any,     M.NOTE,            None,          _tone_on),
    _r(S.CONNECTED,   SeatGone,           _any,     M.SEAT_GONE,       S.HANDED_OVER, _forget_seat),
    _r(LIVE,          SpecialistHungUp,   _its_leg, M.SPECIALIST_GONE, S.ENDED,       _spec_left),
    _r(LIVE,          CallerGone,         _any,     M.CALLER_GONE,     S.ENDED,       _caller_left),
    _r(SETTLED,       SeatGone,           _any,     M.NOTE,            None,          _forget_seat),
    _r(ANY,           MessageDone,        _any,     M.NOTE,            None,          _msg_done),
)  # fmt: skip
"""Every step a transfer can take; an event no row takes changes nothing."""


def handle(
    status: TransferStatus, event: TransferEvent, ctx: TransferContext
) -> list[TransferAction]:
    """What the transfer does about ``event``: the first row of :data:`ROWS` for its state and
    event whose guard holds moves it, notes the move, does the row's effect and saves the
    step. An event no row takes changes nothing."""
    row = next(
        (
            r
            for r in ROWS
            if status.state in r.source and isinstance(event, r.on) and r.when(status, event)
        ),
        None,
    )
    if row is None:
        return []
    before = status.state
    status.state = row.to or before
    if row.move is not M.NOTE:
        status.history.append(f"{before.value} --{row.move.value}--> {status.state.value}")
    actions: list[TransferAction] = []
    for action in row.effect(status, event, ctx):
        if isinstance(action, Then):
            actions += handle(status, action.event, ctx)
        else:
            actions.append(action)
    return [*actions, SaveTransfer(_copy(status))]


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
    requested = TransferRequested(
        request, call, ctx.linkedid, seat, route.matter, route.department, in_hours, via, ctx.at
    )
    actions: list[TransferAction] = [
        Record(requested),
        _publish(status, "transfer-requested", via=via, in_hours=in_hours),
    ]
    return status, actions + handle(status, Requested(), ctx)


def interrupted(status: TransferStatus, ctx: TransferContext) -> list[TransferAction]:
    """A process taking over found this transfer still dialling: the dial is dropped (the
    process that made it cannot be told its outcome) and recorded as failed; the call goes
    on."""
    return handle(status, Interrupted(), ctx)


def _copy(status: TransferStatus) -> TransferStatus:
    """A snapshot: the saved step must not change when the status moves on."""
    return TransferStatus.from_dict({**asdict(status), "state": status.state.value})
