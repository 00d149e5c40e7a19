"""A call-back attempt: the steps of a call whose caller the hotline dials.

The attempt waits in its queue's line with the first arrival and the tier of the call that
asked for it — served by the same rule as everyone — but nobody is on hold: nothing plays and
no maximum wait runs. The seat offered is rung as for any caller; once it answers it hears
ringback in the call's bridge while the company's number is dialled out through the trunk
with the hotline's number. The company's answer joins it to the seat, and from then on the
call is like any other (``call.talking``, ``call.ending``). Busy, no answer or no way
through: the seat is let go, and the call-back is booked again after ``retry_after`` — or
given up after its last attempt. Which step runs when is :data:`call.phases.ROWS`'s business.
"""

from __future__ import annotations

from datetime import datetime

from call.events import CallEvent, CompanyMissed, Then
from call.state import Caller, Context, Steps, publish
from call.waiting import record_call
from callback.records import CallbackAttemptEnded, CallbackClosed, CallbackReached
from callback.steps import CloseCallback, RebookCallback
from callback.ticket import CallbackOutcome, CallbackTicket, outcome_of
from cdr.records import CallAnswered, SeatAttemptEnded
from core.actions import (
    AddToBridge,
    CancelTimer,
    DestroyBridge,
    Dial,
    End,
    HangUp,
    LegKind,
    OpenBridge,
    Purpose,
    Record,
    Ringback,
    StopPlaying,
    Timer,
)
from core.clock import moment
from core.outcomes import SeatOutcome
from queues.steps import AnsweredLine, JoinLine, LeaveLine, ReleaseSeat


def _ticket(caller: Caller) -> CallbackTicket:
    assert caller.callback is not None
    return caller.callback


def arrive(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The call-back's turn has come: into the line with the first arrival and tier."""
    ticket = _ticket(caller)
    caller.joined, caller.in_line = ctx.now, True
    caller.tried.clear()
    return [
        JoinLine(caller.queue, caller.arrived, caller.tier, ticket.prefer),
        publish(caller, "callback-waiting", request=ticket.request, attempt=ticket.attempt),
    ]


def call_company(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The seat answered: it hears ringback in the call's bridge while the company's
    number is dialled with the hotline's number (no trunk going out: not reached)."""
    ticket, seat = _ticket(caller), caller.seat
    assert seat is not None
    seat.answered, caller.in_line = True, False
    caller.bridge = ctx.new_bridge()
    rules = ctx.callbacks
    actions: Steps = [
        AnsweredLine(caller.queue),
        CancelTimer(Timer.NEW_ROUND),
        Record(SeatAttemptEnded(seat.channel_id, SeatOutcome.ANSWERED, moment(ctx.now))),
        OpenBridge(caller.bridge, seat.channel_id),
        Ringback(caller.bridge),
        publish(caller, "callback-dialling", seat=seat.seat_id, request=ticket.request),
    ]
    endpoint = rules.endpoint_for(ticket.number)
    if endpoint is None:
        return [*actions, Then(CompanyMissed(None))]
    dial = Dial(caller.channel, endpoint, rules.caller_id, rules.ring_timeout, LegKind.COMPANY)
    return [*actions, dial]


def company_answered(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The company answered: it joins the seat, and the call-back is kept."""
    ticket, seat, bridge = _ticket(caller), caller.seat, caller.bridge
    assert seat is not None and bridge is not None
    at = moment(ctx.now)
    reached = CallbackReached(
        ticket.request,
        caller.channel,
        seat.channel_id,
        caller.number,
        caller.called,
        caller.queue,
        caller.kind,
        caller.enterprise_id,
        caller.tier.value if caller.tier else None,
        at,
        ctx.node,
    )
    return [
        StopPlaying(Purpose.RINGBACK),
        AddToBridge(bridge, caller.channel),
        *record_call(caller, ctx),
        Record(reached),
        Record(CallAnswered(caller.channel, seat.seat_id, seat.channel_id, at)),
        _attempt(caller, CallbackOutcome.REACHED, at),
        Record(CallbackClosed(ticket.request, CallbackOutcome.REACHED, at)),
        CloseCallback(ticket.request),
        publish(caller, "caller-answered", seat=seat.seat_id, waited=0.0, callback=True),
    ]


def not_reached(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """Busy, no answer or no way through: the seat is let go at once, and the call-back is
    booked again after ``retry_after`` — or given up after its last attempt."""
    assert isinstance(event, CompanyMissed)
    ticket, rules, at = _ticket(caller), ctx.callbacks, moment(ctx.now)
    outcome = outcome_of(event.cause)
    actions = [
        *_let_seat_go(caller),
        _attempt(caller, outcome, at, event.cause),
        publish(caller, "callback-not-reached", request=ticket.request, outcome=outcome.value),
    ]
    if ticket.attempt < rules.attempts:
        return [*actions, RebookCallback(ticket.request, ctx.now + rules.retry_after, True), End()]
    return [
        *actions,
        Record(CallbackClosed(ticket.request, CallbackOutcome.GIVEN_UP, at)),
        CloseCallback(ticket.request),
        publish(caller, "callback-given-up", request=ticket.request, attempts=ticket.attempt),
        End(),
    ]


def seat_left(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The seat hung up before the company answered: the company's phone stops ringing and
    the call-back goes back in line at once, the attempt not counted."""
    ticket = _ticket(caller)
    return [
        HangUp(caller.channel),
        *_let_seat_go(caller),
        _attempt(caller, CallbackOutcome.SEAT_LEFT, moment(ctx.now)),
        RebookCallback(ticket.request, ctx.now, False),
        End(),
    ]


def interrupted(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The hotline cut the attempt short (a failure of its own), or its place in line went
    (the call-back was cancelled, or freed while Redis was away): every leg is let go and the
    call-back is due again at once if it is still booked, the attempt not counted."""
    ticket = _ticket(caller)
    return [
        *_stop(caller),
        _attempt(caller, CallbackOutcome.INTERRUPTED, moment(ctx.now)),
        RebookCallback(ticket.request, ctx.now, False),
        End(),
    ]


def called_off(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The company called in again meanwhile: the attempt stops wherever it is — its place
    in line, the seat ringing or waiting on ringback, the company's number ringing — and is
    recorded as cancelled (the book has dropped it already)."""
    return [
        *_stop(caller),
        _attempt(caller, CallbackOutcome.CANCELLED, moment(ctx.now)),
        publish(caller, "callback-called-off", request=_ticket(caller).request),
        End(),
    ]


def _stop(caller: Caller) -> Steps:
    """Every timer, the company's leg, the seat and the place in line let go."""
    actions: Steps = [CancelTimer(timer) for timer in Timer]
    if caller.bridge is not None:  # the company's phone may be ringing
        actions.append(HangUp(caller.channel))
    actions += _let_seat_go(caller)
    if caller.in_line:
        caller.in_line = False
        actions.append(LeaveLine(caller.queue))
    return actions


def store_lost(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """Redis is away while the call-back waits for a seat: the attempt ends and leaves its
    place as it is; when Redis is back the sweep finds the place without a call and books
    the call-back again (``ari_app.housekeeping``)."""
    caller.in_line = False
    return [_attempt(caller, CallbackOutcome.INTERRUPTED, moment(ctx.now)), End()]


def _let_seat_go(caller: Caller) -> Steps:
    """Stop the ringback, hang the seat's leg up, give the seat back (no wrap-up: no talk)."""
    actions: Steps = [StopPlaying(Purpose.RINGBACK)]
    seat = caller.seat
    if seat is not None:
        actions += [HangUp(seat.channel_id), ReleaseSeat(seat.seat_id)]
    if caller.bridge is not None:
        actions.append(DestroyBridge(caller.bridge))
        caller.bridge = None
    return actions


def _attempt(
    caller: Caller, outcome: CallbackOutcome, at: datetime, cause: int | None = None
) -> Record:
    ticket, seat = _ticket(caller), caller.seat
    return Record(
        CallbackAttemptEnded(
            ticket.request,
            caller.channel,
            ticket.attempt,
            seat.seat_id if seat else None,
            moment(caller.joined),
            at,
            outcome.value,
            cause,
        )
    )
