"""What a call asks of Redis, carried out: the queue's steps (``queues.line``,
``queues.seats``), the transfer's (its saved state, the live connect rate) and the call-back
book's (``callback.book``). Called by the call's edge (``ari_app.call``)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, assert_never

from redis.exceptions import RedisError

from callback.book import Booked
from callback.records import CallbackClosed
from callback.steps import (
    BookCallback,
    CallbackStep,
    CancelCallback,
    CloseCallback,
    DropCallbackCard,
    KeepCallbackCard,
    RebookCallback,
)
from callback.ticket import CallbackOutcome
from core import clock, keys
from core.events import publish
from core.outcomes import CallOutcome
from queues import steps
from transfer.state import TTL, CountLive, SaveTransfer

if TYPE_CHECKING:
    from ari_app.call import CallHost, InboundCall

log = logging.getLogger(__name__)

StoreStep = (
    steps.JoinLine
    | steps.AnsweredLine
    | steps.LeaveLine
    | steps.NewRound
    | steps.ReleaseSeat
    | steps.MarkSurveying
    | SaveTransfer
    | CountLive
)
"""What a call asks of Redis: the queue's steps and the transfer's."""


async def store_step(call: InboundCall, action: StoreStep) -> None:
    """The queue's and the transfer's steps in Redis."""
    host, caller = call.host, call.caller_id
    match action:
        case steps.JoinLine(queue, arrived, tier, prefer):
            line = host.line(queue)
            joined = await line.join(caller, arrived, tier, clock.time(), prefer)
            await publish(
                host.redis,
                "caller-joined",
                queue=queue,
                caller=caller,
                app=host.name,
                number=call.caller.number,
                tier=tier.value if tier else None,
                position=joined.ahead,
            )
            host.deliver(joined.offers)
        case steps.AnsweredLine(queue):
            await host.line(queue).answered(caller)
        case steps.LeaveLine(queue):
            host.deliver(await host.line(queue).leave(caller, clock.time()))
        case steps.NewRound(queue):
            host.deliver(await host.line(queue).new_round(caller, clock.time()))
        case steps.ReleaseSeat(seat, rest_for, pause, ringing_in):
            await host.seats.release(seat, caller, rest_for, pause, ringing_in)
        case steps.MarkSurveying(on):
            with contextlib.suppress(RedisError):
                if on:
                    await host.redis.sadd(keys.SURVEYING, caller)
                else:
                    await host.redis.srem(keys.SURVEYING, caller)
        case SaveTransfer(status):
            try:
                await host.redis.set(
                    keys.transfer_status(status.call),
                    status.to_json(clock.time()),
                    ex=TTL,
                )
            except RedisError as error:  # the console misses a step; the call goes on
                log.warning("could not save the transfer of %s: %s", caller, error)
        case CountLive(in_hours, outcome, department, matter, number):
            await _count_live(call.host, in_hours, outcome, department, matter, number)
        case _:
            assert_never(action)


async def callback_step(call: InboundCall, action: CallbackStep) -> None:
    """The call-back book's steps in Redis (``callback.book``)."""
    book, now, caller = call.host.callbacks, clock.time(), call.caller
    match action:
        case BookCallback(request, queue, number, arrived, tier, reason, prefer):
            entry = Booked(
                request, queue, number, arrived, tier, caller.kind,
                caller.enterprise_id, caller.name, reason, now, 0, prefer,
            )  # fmt: skip
            kept = await book.book(entry, now)
            if kept != request:
                log.info("call-back for %s already booked as %s: kept", number, kept)
        case RebookCallback(request, due, counted):
            await book.rebook(request, due, counted)
        case CloseCallback(request):
            await book.close(request)
        case CancelCallback(number):
            cancelled = await book.cancel(number)
            if cancelled is not None:
                log.info("%s called in again: its call-back %s is cancelled", number, cancelled)
                call.host.writer.put(
                    CallbackClosed(cancelled, CallbackOutcome.CANCELLED, clock.now())
                )
                await publish(call.host.redis, "callback-cancelled", request=cancelled)
        case KeepCallbackCard(request, queue, number, arrived, tier):
            card = Booked(
                request, queue, number, arrived, tier, caller.kind,
                caller.enterprise_id, caller.name, CallOutcome.PBX_LOST.value, now, 0,
            )  # fmt: skip
            try:
                await book.keep_card(card)
            except RedisError as error:  # only a whole node's loss would need it
                log.warning("could not keep the call-back card of %s: %s", request, error)
        case DropCallbackCard(request):
            try:
                await book.drop_card(request)
            except RedisError as error:  # it expires by itself
                log.warning("could not drop the call-back card of %s: %s", request, error)
        case _:
            assert_never(action)


async def _count_live(
    host: CallHost, in_hours: bool, outcome: str, department: str, matter: str, number: str | None
) -> None:
    """Bump the live connect rate; Redis being away costs the live figure, not the call."""
    live = host.live
    if live is None:
        return
    try:
        if number is not None:
            await live.dial_ended(number, in_hours, outcome)
        else:
            await live.request_decided(department, matter, in_hours, outcome)
    except Exception:
        log.exception("could not count a transfer in the live connect rate")
