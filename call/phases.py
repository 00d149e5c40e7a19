"""The call's phases as one table: which event moves a call from which phase to which, on
which condition, and what is done on the way (:data:`ROWS`, read in one screen).

:func:`decide` is the one place a call's phase changes: it takes the caller's situation
(:class:`~call.state.Caller`, changed in place), one event and the moment and settings it
happens with (:class:`~call.state.Context`), finds the first row for the phase and the
event whose guard holds, moves the phase, and returns what the row's step
(``call.waiting``, ``call.talking``, ``call.ending``) asks the edge (``ari_app.call``) to
do, in order. A step may ask for another event to be decided next, in the new phase
(:class:`~call.events.Then`: a seat that did not answer when the maximum wait had come).
Nothing here talks to Asterisk, Redis or SQL, reads the clock or waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from call import calling_back, ending, talking, waiting
from call.events import (
    Arrived,
    CallBroken,
    CalledOff,
    CallerHungUp,
    CallerKeyed,
    CallEvent,
    CompanyAnswered,
    CompanyMissed,
    PbxLost,
    PlaceLost,
    PromptEnded,
    PromptStarted,
    Resumed,
    SeatAnswered,
    SeatCommand,
    SeatHungUp,
    SeatKeyed,
    SeatNotAnswered,
    SeatOffered,
    StoreLost,
    TalkOver,
    Then,
    TimerDue,
    TransferStep,
)
from call.state import CallAction, Caller, Context, Phase, Steps, publish
from core.actions import Purpose, StartMusic, Timer
from transfer.keys import CancelTransfer, LeaveCall, MoveCaller, StartTransfer
from transfer.state import MessageDone, TransferState

Guard = Callable[[Caller, CallEvent, Context], bool]
Step = Callable[[Caller, CallEvent, Context], Steps]


# --- the guards ------------------------------------------------------------------------------


def _any(_: Caller, __: CallEvent, ___: Context) -> bool:
    return True


def _no_store(caller: Caller, _: CallEvent, ctx: Context) -> bool:
    """Redis is away and the queue is open: Asterisk's own queue serves the caller."""
    return not ctx.store_ok and ctx.is_open(caller.queue)


def _app_behind(caller: Caller, _: CallEvent, ctx: Context) -> bool:
    """The app is behind with its new callers and the queue is open: Asterisk's own queue
    serves the caller (once: a caller it sends back is served here whatever the load)."""
    return ctx.app_behind and not caller.from_asterisk_queue and ctx.is_open(caller.queue)


def _calling_back(caller: Caller, _: CallEvent, __: Context) -> bool:
    """The call is an attempt at a call-back (``call.calling_back``)."""
    return caller.callback is not None


def _asks_callback(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    """The waiting caller keyed 1, and the line can call them back."""
    return (
        isinstance(event, CallerKeyed) and event.digit == "1" and waiting.may_call_back(caller, ctx)
    )


def _notice(caller: Caller, _: CallEvent, ctx: Context) -> bool:
    """The line records calls and tells its callers so (a call-back's company: its seat)."""
    return ctx.recording and ctx.recording_notice and caller.callback is None


def _closed(caller: Caller, _: CallEvent, ctx: Context) -> bool:
    return not ctx.is_open(caller.queue)


def _in_hand(caller: Caller, event: CallEvent) -> bool:
    """A seat offered that the caller has rung already or rings now (an offer told twice)."""
    seat = getattr(event, "seat", None)
    return seat in caller.tried or (caller.seat is not None and caller.seat.seat_id == seat)


def _new_seat(caller: Caller, event: CallEvent, _: Context) -> bool:
    return not _in_hand(caller, event)


def _its_ring(caller: Caller, event: CallEvent, _: Context) -> bool:
    """About the seat's leg being rung now (not an earlier one)."""
    seat = caller.seat
    return seat is not None and seat.channel_id == getattr(event, "leg", None) and not seat.answered


def _its_ring_back(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    """The seat rung for a call-back answered."""
    return _its_ring(caller, event, ctx) and _calling_back(caller, event, ctx)


def _its_seat(caller: Caller, event: CallEvent, _: Context) -> bool:
    seat = caller.seat
    return seat is not None and seat.channel_id == getattr(event, "leg", None)


def _seat_in_transfer(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    """The seat's leg, while a transfer is on (it goes on without the seat)."""
    transfer = caller.transfer
    return _its_seat(caller, event, ctx) and transfer is not None and transfer.active


def _in_line(caller: Caller, _: CallEvent, __: Context) -> bool:
    return caller.in_line


def _timer(*timers: Timer) -> Guard:
    def due(_: Caller, event: CallEvent, __: Context) -> bool:
        return isinstance(event, TimerDue) and event.timer in timers

    return due


def _prompt(purpose: Purpose) -> Guard:
    def ended(_: Caller, event: CallEvent, __: Context) -> bool:
        return getattr(event, "purpose", None) is purpose

    return ended


def _command(kind: type[object]) -> Guard:
    def asks(_: Caller, event: CallEvent, __: Context) -> bool:
        return isinstance(event, SeatCommand) and isinstance(event.command, kind)

    return asks


def _may_move(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    """A seat's ``#``: its queue moves callers on, a seat is on the line, no transfer is on."""
    transfer, target = caller.transfer, ctx.rules(caller.queue).move_to
    return (
        _command(MoveCaller)(caller, event, ctx)
        and not (transfer is not None and transfer.active)
        and target is not None
        and caller.seat is not None
    )


def _may_move_to_closed(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    target = ctx.rules(caller.queue).move_to
    return _may_move(caller, event, ctx) and target is not None and not ctx.is_open(target)


def _may_cancel(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    return _command(CancelTransfer)(caller, event, ctx) and caller.transfer is not None


def _may_leave(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    """``*0#`` leaves only a call whose specialist has answered."""
    transfer = caller.transfer
    connected = transfer is not None and transfer.state is TransferState.CONNECTED
    return _command(LeaveCall)(caller, event, ctx) and connected


def _surveyed(_: Caller, event: CallEvent, ctx: Context) -> bool:
    """The caller is asked to rate the call: surveys are on and whoever served them left."""
    return ctx.survey and isinstance(event, TalkOver) and event.outcome in ending.SURVEYED


def _rating(_: Caller, event: CallEvent, __: Context) -> bool:
    return isinstance(event, CallerKeyed) and event.digit in ending.RATING_KEYS


def _asks_left(caller: Caller, _: CallEvent, __: Context) -> bool:
    return caller.survey_asks < ending.SURVEY_ASKS


def _no_key_again(caller: Caller, event: CallEvent, ctx: Context) -> bool:
    return _no_key(caller, event, ctx) and _asks_left(caller, event, ctx)


_no_key = _timer(Timer.SURVEY_KEY, Timer.PROMPT_LIMIT)
"""No rating key came (or the question took too long to play)."""
_max_wait, _announce, _new_round = (
    _timer(timer) for timer in (Timer.MAX_WAIT, Timer.ANNOUNCE, Timer.NEW_ROUND)
)
_while_ringing = _timer(Timer.ANNOUNCE, Timer.MAX_WAIT)
_too_long = _timer(Timer.PROMPT_LIMIT)
"""A last message took longer than it can: the call ends without waiting for it."""
_sent_off, _asked, _thanked, _announcing, _message, _noticed = (
    _prompt(purpose)
    for purpose in (
        Purpose.SEND_OFF,
        Purpose.SURVEY,
        Purpose.THANKS,
        Purpose.ANNOUNCEMENT,
        Purpose.TRANSFER_MESSAGE,
        Purpose.NOTICE,
    )
)
_asks_transfer = _command(StartTransfer)


def _has_transfer(caller: Caller, _: CallEvent, __: Context) -> bool:
    return caller.transfer is not None


# --- steps small enough to live beside the table ----------------------------------------------


def _announced(caller: Caller, event: CallEvent, _: Context) -> Steps:
    return [publish(caller, "caller-announced", prompt=getattr(event, "prompt", ""))]


def _announcement_over(caller: Caller, _: CallEvent, __: Context) -> Steps:
    caller.announcing = False
    return [StartMusic(caller.channel)] if caller.on_hold else []


def _no_channel_yet(_: Caller, __: CallEvent, ___: Context) -> Steps:
    """A call-back waiting for a seat has no channel Asterisk's death could take."""
    return []


def _message_over(_: Caller, __: CallEvent, ___: Context) -> Steps:
    return [Then(TransferStep(MessageDone()))]


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """In one of the phases ``source``, an event of type ``on`` for which ``when`` holds
    moves the call to ``to`` (None: the phase stays) and does ``step``."""

    source: frozenset[Phase]
    on: type[CallEvent]
    when: Guard
    to: Phase | None
    step: Step


def _r(
    source: Phase | frozenset[Phase], on: type[CallEvent], when: Guard, to: Phase | None, step: Step
) -> Row:
    phases = source if isinstance(source, frozenset) else frozenset({source})
    return Row(phases, on, when, to, step)


P, W, T, E, CB = Phase, waiting, talking, ending, calling_back
LIVE = frozenset(Phase) - {P.ENDED}
BEFORE_TALK = frozenset({P.ARRIVING, P.WAITING, P.RINGING, P.CALLING_BACK})
DIALLING_OUT = frozenset({P.RINGING, P.CALLING_BACK})
CUT_OFF = frozenset({P.NOTICE, P.WAITING, P.RINGING, P.TALKING})
"""A caller whom Asterisk's death cuts off before they were served: called back."""

BEFORE_A_SEAT = frozenset({P.ARRIVING, P.NOTICE, P.WAITING})
LAST_WORDS = frozenset({P.SENDING_OFF, P.THANKS})


ROWS: tuple[Row, ...] = (
    #  in              on               when                 to              step
    _r(P.ARRIVING,     Arrived,         _calling_back,       P.WAITING,      CB.arrive),
    _r(P.ARRIVING,     Arrived,         _no_store,           P.ENDED,        W.arrive_unserved),
    _r(P.ARRIVING,     Arrived,         _app_behind,         P.ENDED,        W.arrive_while_behind),
    _r(P.ARRIVING,     Arrived,         _closed,             P.SENDING_OFF,  W.arrive_closed),
    _r(P.ARRIVING,     Arrived,         _notice,             P.NOTICE,       W.arrive_with_notice),
    _r(P.ARRIVING,     Arrived,         _any,                P.WAITING,      W.arrive),
    _r(P.NOTICE,       PromptEnded,     _noticed,            P.WAITING,      W.noticed),
    _r(P.NOTICE,       TimerDue,        _too_long,           P.WAITING,      W.noticed),
    _r(P.ARRIVING,     Resumed,         _any,                P.TALKING,      T.resume),
    _r(P.WAITING,      SeatOffered,     _new_seat,           P.RINGING,      W.ring_seat),
    _r(P.WAITING,      TimerDue,        _max_wait,           P.SENDING_OFF,  W.waited_too_long),
    _r(P.WAITING,      TimerDue,        _announce,           None,           W.announce_position),
    _r(P.WAITING,      TimerDue,        _new_round,          None,           W.new_round),
    _r(P.WAITING,      StoreLost,       _calling_back,       P.ENDED,        CB.store_lost),
    _r(P.WAITING,      StoreLost,       _any,                P.ENDED,        W.to_asterisk_queue),
    _r(P.WAITING,      PlaceLost,       _calling_back,       P.ENDED,        CB.interrupted),
    _r(P.WAITING,      PlaceLost,       _in_line,            None,           W.rejoin),
    _r(P.WAITING,      CallerKeyed,     _asks_callback,      P.SENDING_OFF,  W.call_me_back),
    _r(P.RINGING,      SeatAnswered,    _its_ring_back,      P.CALLING_BACK, CB.call_company),
    _r(P.RINGING,      SeatAnswered,    _its_ring,           P.TALKING,      W.talk),
    _r(P.RINGING,      SeatNotAnswered, _its_ring,           P.WAITING,      W.not_answered),
    _r(P.RINGING,      TimerDue,        _while_ringing,      None,           W.defer),
    _r(P.CALLING_BACK, CompanyAnswered, _any,                P.TALKING,      CB.company_answered),
    _r(P.CALLING_BACK, CompanyMissed,   _any,                P.ENDED,        CB.not_reached),
    _r(P.CALLING_BACK, SeatHungUp,      _its_seat,           P.ENDED,        CB.seat_left),
    _r(P.TALKING,      SeatHungUp,      _seat_in_transfer,   None,           T.seat_leaves),
    _r(P.TALKING,      SeatHungUp,      _its_seat,           None,           T.seat_hung_up),
    _r(P.TALKING,      SeatKeyed,       _any,                None,           T.keypad),
    _r(P.TALKING,      SeatCommand,     _may_move_to_closed, P.SENDING_OFF,  T.move_on_closed),
    _r(P.TALKING,      SeatCommand,     _may_move,           P.WAITING,      T.move_on),
    _r(P.TALKING,      SeatCommand,     _asks_transfer,      None,           T.start_transfer),
    _r(P.TALKING,      SeatCommand,     _may_cancel,         None,           T.cancel_transfer),
    _r(P.TALKING,      SeatCommand,     _may_leave,          None,           T.leave_call),
    _r(P.TALKING,      TalkOver,        _surveyed,           P.SURVEY,       E.ask_rating),
    _r(P.TALKING,      TalkOver,        _any,                P.ENDED,        E.talk_over),
    _r(P.SENDING_OFF,  PromptEnded,     _sent_off,           P.ENDED,        E.finish),
    _r(P.SURVEY,       PromptEnded,     _asked,              None,           E.wait_for_key),
    _r(P.SURVEY,       CallerKeyed,     _rating,             P.THANKS,       E.thank),
    _r(P.SURVEY,       CallerKeyed,     _asks_left,          None,           E.wrong_key),
    _r(P.SURVEY,       CallerKeyed,     _any,                P.ENDED,        E.last_wrong_key),
    _r(P.SURVEY,       TimerDue,        _no_key_again,       None,           E.ask_again),
    _r(P.SURVEY,       TimerDue,        _no_key,             P.ENDED,        E.no_rating),
    _r(P.THANKS,       PromptEnded,     _thanked,            P.ENDED,        E.finish),
    _r(LAST_WORDS,     TimerDue,        _too_long,           P.ENDED,        E.finish),
    _r(BEFORE_A_SEAT,  CallerHungUp,    _any,                P.ENDED,        E.abandon),
    _r(P.RINGING,      CallerHungUp,    _any,                P.ENDED,        E.abandon_ringing),
    _r(P.TALKING,      CallerHungUp,    _any,                P.ENDED,        E.caller_hung_up),
    _r(P.SURVEY,       CallerHungUp,    _any,                P.ENDED,        E.hung_up_in_survey),
    _r(LAST_WORDS,     CallerHungUp,    _any,                P.ENDED,        E.hung_up),
    _r(P.WAITING,      PbxLost,         _calling_back,       None,           _no_channel_yet),
    _r(DIALLING_OUT,   PbxLost,         _calling_back,       P.ENDED,        CB.interrupted),
    _r(CUT_OFF,        PbxLost,         _any,                P.ENDED,        E.pbx_lost),
    _r(P.SURVEY,       PbxLost,         _any,                P.ENDED,        E.hung_up_in_survey),
    _r(LAST_WORDS,     PbxLost,         _any,                P.ENDED,        E.finish),
    _r(BEFORE_TALK,    CallBroken,      _calling_back,       P.ENDED,        CB.interrupted),
    _r(BEFORE_TALK,    CalledOff,       _calling_back,       P.ENDED,        CB.called_off),
    _r(LIVE,           CallBroken,      _any,                P.ENDED,        E.broken),
    _r(LIVE,           SeatOffered,     _new_seat,           None,           W.give_back),
    _r(P.ENDED,        SeatOffered,     _any,                None,           W.give_back),
    _r(LIVE,           PromptStarted,   _announcing,         None,           _announced),
    _r(LIVE,           PromptEnded,     _announcing,         None,           _announcement_over),
    _r(LIVE,           PromptEnded,     _message,            None,           _message_over),
    _r(LIVE,           TransferStep,    _has_transfer,       None,           T.transfer_step),
)  # fmt: skip
"""Every step a call can take; an event no row takes changes nothing."""

_BY_PHASE_AND_EVENT: dict[tuple[Phase, type[CallEvent]], tuple[Row, ...]] = {}
for _row in ROWS:
    for _phase in _row.source:
        key = (_phase, _row.on)
        _BY_PHASE_AND_EVENT[key] = (*_BY_PHASE_AND_EVENT.get(key, ()), _row)


def decide(caller: Caller, event: CallEvent, ctx: Context) -> list[CallAction]:
    """What to do about ``event`` for ``caller``: the first row of :data:`ROWS` for the
    call's phase and the event whose guard holds moves the phase and does its step; the
    events a step asks for next are decided in turn, in the new phase."""
    for row in _BY_PHASE_AND_EVENT.get((caller.phase, type(event)), ()):
        if row.when(caller, event, ctx):
            break
    else:
        return []
    caller.phase = row.to or caller.phase
    actions: list[CallAction] = []
    for action in row.step(caller, event, ctx):
        if isinstance(action, Then):
            actions += decide(caller, action.event, ctx)
        else:
            actions.append(action)
    return actions
