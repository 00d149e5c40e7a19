"""The queue's decisions for one caller: an event in, the actions out.

This is where a newcomer finds what happens to a caller: out of hours the closed message; a
place in the line with music and, every ``announce_every`` seconds, how many are ahead; a
seat offered (by the dispatcher, ``queues.dispatch``) is rung; a seat that rings out is
paused and one that turns the call down or cannot be reached is skipped; when every seat
has had its turn, all are tried again after a short pause; ``max_wait`` ends the wait with a
message and a call-back request; once a seat answers, caller and seat talk in one bridge;
the seat may move the caller on to another queue (``#``) or bring a specialist in (the
transfer's own decisions are ``transfer.machine``'s); when the seat or the specialist hangs
up first, the caller is asked to rate the call; whoever ends it, every leg is hung up, the
seat gets its wrap-up and everything is recorded.

Nothing here talks to Asterisk, Redis or SQL, reads the clock or waits: :func:`decide`
takes the caller's situation (:class:`Caller`, changed in place), one event and the moment
and settings it happens with (:class:`Context`), and returns what the edge
(``ari_app.call``) must do, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cdr.records import (
    CallAnswered,
    CallbackRequested,
    CallEnded,
    CallEntered,
    CallMoved,
    CallRated,
    SeatAttemptEnded,
    SeatRung,
)
from core.actions import (
    Answer,
    Bridge,
    CancelTimer,
    DestroyBridge,
    Dial,
    End,
    HangUp,
    LegKind,
    Play,
    Publish,
    Purpose,
    Record,
    SetVariable,
    StartMusic,
    StopMusic,
    StopPlaying,
    Timer,
    ToAsteriskQueue,
    WakeAt,
)
from core.clock import moment
from core.outcomes import CallOutcome, Rating, SeatOutcome
from redlist.tiers import RedListTier
from transfer import machine
from transfer.keys import CancelTransfer, Command, LeaveCall, MoveCaller, SeatKeypad, StartTransfer

FIRST_ANNOUNCEMENT = 3.0
"""Seconds on hold before a waiting caller first hears how many are ahead of them."""
NEW_ROUND_PAUSE = 0.5
"""Seconds before every seat is tried again once each has been rung for a caller."""
UNREACHABLE_REST = 30.0
"""Seconds a seat whose phone could not be rung is offered no call."""
PROMPT_LIMIT = 30.0
"""Seconds a prompt may take before the call stops waiting for its end."""
CAUSE_NO_ANSWER = 19
CAUSE_MEDIA_TIMEOUT = 44
"""The cause Asterisk hangs a channel up with when its audio stops (``rtp_timeout``)."""
DECLINED_CAUSES = frozenset({17, 21})
"""Q.850 user busy and call rejected: the agent turned the call down."""
SURVEYED = frozenset(
    {CallOutcome.SEAT_HANGUP, CallOutcome.SEAT_LOST, CallOutcome.SPECIALIST_HANGUP}
)
"""How a call ended when the caller is asked to rate it: whoever served them hung up."""
RATING_KEYS = {"1": Rating.SATISFIED, "2": Rating.BASICALLY_SATISFIED, "3": Rating.DISSATISFIED}
NO_ANSWER_PAUSE = "no-answer"
"""The pause reason of a seat that let a call ring out."""


class Phase(StrEnum):
    ARRIVING = "arriving"
    WAITING = "waiting"
    """In the line, on hold, no seat ringing."""
    RINGING = "ringing"
    """A seat offered to the caller is being rung."""
    TALKING = "talking"
    SENDING_OFF = "sending-off"
    """The last message plays (closed, maximum wait)."""
    SURVEY = "survey"
    ENDED = "ended"


# --- the settings a decision reads -----------------------------------------------------------


@dataclass(frozen=True)
class QueueRules:
    """A queue's settings as the policy reads them (from the site file)."""

    name: str
    seats: frozenset[str]
    ring_timeout: int = 15
    wrap_up: int = 10
    max_wait: int = 600
    announce_every: int = 30
    move_to: str | None = None


@dataclass(frozen=True)
class Context:
    """The moment an event happens and what the site says, as the edge hands them in."""

    now: float
    queues: Mapping[str, QueueRules]
    is_open: Callable[[str], bool]
    """Whether a queue takes calls now (its hours, holidays)."""
    new_leg: Callable[[LegKind, str], str]
    """A fresh channel id for a leg (``seat`` or ``spec``) dialled for a caller."""
    new_bridge: Callable[[], str]
    survey: bool = True
    survey_wait: float = 8.0
    routes: Callable[[str], machine.Route | None] = lambda matter: None
    """The transfer plan: where a matter goes."""
    transfer: Callable[[Caller], machine.TransferContext] | None = None
    """The transfer's context for a call."""
    new_request: Callable[[], str] = lambda: ""
    """A fresh key for a transfer request."""
    store_ok: bool = True
    """Whether Redis (the lines, the seats) answers: without it no seat can be offered."""

    def rules(self, queue: str) -> QueueRules:
        return self.queues[queue]


# --- the caller -------------------------------------------------------------------------------


@dataclass
class SeatLeg:
    seat_id: str
    channel_id: str
    answered: bool = False


@dataclass
class Caller:
    """One caller's situation. The policy changes it as events come."""

    channel: str
    queue: str
    arrived: float
    """When the caller first arrived: their place in every line they join."""
    number: str = ""
    called: str = ""
    linkedid: str | None = None
    kind: str = "unknown"
    enterprise_id: int | None = None
    name: str = ""
    """The company's name, as the front door found it."""
    tier: RedListTier | None = None
    queue_prio: int = 0
    answered_by_front_door: bool = False
    joined: float = 0.0
    """When the caller joined the queue they are in now: the maximum wait counts from it."""
    phase: Phase = Phase.ARRIVING
    seat: SeatLeg | None = None
    tried: set[str] = field(default_factory=set)
    on_hold: bool = False
    in_line: bool = False
    announcing: bool = False
    due: set[Timer] = field(default_factory=set)
    """Timers that came while a seat rang: dealt with when the caller waits again."""
    bridge: str | None = None
    transfer: machine.TransferStatus | None = None
    outcome: CallOutcome = CallOutcome.FAILED
    survey_asks: int = 0
    keypad: SeatKeypad = field(default_factory=SeatKeypad)

    def waited(self, now: float) -> float:
        return round(now - self.joined, 3)


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrived:
    """The caller entered the application (the call's first event)."""


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
    """A seat's command through the API or the console."""

    command: Command
    via: str


@dataclass(frozen=True)
class CallBroken:
    """Something the call needs failed (a bridge could not be made, a store is away): the
    call ends as well as it can, recorded as failed."""

    reason: str


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

    event: machine.TransferEvent


CallEvent = (
    Arrived
    | Resumed
    | SeatOffered
    | SeatAnswered
    | SeatNotAnswered
    | SeatHungUp
    | CallerHungUp
    | TimerDue
    | PromptStarted
    | PromptEnded
    | SeatKeyed
    | CallerKeyed
    | SeatCommand
    | CallBroken
    | StoreLost
    | PlaceLost
    | TransferStep
)


# --- actions of the queue's own (carried out against Redis by the edge) ------------------------


@dataclass(frozen=True)
class JoinLine:
    """Take (or keep) a place in the queue's line and announce it on the bus."""

    queue: str
    arrived: float
    tier: RedListTier | None


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
    """Tell the caller on hold how many callers are ahead (music after it)."""

    queue: str


@dataclass(frozen=True)
class MarkSurveying:
    """The caller is (or is no longer) being asked to rate the call: a process taking over
    must not queue them again."""

    on: bool


QueueAction = (
    JoinLine | AnsweredLine | LeaveLine | NewRound | ReleaseSeat | AnnouncePosition | MarkSurveying
)
CallAction = machine.TransferAction | QueueAction
"""Everything a decision about a call may ask the edge to do."""


# --- the decisions ----------------------------------------------------------------------------


def decide(caller: Caller, event: CallEvent, ctx: Context) -> list[CallAction]:
    """What to do about ``event`` for ``caller``; the caller's situation moves on."""
    if caller.phase is Phase.ENDED:
        return _stray(caller, event)
    match event:
        case Arrived():
            return _arrive(caller, ctx)
        case Resumed():
            return _resume(caller, ctx)
        case CallerHungUp():
            return _caller_hung_up(caller, ctx)
        case CallBroken():
            caller.outcome = CallOutcome.FAILED
            return _finish(caller, ctx)
        case StoreLost():
            return _store_lost(caller, ctx)
        case PlaceLost() if caller.phase is Phase.WAITING and caller.in_line:
            return [JoinLine(caller.queue, caller.arrived, caller.tier)]
        case SeatOffered(seat):
            return _offered(caller, seat, ctx)
        case SeatAnswered(leg) if _is_ringing(caller, leg):
            return _seat_answered(caller, ctx)
        case SeatNotAnswered(leg, cause) if _is_ringing(caller, leg):
            return _not_answered(caller, cause, ctx)
        case SeatHungUp(leg, cause) if caller.seat is not None and caller.seat.channel_id == leg:
            return _seat_hung_up(caller, cause, ctx)
        case TimerDue(timer):
            return _timer(caller, timer, ctx)
        case PromptStarted(Purpose.ANNOUNCEMENT, prompt):
            return [_publish(caller, "caller-announced", prompt=prompt)]
        case PromptEnded(purpose):
            return _prompt_ended(caller, purpose, ctx)
        case SeatKeyed(digit) if caller.phase is Phase.TALKING:
            command = caller.keypad.press(digit, ctx.now)
            return _obey(caller, command, "keypad", ctx) if command is not None else []
        case SeatCommand(command, via) if caller.phase is Phase.TALKING:
            return _obey(caller, command, via, ctx)
        case CallerKeyed(digit) if caller.phase is Phase.SURVEY:
            return _rating_key(caller, digit, ctx)
        case TransferStep(step) if caller.transfer is not None:
            return _transfer_step(caller, step, ctx)
    return []


def _stray(caller: Caller, event: CallEvent) -> list[CallAction]:
    """Events after the end: only a seat offered too late needs giving back."""
    if isinstance(event, SeatOffered):
        return [ReleaseSeat(event.seat)]
    return []


# --- arriving and waiting ----------------------------------------------------------------------


def _arrive(caller: Caller, ctx: Context) -> list[CallAction]:
    at = moment(ctx.now)
    actions: list[CallAction] = [
        Record(
            CallEntered(
                caller.channel,
                caller.linkedid,
                caller.number,
                caller.called,
                at,
                caller.kind,
                caller.enterprise_id,
                caller.tier.value if caller.tier else None,
                caller.queue_prio,
                caller.queue,
            )
        )
    ]
    if not caller.answered_by_front_door:
        actions.append(Answer(caller.channel))
    caller.joined = caller.arrived
    if not ctx.store_ok and ctx.is_open(caller.queue):
        return actions + _to_asterisk_queue(caller)
    return actions + _enter_queue(caller, ctx)


def _store_lost(caller: Caller, ctx: Context) -> list[CallAction]:
    """Without Redis no seat can be offered: a caller still waiting goes on in Asterisk's own
    queue, with its priority and its arrival (the app takes it back when Redis returns).
    A seat already ringing may still answer, and a call in progress needs no seat: they go
    on, and what they could not tell Redis is put right when it returns (the sweep)."""
    if caller.phase is not Phase.WAITING:
        return []
    actions: list[CallAction] = [CancelTimer(timer) for timer in Timer]
    if caller.announcing:
        caller.announcing = False
        actions.append(StopPlaying(Purpose.ANNOUNCEMENT))
    if caller.on_hold:
        caller.on_hold = False
        actions.append(StopMusic(caller.channel))
    caller.in_line = False  # its place is freed once Redis answers again
    return actions + _to_asterisk_queue(caller)


def _to_asterisk_queue(caller: Caller) -> list[CallAction]:
    """Send the caller to the dialplan's fallback. Its call record stays open: the app
    goes on with it if it takes the caller back, or closes it when the caller has gone."""
    caller.phase = Phase.ENDED
    return [
        SetVariable(caller.channel, "HOTLINE_QUEUE", caller.queue),
        SetVariable(caller.channel, "HOTLINE_ARRIVED", f"{caller.arrived:.3f}"),
        ToAsteriskQueue(caller.channel),
        End(),
    ]


def _enter_queue(caller: Caller, ctx: Context) -> list[CallAction]:
    """Into the caller's queue: closed, or a place in the line with music on hold."""
    if not ctx.is_open(caller.queue):
        return _send_off(caller, CallOutcome.CLOSED, ctx)
    rules = ctx.rules(caller.queue)
    caller.phase, caller.on_hold, caller.in_line = Phase.WAITING, True, True
    caller.outcome = CallOutcome.ABANDONED
    caller.tried.clear()
    actions: list[CallAction] = [JoinLine(caller.queue, caller.arrived, caller.tier)]
    if not caller.announcing:
        actions.append(StartMusic(caller.channel))
    actions.append(SetVariable(caller.channel, "HOTLINE_ARRIVED", f"{caller.arrived:.3f}"))
    if rules.announce_every:
        actions.append(WakeAt(Timer.ANNOUNCE, caller.joined + FIRST_ANNOUNCEMENT))
    actions.append(WakeAt(Timer.MAX_WAIT, caller.joined + rules.max_wait))
    return actions


def _offered(caller: Caller, seat: str, ctx: Context) -> list[CallAction]:
    if seat in caller.tried or (caller.seat is not None and caller.seat.seat_id == seat):
        return []  # told twice (a reservation found again): it is in hand already
    if caller.phase is not Phase.WAITING:
        return [ReleaseSeat(seat)]  # offered as the caller moved on: give it back
    rules = ctx.rules(caller.queue)
    leg = ctx.new_leg(LegKind.SEAT, caller.channel)
    caller.phase, caller.seat = Phase.RINGING, SeatLeg(seat, leg)
    caller.tried.add(seat)
    return [
        Record(SeatRung(caller.channel, caller.queue, seat, leg, moment(ctx.now))),
        _publish(caller, "seat-ringing", seat=seat),
        Dial(leg, f"PJSIP/{seat}", caller.number, rules.ring_timeout, LegKind.SEAT),
    ]


def _timer(caller: Caller, timer: Timer, ctx: Context) -> list[CallAction]:
    if caller.phase is Phase.RINGING and timer in (Timer.ANNOUNCE, Timer.MAX_WAIT):
        caller.due.add(timer)  # the seat's ring first; then this
        return []
    if caller.phase is Phase.WAITING:
        if timer is Timer.MAX_WAIT:
            return _send_off(caller, CallOutcome.MAX_WAIT, ctx)
        if timer is Timer.ANNOUNCE:
            return _announce_position(caller, ctx)
        if timer is Timer.NEW_ROUND:
            caller.tried.clear()
            return [NewRound(caller.queue)]
    if timer is Timer.PROMPT_LIMIT and caller.phase is Phase.SENDING_OFF:
        return _finish(caller, ctx)
    if caller.phase is Phase.SURVEY and timer in (Timer.SURVEY_KEY, Timer.PROMPT_LIMIT):
        return _ask_again_or_end(caller, ctx)
    return []


def _announce_position(caller: Caller, ctx: Context) -> list[CallAction]:
    rules = ctx.rules(caller.queue)
    if caller.announcing:  # the last one is still playing: look again shortly
        return [WakeAt(Timer.ANNOUNCE, ctx.now + 1.0)]
    caller.announcing = True
    return [
        StopMusic(caller.channel),
        AnnouncePosition(caller.queue),
        WakeAt(Timer.ANNOUNCE, ctx.now + rules.announce_every),
    ]


def _announce(caller: Caller, prompt: str) -> list[CallAction]:
    """A message to a caller on hold, in place of the music."""
    actions: list[CallAction] = []
    if caller.announcing:
        actions.append(StopPlaying(Purpose.ANNOUNCEMENT))
    caller.announcing = True
    return [
        *actions,
        StopMusic(caller.channel),
        Play(prompt, Purpose.ANNOUNCEMENT, channel=caller.channel),
    ]


def _prompt_ended(caller: Caller, purpose: Purpose, ctx: Context) -> list[CallAction]:
    if purpose is Purpose.ANNOUNCEMENT:
        caller.announcing = False
        return [StartMusic(caller.channel)] if caller.on_hold else []
    if purpose is Purpose.SEND_OFF and caller.phase is Phase.SENDING_OFF:
        return _finish(caller, ctx)
    if purpose is Purpose.SURVEY and caller.phase is Phase.SURVEY:
        return [WakeAt(Timer.SURVEY_KEY, ctx.now + ctx.survey_wait)]
    if purpose is Purpose.THANKS and caller.phase is Phase.SURVEY:
        return _finish(caller, ctx)
    if purpose is Purpose.TRANSFER_MESSAGE and caller.transfer is not None:
        return _transfer_step(caller, machine.MessageDone(), ctx)
    return []


def _send_off(caller: Caller, reason: CallOutcome, ctx: Context) -> list[CallAction]:
    """End the call with a message and a call-back request: the queue is ``closed``, or the
    caller reached the queue's ``max-wait``. The prompt has the reason's name."""
    caller.outcome, caller.phase = reason, Phase.SENDING_OFF
    actions: list[CallAction] = [CancelTimer(Timer.ANNOUNCE), CancelTimer(Timer.MAX_WAIT)]
    if caller.in_line:
        caller.in_line = False
        actions.append(LeaveLine(caller.queue))
    if caller.on_hold:
        caller.on_hold = False
        actions.append(
            _publish(caller, "caller-left", reason=reason.value, waited=caller.waited(ctx.now))
        )
    if caller.announcing:
        caller.announcing = False
        actions.append(StopPlaying(Purpose.ANNOUNCEMENT))
    return [
        *actions,
        Record(CallbackRequested(caller.channel, caller.queue, reason.value, moment(ctx.now))),
        StopMusic(caller.channel),
        Play(reason.value, Purpose.SEND_OFF, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


# --- ringing a seat ---------------------------------------------------------------------------


def _is_ringing(caller: Caller, leg: str) -> bool:
    return (
        caller.phase is Phase.RINGING
        and caller.seat is not None
        and caller.seat.channel_id == leg
        and not caller.seat.answered
    )


def _seat_answered(caller: Caller, ctx: Context) -> list[CallAction]:
    seat = caller.seat
    assert seat is not None
    seat.answered = True
    at = moment(ctx.now)
    caller.phase, caller.on_hold, caller.in_line = Phase.TALKING, False, False
    caller.due.clear()
    caller.bridge = ctx.new_bridge()
    actions: list[CallAction] = [
        AnsweredLine(caller.queue),
        CancelTimer(Timer.ANNOUNCE),
        CancelTimer(Timer.MAX_WAIT),
        CancelTimer(Timer.NEW_ROUND),
    ]
    if caller.announcing:
        caller.announcing = False
        actions.append(StopPlaying(Purpose.ANNOUNCEMENT))
    return [
        *actions,
        Bridge(caller.bridge, caller.channel, seat.channel_id),
        Record(SeatAttemptEnded(seat.channel_id, SeatOutcome.ANSWERED, at)),
        Record(CallAnswered(caller.channel, seat.seat_id, seat.channel_id, at)),
        _publish(caller, "caller-answered", seat=seat.seat_id, waited=caller.waited(ctx.now)),
    ]


def _not_answered(caller: Caller, cause: int | None, ctx: Context) -> list[CallAction]:
    """The seat being rung did not answer. Rang out: its agent is away, the seat is paused.
    Turned down: the next seat is tried. Anything else (no phone answering on the network):
    the seat is left out for a while. The caller keeps its place."""
    seat = caller.seat
    assert seat is not None
    if cause == CAUSE_NO_ANSWER:
        outcome, release = (
            SeatOutcome.NO_ANSWER,
            ReleaseSeat(seat.seat_id, pause=NO_ANSWER_PAUSE, ringing_in=caller.queue),
        )
    elif cause in DECLINED_CAUSES:
        outcome, release = SeatOutcome.DECLINED, ReleaseSeat(seat.seat_id, ringing_in=caller.queue)
    else:
        outcome, release = (
            SeatOutcome.UNREACHABLE,
            ReleaseSeat(seat.seat_id, rest_for=UNREACHABLE_REST, ringing_in=caller.queue),
        )
    caller.seat, caller.phase = None, Phase.WAITING
    actions: list[CallAction] = [
        Record(SeatAttemptEnded(seat.channel_id, outcome, moment(ctx.now), cause)),
        release,
    ]
    if Timer.MAX_WAIT in caller.due or ctx.now - caller.joined >= ctx.rules(caller.queue).max_wait:
        caller.due.clear()
        return actions + _send_off(caller, CallOutcome.MAX_WAIT, ctx)
    if caller.tried >= ctx.rules(caller.queue).seats:
        actions.append(WakeAt(Timer.NEW_ROUND, ctx.now + NEW_ROUND_PAUSE))
    if Timer.ANNOUNCE in caller.due:
        caller.due.discard(Timer.ANNOUNCE)
        actions += _announce_position(caller, ctx)
    return actions


# --- talking ----------------------------------------------------------------------------------


def _resume(caller: Caller, ctx: Context) -> list[CallAction]:
    """A connected call taken over: it goes on from the talk (its seat, its specialist). A
    transfer that was still dialling is dropped: the process that dialled cannot be told
    how the dial ended."""
    caller.phase, caller.on_hold, caller.in_line = Phase.TALKING, False, False
    transfer = caller.transfer
    if transfer is None or transfer.state not in machine.STILL_DIALING or ctx.transfer is None:
        return []
    caller.transfer = None
    return list(machine.interrupted(transfer, ctx.transfer(caller)))


def _seat_hung_up(caller: Caller, cause: int | None, ctx: Context) -> list[CallAction]:
    if caller.phase is not Phase.TALKING:
        return []
    transfer = caller.transfer
    if transfer is not None and transfer.active:
        return _seat_leaves(caller, ctx, hang_up=False)  # the transfer goes on without it
    vanished = cause == CAUSE_MEDIA_TIMEOUT  # its phone went silent without a BYE
    caller.outcome = CallOutcome.SEAT_LOST if vanished else CallOutcome.SEAT_HANGUP
    return _after_talk(caller, ctx)


def _seat_leaves(caller: Caller, ctx: Context, hang_up: bool) -> list[CallAction]:
    """The seat leaves the call (to its wrap-up); the transfer goes on without it."""
    seat = caller.seat
    if seat is None:
        return []
    caller.seat = None
    actions: list[CallAction] = [HangUp(seat.channel_id)] if hang_up else []
    actions += [
        _release_after_talk(seat, caller, ctx),
        _publish(caller, "seat-left", seat=seat.seat_id),
    ]
    if caller.transfer is not None:
        actions += _transfer_step(caller, machine.SeatGone(), ctx)
    return actions


def _release_after_talk(seat: SeatLeg, caller: Caller, ctx: Context) -> ReleaseSeat:
    """A seat that took a call gets the queue's wrap-up before the next one."""
    return ReleaseSeat(
        seat.seat_id, rest_for=ctx.rules(caller.queue).wrap_up if seat.answered else 0
    )


def _obey(caller: Caller, command: Command, via: str, ctx: Context) -> list[CallAction]:
    """Carry out a seat's command."""
    transfer, seat = caller.transfer, caller.seat
    busy = transfer is not None and transfer.active
    match command:
        case MoveCaller():
            if not busy and ctx.rules(caller.queue).move_to is not None and seat is not None:
                return _move_on(caller, ctx)
            return []
        case StartTransfer(matter):
            if busy:
                return [_publish(caller, "transfer-refused", reason="a transfer is already on")]
            route = ctx.routes(matter)
            if route is None or caller.bridge is None or ctx.transfer is None:
                return [_publish(caller, "transfer-refused", reason=f"no matter {matter}")]
            status, actions = machine.begin(
                route,
                ctx.new_request(),
                caller.channel,
                seat.seat_id if seat else None,
                via,
                ctx.transfer(caller),
            )
            caller.transfer = status
            return list(actions) + _after_transfer(caller, ctx)
        case CancelTransfer() if transfer is not None:
            return _transfer_step(caller, machine.Cancel(seat.seat_id if seat else None), ctx)
        case LeaveCall() if transfer is not None and transfer.state is machine.S.CONNECTED:
            return _seat_leaves(caller, ctx, hang_up=True)
    return []


def _transfer_step(caller: Caller, event: machine.TransferEvent, ctx: Context) -> list[CallAction]:
    transfer = caller.transfer
    if transfer is None or caller.bridge is None or ctx.transfer is None:
        return []
    actions: list[CallAction] = list(machine.handle(transfer, event, ctx.transfer(caller)))
    return actions + _after_transfer(caller, ctx)


def _after_transfer(caller: Caller, ctx: Context) -> list[CallAction]:
    """After a transfer moved on: forget a finished one; end the call if nobody but the
    caller is left."""
    transfer = caller.transfer
    if transfer is None or transfer.active or transfer.message_pending:
        return []
    caller.transfer = None
    if caller.seat is not None or caller.phase is not Phase.TALKING:
        return []
    state = transfer.state
    if state is machine.S.ENDED:
        caller.outcome = CallOutcome.SPECIALIST_HANGUP
    elif state is machine.S.ORDERED:
        caller.outcome = CallOutcome.TRANSFER_FAILED
    else:
        caller.outcome = CallOutcome.SEAT_HANGUP
    return _after_talk(caller, ctx)


def _move_on(caller: Caller, ctx: Context) -> list[CallAction]:
    """The seat moves the caller to its queue's ``move_to`` queue: the seat is let go (to its
    wrap-up), the caller hears that they are being moved and waits there, with their place
    by first arrival."""
    seat, target = caller.seat, ctx.rules(caller.queue).move_to
    assert seat is not None and target is not None
    actions: list[CallAction] = [
        _publish(caller, "caller-left", reason="moved", to=target, seat=seat.seat_id)
    ]
    if caller.bridge is not None:
        actions.append(DestroyBridge(caller.bridge))
        caller.bridge = None
    actions += [HangUp(seat.channel_id), _release_after_talk(seat, caller, ctx)]
    caller.seat = None
    actions.append(Record(CallMoved(caller.channel, target, moment(ctx.now))))
    caller.queue, caller.joined = target, ctx.now
    actions.append(SetVariable(caller.channel, "HOTLINE_QUEUE", target))
    caller.on_hold = True
    actions += _announce(caller, "moving")
    return actions + _enter_queue(caller, ctx)


# --- the end of the talk: the survey ---------------------------------------------------------


def _after_talk(caller: Caller, ctx: Context) -> list[CallAction]:
    """The seat or the specialist hung up and the caller is still on the line: ask them to
    rate the service on the keypad (asked once more if no key comes). Otherwise: the end."""
    if not ctx.survey or caller.outcome not in SURVEYED:
        return _finish(caller, ctx)
    actions: list[CallAction] = []
    if caller.seat is not None:  # the seat is off to its wrap-up, not held by the survey
        actions.append(_release_after_talk(caller.seat, caller, ctx))
        caller.seat = None
    if caller.bridge is not None:
        actions.append(DestroyBridge(caller.bridge))
        caller.bridge = None
    caller.phase, caller.survey_asks = Phase.SURVEY, 1
    return [
        *actions,
        MarkSurveying(True),
        Play("survey", Purpose.SURVEY, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


def _rating_key(caller: Caller, digit: str, ctx: Context) -> list[CallAction]:
    if caller.survey_asks == 0:
        return []  # the thanks are playing
    actions: list[CallAction] = [StopPlaying(Purpose.SURVEY)]
    rating = RATING_KEYS.get(digit)
    if rating is None:  # not an answer: it counts as an ask
        return actions + _ask_again_or_end(caller, ctx)
    caller.survey_asks = 0
    return [
        *actions,
        CancelTimer(Timer.SURVEY_KEY),
        Record(CallRated(caller.channel, rating)),
        _publish(caller, "rated", rating=rating.value),
        MarkSurveying(False),
        Play("survey-thanks", Purpose.THANKS, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


def _ask_again_or_end(caller: Caller, ctx: Context) -> list[CallAction]:
    if caller.survey_asks == 0:  # the thanks took too long: the end
        return _finish(caller, ctx)
    if caller.survey_asks < 2:
        caller.survey_asks += 1
        return [
            CancelTimer(Timer.SURVEY_KEY),
            Play("survey", Purpose.SURVEY, channel=caller.channel),
            WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
        ]
    caller.survey_asks = 0
    return [
        Record(CallRated(caller.channel, Rating.NO_ANSWER)),
        _publish(caller, "rated", rating=Rating.NO_ANSWER.value),
        MarkSurveying(False),
        *_finish(caller, ctx),
    ]


# --- the end ----------------------------------------------------------------------------------


def _caller_hung_up(caller: Caller, ctx: Context) -> list[CallAction]:
    actions: list[CallAction] = []
    if caller.phase is Phase.RINGING and caller.seat is not None:
        seat = caller.seat
        actions.append(
            Record(SeatAttemptEnded(seat.channel_id, SeatOutcome.CALLER_LEFT, moment(ctx.now)))
        )
    if caller.phase in (Phase.WAITING, Phase.RINGING, Phase.ARRIVING):
        caller.outcome = CallOutcome.ABANDONED
    elif caller.phase is Phase.TALKING:
        caller.outcome = CallOutcome.CALLER_HANGUP
    if caller.phase is Phase.SURVEY and caller.survey_asks:
        actions.append(MarkSurveying(False))
    if caller.transfer is not None and caller.bridge is not None and ctx.transfer is not None:
        actions += machine.handle(caller.transfer, machine.CallerGone(), ctx.transfer(caller))
    return actions + _finish(caller, ctx)


def _finish(caller: Caller, ctx: Context) -> list[CallAction]:
    """Hang up every leg of the call that is still up, destroy its bridge, give the seat
    back, leave the line; record and announce how the call ended."""
    actions: list[CallAction] = [CancelTimer(timer) for timer in Timer]
    actions.append(HangUp(caller.channel))
    seat = caller.seat
    if seat is not None:
        actions += [HangUp(seat.channel_id), _release_after_talk(seat, caller, ctx)]
        caller.seat = None
    transfer = caller.transfer
    if transfer is not None and transfer.specialist_channel:
        actions.append(HangUp(transfer.specialist_channel))
    if caller.bridge is not None:
        actions.append(DestroyBridge(caller.bridge))
        caller.bridge = None
    if caller.in_line:
        caller.in_line = False
        actions.append(LeaveLine(caller.queue))
    if caller.on_hold:
        caller.on_hold = False
        actions.append(
            _publish(
                caller, "caller-left", reason=caller.outcome.value, waited=caller.waited(ctx.now)
            )
        )
    caller.phase = Phase.ENDED
    return [
        *actions,
        Record(CallEnded(caller.channel, caller.outcome, moment(ctx.now))),
        _publish(caller, "call-ended", outcome=caller.outcome.value),
        End(),
    ]


def _publish(caller: Caller, kind: str, **details: object) -> Publish:
    return Publish(kind, {"queue": caller.queue, "caller": caller.channel, **details})
