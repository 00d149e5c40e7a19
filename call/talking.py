"""Talking: a seat on the line with the caller, the seat's commands (move the caller on,
bring a specialist in, cancel, leave), and the glue to the transfer's own decisions
(``transfer.machine``). When nobody but the caller is left, :class:`~call.events.TalkOver`
hands the call to its end (``call.ending``)."""

from __future__ import annotations

from call.events import (
    CallEvent,
    SeatCommand,
    SeatHungUp,
    SeatKeyed,
    TalkOver,
    Then,
    TransferStep,
)
from call.state import Caller, Context, SeatLeg, Steps, publish
from call.waiting import enter_line, send_off
from cdr.records import CallMoved
from core.actions import (
    DestroyBridge,
    HangUp,
    Play,
    Purpose,
    Record,
    SetVariable,
    StopMusic,
    StopPlaying,
)
from core.clock import moment
from core.outcomes import CallOutcome
from queues.steps import ReleaseSeat
from transfer import machine
from transfer.keys import StartTransfer
from transfer.state import STILL_DIALING, Cancel, SeatGone, TransferState

CAUSE_MEDIA_TIMEOUT = 44
"""The cause Asterisk hangs a channel up with when its audio stops (``rtp_timeout``)."""
AFTER_TRANSFER = {
    TransferState.ENDED: CallOutcome.SPECIALIST_HANGUP,
    TransferState.ORDERED: CallOutcome.TRANSFER_FAILED,
}
"""How a call ends when its transfer ended with no seat left (otherwise: seat-hangup)."""


def resume(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """A connected call taken over goes on from the talk (its seat, its specialist). A
    transfer that was still dialling is dropped: the process that dialled cannot be told
    how the dial ended."""
    caller.on_hold, caller.in_line = False, False
    transfer = caller.transfer
    if transfer is None or transfer.state not in STILL_DIALING or ctx.transfer is None:
        return []
    caller.transfer = None
    return list(machine.interrupted(transfer, ctx.transfer(caller)))


def seat_hung_up(caller: Caller, event: CallEvent, _: Context) -> Steps:
    """The seat hung up with no transfer going on: the caller is alone."""
    assert isinstance(event, SeatHungUp)
    vanished = event.cause == CAUSE_MEDIA_TIMEOUT  # its phone went silent without a BYE
    return [Then(TalkOver(CallOutcome.SEAT_LOST if vanished else CallOutcome.SEAT_HANGUP))]


def seat_leaves(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The seat hung up during a transfer: off to its wrap-up; the transfer goes on."""
    return _seat_leaves(caller, ctx, hang_up=False)


def leave_call(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The seat keys out of a connected three-way call: caller and specialist go on."""
    return _seat_leaves(caller, ctx, hang_up=True)


def _seat_leaves(caller: Caller, ctx: Context, hang_up: bool) -> Steps:
    seat = caller.seat
    if seat is None:
        return []
    caller.seat = None
    actions: Steps = [HangUp(seat.channel_id)] if hang_up else []
    actions += [
        release_after_talk(seat, caller, ctx),
        publish(caller, "seat-left", seat=seat.seat_id),
    ]
    if caller.transfer is not None:
        actions.append(Then(TransferStep(SeatGone())))
    return actions


def release_after_talk(seat: SeatLeg, caller: Caller, ctx: Context) -> ReleaseSeat:
    """A seat that took a call gets the queue's wrap-up before the next one."""
    return ReleaseSeat(
        seat.seat_id, rest_for=ctx.rules(caller.queue).wrap_up if seat.answered else 0
    )


def keypad(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """A key from the seat's phone: a whole code becomes the seat's command."""
    assert isinstance(event, SeatKeyed)
    command = caller.keypad.press(event.digit, ctx.now)
    return [Then(SeatCommand(command, "keypad"))] if command is not None else []


def start_transfer(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """The seat asks for a specialist: refused while a transfer is on or for an unknown
    matter; otherwise the transfer begins (``transfer.machine.begin``)."""
    assert isinstance(event, SeatCommand) and isinstance(event.command, StartTransfer)
    matter, transfer, seat = event.command.matter, caller.transfer, caller.seat
    if transfer is not None and transfer.active:
        return [publish(caller, "transfer-refused", reason="a transfer is already on")]
    route = ctx.routes(matter)
    if route is None or caller.bridge is None or ctx.transfer is None:
        return [publish(caller, "transfer-refused", reason=f"no matter {matter}")]
    status, actions = machine.begin(
        route,
        ctx.new_request(),
        caller.channel,
        seat.seat_id if seat else None,
        event.via,
        ctx.transfer(caller),
    )
    caller.transfer = status
    return [*actions, *_after_transfer(caller)]


def cancel_transfer(caller: Caller, _: CallEvent, __: Context) -> Steps:
    seat = caller.seat
    return [Then(TransferStep(Cancel(seat.seat_id if seat else None)))]


def transfer_step(caller: Caller, event: CallEvent, ctx: Context) -> Steps:
    """Hand the event to the transfer; see what is left of the call after it."""
    assert isinstance(event, TransferStep)
    transfer = caller.transfer
    if transfer is None or caller.bridge is None or ctx.transfer is None:
        return []
    return [*machine.handle(transfer, event.event, ctx.transfer(caller)), *_after_transfer(caller)]


def _after_transfer(caller: Caller) -> Steps:
    """After a transfer moved on: forget a finished one; if nobody but the caller is left,
    the talk is over."""
    transfer = caller.transfer
    if transfer is None or transfer.active or transfer.message_pending:
        return []
    caller.transfer = None
    if caller.seat is not None:
        return []
    return [Then(TalkOver(AFTER_TRANSFER.get(transfer.state, CallOutcome.SEAT_HANGUP)))]


def move_on(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The seat moves the caller to its queue's ``move_to`` queue: the seat is let go (to its
    wrap-up), the caller hears that they are being moved and waits there, with their place
    by first arrival."""
    return _moved(caller, ctx) + enter_line(caller, ctx)


def move_on_closed(caller: Caller, _: CallEvent, ctx: Context) -> Steps:
    """The same, to a queue that is closed now: its closed message and a call-back request."""
    return _moved(caller, ctx) + send_off(caller, CallOutcome.CLOSED, ctx)


def _moved(caller: Caller, ctx: Context) -> Steps:
    seat, target = caller.seat, ctx.rules(caller.queue).move_to
    assert seat is not None and target is not None
    actions: Steps = [publish(caller, "caller-left", reason="moved", to=target, seat=seat.seat_id)]
    if caller.bridge is not None:
        actions.append(DestroyBridge(caller.bridge))
        caller.bridge = None
    actions += [HangUp(seat.channel_id), release_after_talk(seat, caller, ctx)]
    caller.seat = None
    actions.append(Record(CallMoved(caller.channel, target, moment(ctx.now))))
    caller.queue, caller.joined = target, ctx.now
    actions.append(SetVariable(caller.channel, "HOTLINE_QUEUE", target))
    caller.on_hold = True
    return actions + _announce(caller, "moving")


def _announce(caller: Caller, prompt: str) -> Steps:
    """A message to a caller on hold, in place of the music."""
    actions: Steps = [StopPlaying(Purpose.ANNOUNCEMENT)] if caller.announcing else []
    caller.announcing = True
    return [
        *actions,
        StopMusic(caller.channel),
        Play(prompt, Purpose.ANNOUNCEMENT, channel=caller.channel),
    ]
