"""Arriving, waiting and ringing: the steps of a call from its arrival to a seat's answer.

Out of hours the closed message; a place in the line with music and, every
``announce_every`` seconds, how many are ahead; a seat offered (by the dispatcher,
``queues.dispatch``) is rung; a seat that rings out is paused and one that turns the call
down or cannot be reached is skipped; when every seat has had its turn, all are tried again
after a short pause; ``max_wait`` ends the wait with a message and a call-back request.
Which step runs in which phase is :data:`call.phases.ROWS`'s business.
"""

from __future__ import annotations

from call.events import CallEvent, SeatNotAnswered, SeatOffered, Then, TimerDue
from call.state import Caller, Context, SeatLeg, Steps, publish
from callback.records import CallbackRequested
from callback.steps import BookCallback, CancelCallback, KeepCallbackCard
from cdr.records import CallAnswered, CallEntered, SeatAttemptEnded, SeatRung
from core.actions import (
    Answer,
    Bridge,
    CancelTimer,
    Dial,
    End,
    LegKind,
    Play,
    Purpose,
    Record,
    SetVariable,
    StartMusic,
    StartRecording,
    StopMusic,
    StopPlaying,
    Timer,
    ToAsteriskQueue,
    WakeAt,
)
from core.clock import moment
from core.outcomes import CallOutcome, SeatOutcome
from queues.steps import AnnouncePosition, AnsweredLine, JoinLine, LeaveLine, NewRound, ReleaseSeat

FIRST_ANNOUNCEMENT = 3.0
"""Seconds on hold before a waiting caller first hears how many are ahead of them."""
NEW_ROUND_PAUSE = 0.5
"""Seconds before every seat is tried again once each has been rung for a caller."""
UNREACHABLE_REST = 30.0
"""Seconds a seat whose phone could not be rung is offered no call."""
PROMPT_LIMIT = 30.0
"""Seconds a prompt may take before the call stops waiting for its end."""
CAUSE_NO_ANSWER = 19
DECLINED_CAUSES = frozenset({17, 21})
"""Q.850 user busy and call rejected: the agent turned the call down."""
RECORDING_NOTICE = "recording-notice"
"""The prompt that tells a caller the call may be recorded."""
NO_ANSWER_PAUSE = "no-answer"
"""The pause reason of a seat that let a call ring out."""


# --- arriving --------------------------------------------------------------------------------


def arrive(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """A new caller: recorded, answered, into its queue's line with music; a call-back
    pending for its number is cancelled (the company is being served now)."""
    return _welcome(caller, ctx) + _cancel_pending(caller, ctx) + enter_line(caller, ctx)


def _cancel_pending(caller: Caller, ctx: Context) -> Steps:
    if not may_call_back(caller, ctx):
        return []
    assert caller.callback_number is not None
    return [CancelCallback(caller.callback_number)]


def arrive_with_notice(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """A new caller on a recorded line: recorded, answered, told that the call may be
    recorded; they join the line when the notice ends (:func:`noticed`)."""
    actions = _welcome(caller, ctx)
    if caller.dialplan_music:
        caller.dialplan_music = False
        actions.append(StopMusic(caller.channel))
    return [
        *actions,
        Play(RECORDING_NOTICE, Purpose.NOTICE, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


def noticed(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The notice is over (or took too long): into the line, at the place of the caller's
    arrival, as :func:`arrive` does."""
    return [
        CancelTimer(Timer.PROMPT_LIMIT),
        *_cancel_pending(caller, ctx),
        *enter_line(caller, ctx),
    ]


def arrive_closed(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """A new caller out of the queue's hours: the closed message and a call-back request."""
    return _welcome(caller, ctx) + send_off(caller, CallOutcome.CLOSED, ctx)


def arrive_unserved(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """A new caller while Redis is away: straight on to Asterisk's own queue."""
    return _welcome(caller, ctx) + _to_asterisk_queue(caller, "store-lost")


def arrive_while_behind(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """A new caller while the app is behind (``ari_app.backlog``): on to Asterisk's queue
    with its priority and arrival, until the app keeps up and takes it back."""
    return _welcome(caller, ctx) + _to_asterisk_queue(caller, "app-behind")


def _welcome(caller: Caller, ctx: Context) -> Steps:
    entered = CallEntered(
        caller.channel,
        caller.linkedid,
        caller.number,
        caller.called,
        moment(ctx.now),
        caller.kind,
        caller.enterprise_id,
        caller.tier.value if caller.tier else None,
        caller.queue_prio,
        caller.queue,
        ctx.node,
    )
    caller.joined = caller.arrived
    actions: Steps = [Record(entered)]
    if not caller.answered_by_front_door:
        actions.append(Answer(caller.channel))
    return actions


def enter_line(caller: Caller, ctx: Context) -> Steps:
    """Into the caller's queue (open): a place in the line, music on hold, the timers."""
    rules = ctx.rules(caller.queue)
    caller.on_hold, caller.in_line = True, True
    caller.outcome = CallOutcome.ABANDONED
    caller.tried.clear()
    actions: Steps = [JoinLine(caller.queue, caller.arrived, caller.tier)]
    number = caller.callback_number
    if ctx.node is not None and may_call_back(caller, ctx) and number is not None:
        actions.append(
            KeepCallbackCard(caller.channel, caller.queue, number, caller.arrived, caller.tier)
        )
    if caller.dialplan_music:  # playing since before Stasis (one ARI request less)
        caller.dialplan_music = False
    elif not caller.announcing:
        actions.append(StartMusic(caller.channel))
    if not caller.arrival_noted:  # kept on the channel: a restart or a move keeps the place
        caller.arrival_noted = True
        actions.append(SetVariable(caller.channel, "HOTLINE_ARRIVED", f"{caller.arrived:.3f}"))
    if rules.announce_every:
        actions.append(WakeAt(Timer.ANNOUNCE, caller.joined + FIRST_ANNOUNCEMENT))
    actions.append(WakeAt(Timer.MAX_WAIT, caller.joined + rules.max_wait))
    return actions


# --- waiting ---------------------------------------------------------------------------------


def ring_seat(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """A seat offered to the waiting caller is rung."""
    assert isinstance(event, SeatOffered)
    rules = ctx.rules(caller.queue)
    leg = ctx.new_leg(LegKind.SEAT, caller.channel)
    caller.seat = SeatLeg(event.seat, leg)
    caller.tried.add(event.seat)
    return [
        Record(SeatRung(caller.channel, caller.queue, event.seat, leg, moment(ctx.now))),
        publish(caller, "seat-ringing", seat=event.seat),
        Dial(leg, f"PJSIP/{event.seat}", caller.number, rules.ring_timeout, LegKind.SEAT),
    ]


def give_back(_: Caller, event: CallEvent, __: Context) -> Steps:
    """A seat offered as the caller moved on (or after the end) is given back."""
    assert isinstance(event, SeatOffered)
    return [ReleaseSeat(event.seat)]


def waited_too_long(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    return send_off(caller, CallOutcome.MAX_WAIT, ctx)


def announce_position(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """Tell the caller on hold how many are ahead (or look again shortly if the last
    announcement still plays)."""
    rules = ctx.rules(caller.queue)
    if caller.announcing:
        return [WakeAt(Timer.ANNOUNCE, ctx.now + 1.0)]
    caller.announcing = True
    return [
        StopMusic(caller.channel),
        AnnouncePosition(caller.queue, offer_callback=may_call_back(caller, ctx)),
        WakeAt(Timer.ANNOUNCE, ctx.now + rules.announce_every),
    ]


def new_round(caller: Caller, _: CallEvent, __: Context) -> Steps:
    caller.tried.clear()
    return [NewRound(caller.queue)]


def rejoin(caller: Caller, _: CallEvent, __: Context) -> Steps:
    return [JoinLine(caller.queue, caller.arrived, caller.tier)]


def to_asterisk_queue(caller: Caller, _: CallEvent, __: Context) -> Steps:
    """Without Redis no seat can be offered: a caller still waiting goes on in Asterisk's
    own queue, with its priority and its arrival (the app takes it back when Redis returns).
    A seat already ringing may still answer, and a call in progress needs no seat: they go
    on, and what they could not tell Redis is put right when it returns (the sweep)."""
    actions: Steps = [CancelTimer(timer) for timer in Timer]
    if caller.announcing:
        caller.announcing = False
        actions.append(StopPlaying(Purpose.ANNOUNCEMENT))
    if caller.on_hold:
        caller.on_hold = False
        actions.append(StopMusic(caller.channel))
    caller.in_line = False  # its place is freed once Redis answers again
    return actions + _to_asterisk_queue(caller, "store-lost")


def _to_asterisk_queue(caller: Caller, reason: str) -> Steps:
    """Send the caller to the dialplan's fallback. Its call record stays open: the app
    goes on with it if it takes the caller back, or closes it when the caller has gone."""
    return [
        publish(caller, "caller-to-asterisk-queue", reason=reason),
        SetVariable(caller.channel, "HOTLINE_QUEUE", caller.queue),
        SetVariable(caller.channel, "HOTLINE_ARRIVED", f"{caller.arrived:.3f}"),
        ToAsteriskQueue(caller.channel),
        End(),
    ]


def call_me_back(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The caller keyed 1 while waiting: they hear that they will be called back in their
    turn, and the call ends; the call-back keeps their place (``call.calling_back``)."""
    return send_off(caller, CallOutcome.CALLBACK, ctx)


def may_call_back(caller: Caller, ctx: Context) -> bool:
    """Whether the line can promise this caller a call-back: call-backs are on, and the
    caller's number is one the trunk can dial."""
    return ctx.callbacks.enabled and caller.callback_number is not None


def book_callback(
    caller: Caller, reason: CallOutcome, ctx: Context, prefer: str | None = None
) -> Steps:
    """Promise the caller a call-back in their turn (their first arrival, their tier),
    recorded — when the line can call them back; ``prefer``: the seat rung first if free."""
    number = caller.callback_number
    if not may_call_back(caller, ctx) or number is None:
        return []
    tier = caller.tier.value if caller.tier else None
    at = moment(ctx.now)
    return [
        Record(CallbackRequested(caller.channel, caller.queue, reason.value, at, number, tier)),
        BookCallback(
            caller.channel, caller.queue, number, caller.arrived, caller.tier, reason.value, prefer
        ),
        publish(caller, "callback-booked", reason=reason.value),
    ]


SEND_OFF_PROMPTS = {
    # reason: (the call-back promised, no call-back possible)
    CallOutcome.CLOSED: ("closed", "closed-call-again"),
    CallOutcome.MAX_WAIT: ("max-wait", "max-wait-call-again"),
    CallOutcome.CALLBACK: ("callback-noted", "callback-noted"),
}


def send_off(caller: Caller, reason: CallOutcome, ctx: Context) -> Steps:
    """End the call with a message: the queue is ``closed``, the caller reached the queue's
    ``max-wait``, or keyed 1 to be called back. When the line can call the caller back it
    promises to, and books the call-back with the caller's place; otherwise the message asks
    them to call again."""
    caller.outcome = reason
    actions: Steps = [CancelTimer(Timer.ANNOUNCE), CancelTimer(Timer.MAX_WAIT)]
    if caller.in_line:
        caller.in_line = False
        actions.append(LeaveLine(caller.queue))
    if caller.on_hold:
        caller.on_hold = False
        actions.append(
            publish(caller, "caller-left", reason=reason.value, waited=caller.waited(ctx.now))
        )
    if caller.announcing:
        caller.announcing = False
        actions.append(StopPlaying(Purpose.ANNOUNCEMENT))
    promise, call_again = SEND_OFF_PROMPTS[reason]
    actions += book_callback(caller, reason, ctx)
    return [
        *actions,
        StopMusic(caller.channel),
        Play(promise if may_call_back(caller, ctx) else call_again, Purpose.SEND_OFF,
             channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]  # fmt: skip


# --- ringing ---------------------------------------------------------------------------------


def defer(caller: Caller, event: CallEvent, _: Context) -> Steps:
    """A timer that comes while a seat rings waits for the ring's end."""
    assert isinstance(event, TimerDue)
    caller.due.add(event.timer)
    return []


def talk(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The seat answered: caller and seat in one bridge, the wait over."""
    seat = caller.seat
    assert seat is not None
    seat.answered = True
    at = moment(ctx.now)
    caller.on_hold, caller.in_line = False, False
    caller.due.clear()
    caller.bridge = ctx.new_bridge()
    actions: Steps = [
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
        *record_call(caller, ctx),
        Record(SeatAttemptEnded(seat.channel_id, SeatOutcome.ANSWERED, at)),
        Record(CallAnswered(caller.channel, seat.seat_id, seat.channel_id, at)),
        publish(caller, "caller-answered", seat=seat.seat_id, waited=caller.waited(ctx.now)),
    ]


def record_call(caller: Caller, ctx: Context) -> Steps:
    """Record the call's bridge from now on, if the line records calls."""
    if not ctx.recording or caller.bridge is None:
        return []
    return [StartRecording(caller.bridge, caller.channel)]


def not_answered(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The seat being rung did not answer. Rang out: its agent is away, the seat is paused.
    Turned down: the next seat is tried. Anything else (no phone answering on the network):
    the seat is left out for a while. The caller keeps its place; a timer that came while
    it rang is dealt with now."""
    assert isinstance(event, SeatNotAnswered)
    seat, cause, queue = caller.seat, event.cause, caller.queue
    assert seat is not None
    if cause == CAUSE_NO_ANSWER:
        outcome = SeatOutcome.NO_ANSWER
        release = ReleaseSeat(seat.seat_id, pause=NO_ANSWER_PAUSE, ringing_in=queue)
    elif cause in DECLINED_CAUSES:
        outcome, release = SeatOutcome.DECLINED, ReleaseSeat(seat.seat_id, ringing_in=queue)
    else:
        outcome = SeatOutcome.UNREACHABLE
        release = ReleaseSeat(seat.seat_id, rest_for=UNREACHABLE_REST, ringing_in=queue)
    caller.seat = None
    actions: Steps = [
        Record(SeatAttemptEnded(seat.channel_id, outcome, moment(ctx.now), cause)),
        release,
    ]
    rules = ctx.rules(queue)
    waited_out = Timer.MAX_WAIT in caller.due or ctx.now - caller.joined >= rules.max_wait
    if waited_out and caller.callback is None:  # a call-back has no maximum wait
        caller.due.clear()
        return [*actions, Then(TimerDue(Timer.MAX_WAIT))]
    if caller.tried >= rules.seats:
        actions.append(WakeAt(Timer.NEW_ROUND, ctx.now + NEW_ROUND_PAUSE))
    if Timer.ANNOUNCE in caller.due:
        caller.due.discard(Timer.ANNOUNCE)
        actions.append(Then(TimerDue(Timer.ANNOUNCE)))
    return actions
