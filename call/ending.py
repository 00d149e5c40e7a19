"""The end of a call: the survey (rate us 1, 2, 3), the thanks, and the end itself — every
leg hung up, the bridge destroyed, the seat given back, the line left, the end recorded."""

from __future__ import annotations

from call.events import CallerHungUp, CallerKeyed, CallEvent, TalkOver
from call.state import Caller, Context, Steps, publish
from call.talking import release_after_talk
from call.waiting import book_callback
from callback.steps import DropCallbackCard
from cdr.records import CallEnded, CallRated, SeatAttemptEnded
from core.actions import (
    CancelTimer,
    DestroyBridge,
    End,
    HangUp,
    Play,
    Purpose,
    Record,
    StopPlaying,
    Timer,
    WakeAt,
)
from core.clock import moment
from core.outcomes import CallOutcome, Rating, SeatOutcome
from queues.steps import LeaveLine, MarkSurveying, ReleaseSeat
from transfer import machine
from transfer.state import CallerGone

SURVEYED = frozenset(
    {CallOutcome.SEAT_HANGUP, CallOutcome.SEAT_LOST, CallOutcome.SPECIALIST_HANGUP}
)
"""How a call ended when the caller is asked to rate it: whoever served them hung up."""
RATING_KEYS = {"1": Rating.SATISFIED, "2": Rating.BASICALLY_SATISFIED, "3": Rating.DISSATISFIED}
SURVEY_ASKS = 2
"""How many times a caller who keys nothing (or a wrong key) is asked."""
PROMPT_LIMIT = 30.0
"""Seconds a prompt may take before the call stops waiting for its end."""


# --- the survey --------------------------------------------------------------------------------


def ask_rating(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The seat or the specialist hung up and the caller is still on the line: the seat is
    off to its wrap-up, and the caller is asked to rate the service on the keypad."""
    assert isinstance(event, TalkOver)
    caller.outcome = event.outcome
    actions: Steps = []
    if caller.seat is not None:  # the seat is off to its wrap-up, not held by the survey
        actions.append(release_after_talk(caller.seat, caller, ctx))
        caller.seat = None
    if caller.bridge is not None:
        actions.append(DestroyBridge(caller.bridge))
        caller.bridge = None
    caller.survey_asks = 1
    return [
        *actions,
        MarkSurveying(True),
        Play("survey", Purpose.SURVEY, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


def wait_for_key(_: Caller, __: CallEvent, ctx: Context) -> Steps:
    return [WakeAt(Timer.SURVEY_KEY, ctx.now + ctx.survey_wait)]


def thank(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """A rating key: recorded, and the thanks play."""
    assert isinstance(event, CallerKeyed)
    rating = RATING_KEYS[event.digit]
    return [
        StopPlaying(Purpose.SURVEY),
        CancelTimer(Timer.SURVEY_KEY),
        Record(CallRated(caller.channel, rating)),
        publish(caller, "rated", rating=rating.value),
        MarkSurveying(False),
        Play("survey-thanks", Purpose.THANKS, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


def ask_again(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """No key came (or not a rating key): the question once more."""
    caller.survey_asks += 1
    return [
        CancelTimer(Timer.SURVEY_KEY),
        Play("survey", Purpose.SURVEY, channel=caller.channel),
        WakeAt(Timer.PROMPT_LIMIT, ctx.now + PROMPT_LIMIT),
    ]


def no_rating(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """Asked enough: recorded as not answered, and the end."""
    return [
        Record(CallRated(caller.channel, Rating.NO_ANSWER)),
        publish(caller, "rated", rating=Rating.NO_ANSWER.value),
        MarkSurveying(False),
        *finish(caller, _, ctx),
    ]


def wrong_key(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """A key that is no rating counts as an ask."""
    return [StopPlaying(Purpose.SURVEY), *ask_again(caller, event, ctx)]


def last_wrong_key(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    return [StopPlaying(Purpose.SURVEY), *no_rating(caller, event, ctx)]


# --- the end -----------------------------------------------------------------------------------


def hung_up(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The caller hung up: a transfer hears it first (a dial still ringing is abandoned, a
    specialist on the line is hung up), then the end."""
    transfer = caller.transfer
    if transfer is None or caller.bridge is None or ctx.transfer is None:
        return finish(caller, event, ctx)
    told = machine.handle(transfer, CallerGone(), ctx.transfer(caller))
    return [*told, *finish(caller, event, ctx)]


def abandon(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The caller hung up before a seat answered."""
    caller.outcome = CallOutcome.ABANDONED
    return hung_up(caller, event, ctx)


def abandon_ringing(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The caller hung up while a seat rang: the seat's attempt ends with the caller gone."""
    seat = caller.seat
    assert seat is not None
    left = SeatAttemptEnded(seat.channel_id, SeatOutcome.CALLER_LEFT, moment(ctx.now))
    return [Record(left), *abandon(caller, event, ctx)]


def caller_hung_up(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The caller hung up on the seat (and the specialist, if one is on)."""
    caller.outcome = CallOutcome.CALLER_HANGUP
    return hung_up(caller, event, ctx)


def hung_up_in_survey(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    return [MarkSurveying(False), *hung_up(caller, event, ctx)]


def pbx_lost(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """Asterisk died under the call and came back: every leg went with it. The caller is
    called back — in their turn, or at once with the seat they were talking to if it is
    free — and that seat is free again now (the talk was cut: no wrap-up)."""
    seat = caller.seat
    talked_to = seat.seat_id if seat is not None and seat.answered else None
    actions: Steps = [CancelTimer(timer) for timer in Timer]
    if caller.in_line:  # a seat still ringing for it is given back with the place
        caller.in_line = False
        actions.append(LeaveLine(caller.queue))
    elif talked_to is not None:
        actions.append(ReleaseSeat(talked_to))
    caller.seat, caller.bridge, caller.on_hold = None, None, False
    caller.outcome = CallOutcome.PBX_LOST
    return [
        *actions,
        *book_callback(caller, CallOutcome.PBX_LOST, ctx, prefer=talked_to),
        *drop_card(caller, ctx),
        Record(CallEnded(caller.channel, caller.outcome, moment(ctx.now))),
        publish(caller, "call-ended", outcome=caller.outcome.value),
        End(),
    ]


def broken(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    caller.outcome = CallOutcome.FAILED
    return finish(caller, event, ctx)


def talk_over(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The talk is over and no survey follows: the end, as the talk ended."""
    assert isinstance(event, TalkOver)
    caller.outcome = event.outcome
    return finish(caller, event, ctx)


def finish(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """Hang up every leg of the call that is still up (the caller's, unless it is the
    caller who hung up), destroy its bridge, give the seat back, leave the line; record and
    announce how the call ended."""
    actions: Steps = [CancelTimer(timer) for timer in Timer]
    if not isinstance(event, CallerHungUp):  # a hang-up of a channel going would be a 404
        actions.append(HangUp(caller.channel))
    transfer, seat = caller.transfer, caller.seat
    if seat is not None:
        actions += [HangUp(seat.channel_id), release_after_talk(seat, caller, ctx)]
        caller.seat = None
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
            publish(
                caller, "caller-left", reason=caller.outcome.value, waited=caller.waited(ctx.now)
            )
        )
    return [
        *actions,
        *drop_card(caller, ctx),
        Record(CallEnded(caller.channel, caller.outcome, moment(ctx.now))),
        publish(caller, "call-ended", outcome=caller.outcome.value),
        End(),
    ]


def drop_card(caller: Caller, ctx: Context) -> Steps:
    """On a line of nodes, the call-back card the caller kept for its node's loss goes."""
    return [DropCallbackCard(caller.channel)] if ctx.node is not None else []
