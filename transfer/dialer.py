"""One transfer at work: dial the department's numbers in turn, bring the specialist who
answers into the call's bridge, or make a work order when nobody can be reached.

A :class:`Transfer` lives inside its call's task (``ari_app.call``): the call hands it the
events of the specialist's leg and of its playbacks, one at a time, and every move goes
through the state machine in :mod:`transfer.machine`. Every request and attempt is written
to SQL as it happens (:mod:`transfer.records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis

from ari_app.client import Ari, AriError, Event, quietly
from ari_app.legs import SPECIALIST, leg_id
from core import clock
from core.events import publish
from transfer.machine import (
    FINAL,
    TransferEvent,
    TransferState,
    TransferStatus,
    TransitionRefused,
    save,
)
from transfer.orders import Level, WorkOrders
from transfer.plan import Route
from transfer.records import TransferRecorder

log = logging.getLogger(__name__)

_GONE = frozenset({"ChannelDestroyed", "ChannelHangupRequest", "StasisEnd"})
RINGBACK = "tone:ring;tonezone=cn"
"""What caller and seat hear while the specialist's phone rings (Chinese ringback)."""

_BUSY, _NO_ANSWER, _REJECTED = {17}, {18, 19}, {21}
_UNAVAILABLE = {1, 3, 20, 27}
_BUSY_SIP, _REJECTED_SIP = {486, 600}, {403, 603}


def attempt_outcome(cause: object, sip_code: int | None) -> str:
    """Name how a dial ended, from Asterisk's Q.850 cause and the SIP response."""
    if cause in _BUSY or sip_code in _BUSY_SIP:
        return "busy"
    if cause in _REJECTED or sip_code in _REJECTED_SIP:
        return "rejected"
    if cause in _NO_ANSWER or sip_code in (408, 480):
        return "no-answer"
    if cause in _UNAVAILABLE or sip_code == 404:
        return "unavailable"
    return "failed"


def _sip_code(event: Event) -> int | None:
    value = event.get("tech_cause")
    return value if isinstance(value, int) and 100 <= value < 700 else None


def _now() -> datetime:
    return datetime.now(UTC)


class TransferHost(Protocol):
    """What a transfer needs from the application."""

    ari: Ari
    redis: Redis
    transfers: TransferRecorder
    orders: WorkOrders

    @property
    def sounds(self) -> str: ...

    def endpoint_for(self, number: str) -> str | None: ...
    def transfer_ring_timeout(self) -> int: ...
    def transfer_caller_id(self) -> str: ...


@dataclass
class CallSide:
    """The call a transfer belongs to."""

    caller_id: str
    linkedid: str | None
    caller_number: str
    enterprise_id: int | None
    bridge_id: str
    seat_id: str | None
    claim_leg: Callable[[str], None] = lambda channel_id: None
    """Called with a specialist leg's channel id before it is dialled, so that its events
    (a busy answer comes within milliseconds) already reach the call."""


class Transfer:
    """A transfer request and its attempts, driven by its call's events."""

    def __init__(self, host: TransferHost, call: CallSide, route: Route, status: TransferStatus):
        self.host = host
        self.call = call
        self.route = route
        self.status = status
        self._message: str | None = None
        self.message_done = asyncio.Event()

    # --- starting --------------------------------------------------------------------------

    @classmethod
    async def begin(cls, host: TransferHost, call: CallSide, route: Route, via: str) -> Transfer:
        """Record the request and start it: dial the first number, or, out of the
        department's hours, make the work order at once."""
        in_hours = route.hours.is_open(clock.now())  # the site's clock (injectable in tests)
        request_id = await host.transfers.requested(
            call.caller_id, call.linkedid, call.seat_id, route, in_hours, via, _now()
        )
        status = TransferStatus(
            request_id, call.caller_id, route.matter, route.department, list(route.numbers)
        )
        transfer = cls(host, call, route, status)
        await transfer._publish("transfer-requested", via=via, in_hours=in_hours)
        if in_hours:
            await transfer._move(TransferEvent.OPEN)
            await transfer._dial_next()
        else:
            await transfer._move(TransferEvent.CLOSED)
            await transfer._make_order("closed", "department-closed")
        return transfer

    # --- what the call hands over ------------------------------------------------------------

    def owns(self, event: Event) -> bool:
        """Whether ``event`` is about this transfer's specialist leg or its playbacks."""
        channel = (event.get("channel") or {}).get("id")
        if channel is not None and channel == self.status.specialist_channel:
            return True
        playback = (event.get("playback") or {}).get("id")
        return playback is not None and playback in (self.status.ringback, self._message)

    async def handle(self, event: Event) -> None:
        """An event of the specialist's leg or of a playback of this transfer."""
        kind = event.get("type")
        playback = (event.get("playback") or {}).get("id")
        if kind == "PlaybackFinished" and playback == self._message:
            self._message = None
            self.message_done.set()
            return
        if playback is not None:
            return
        state = self.status.state
        if kind == "StasisStart" and state is TransferState.RINGING:
            await self._answered()
        elif kind in _GONE and state is TransferState.RINGING:
            await self._dial_failed(event)
        elif kind in _GONE and state in (TransferState.CONNECTED, TransferState.HANDED_OVER):
            self.status.specialist_channel = None
            await self._move(TransferEvent.SPECIALIST_GONE)
            await self.host.transfers.ended(self.status.request_id, _now())

    async def cancel(self, by: str | None) -> bool:
        """The seat cancels a transfer that is still ringing; False if there is none."""
        if self.status.state not in (TransferState.DIALING, TransferState.RINGING):
            return False
        channel = self.status.specialist_channel
        await self._move(TransferEvent.CANCEL)
        await self._stop_ringback()
        if channel is not None:
            self.status.specialist_channel = None
            await self.host.transfers.attempt_ended(channel, "cancelled", _now(), cancelled_by=by)
            await quietly(self.host.ari.hangup(channel))
        await self.host.transfers.finished(self.status.request_id, "cancelled", _now())
        await self._save()
        return True

    async def seat_gone(self) -> None:
        """The seat left the call (hung up or keyed out)."""
        self.call.seat_id = None
        with contextlib.suppress(TransitionRefused):
            await self._move(TransferEvent.SEAT_GONE)

    async def caller_gone(self) -> None:
        """The caller hung up: a dial still ringing is abandoned and hung up."""
        state, channel = self.status.state, self.status.specialist_channel
        with contextlib.suppress(TransitionRefused):
            await self._move(TransferEvent.CALLER_GONE)
        if channel is None:
            return
        if state in (TransferState.DIALING, TransferState.RINGING):
            await self.host.transfers.attempt_ended(channel, "abandoned", _now())
            await self.host.transfers.finished(self.status.request_id, "abandoned", _now())
        else:
            await self.host.transfers.ended(self.status.request_id, _now())
        await quietly(self.host.ari.hangup(channel))

    async def interrupted(self) -> None:
        """A new process found this transfer still dialling after a restart: the dial is
        dropped (the earlier process cannot be told its outcome); the call goes on."""
        await self._stop_ringback()
        channel = self.status.specialist_channel
        if channel is not None:
            self.status.specialist_channel = None
            await quietly(self.host.ari.hangup(channel))
            await self.host.transfers.attempt_ended(channel, "failed", _now())
        await self.host.transfers.finished(self.status.request_id, "failed", _now())
        with contextlib.suppress(TransitionRefused):
            await self._move(TransferEvent.CANCEL)

    @property
    def active(self) -> bool:
        return self.status.state not in FINAL

    @property
    def specialist_on_line(self) -> bool:
        return self.status.state in (TransferState.CONNECTED, TransferState.HANDED_OVER)

    # --- dialling ------------------------------------------------------------------------

    async def _dial_next(self) -> None:
        """Dial the next number; a number that cannot even be dialled moves on at once."""
        while True:
            self.status.attempt += 1
            number = self.status.number
            assert number is not None
            channel = leg_id(SPECIALIST, self.call.caller_id)
            self.status.specialist_channel = channel
            self.call.claim_leg(channel)
            await self.host.transfers.attempt_started(
                self.status.request_id, self.status.attempt, number, channel, _now()
            )
            endpoint = self.host.endpoint_for(number)
            try:
                if endpoint is None:
                    raise AriError("POST", "/channels", 400, f"no route to {number}")
                await self.host.ari.originate(
                    endpoint=endpoint,
                    channel_id=channel,
                    app_args=f"specialist,{self.call.caller_id}",
                    caller_id=self.host.transfer_caller_id(),
                    ring_seconds=self.host.transfer_ring_timeout(),
                    originator=self.call.caller_id,
                )
            except AriError as error:
                # not registered, or no way to reach the number: unavailable
                log.info(
                    "transfer %s: %s cannot be dialled (%s)", self.status.request_id, number, error
                )
                self.status.specialist_channel = None
                await self.host.transfers.attempt_ended(channel, "unavailable", _now())
                await self._publish("transfer-attempt", number=number, outcome="unavailable")
                if not self.status.numbers_left:
                    await self._move(TransferEvent.GIVE_UP)
                    await self._make_order("unanswered", "transfer-failed")
                    return
                await self._move(TransferEvent.FORWARD)
                continue
            await self._move(TransferEvent.DIALED)
            await self._start_ringback()
            await self._publish("transfer-ringing", number=number)
            return

    async def _dial_failed(self, event: Event) -> None:
        channel, number = self.status.specialist_channel, self.status.number
        assert channel is not None and number is not None
        self.status.specialist_channel = None
        sip_code = _sip_code(event)
        cause = event.get("cause")
        outcome = attempt_outcome(cause, sip_code)
        await self.host.transfers.attempt_ended(
            channel, outcome, _now(), cause if isinstance(cause, int) else None, sip_code
        )
        await self._publish("transfer-attempt", number=number, outcome=outcome)
        if self.status.numbers_left:
            await self._move(TransferEvent.FORWARD)
            await self._dial_next()
        else:
            await self._stop_ringback()
            await self._move(TransferEvent.GIVE_UP)
            await self._make_order("unanswered", "transfer-failed")

    async def _answered(self) -> None:
        channel, number = self.status.specialist_channel, self.status.number
        assert channel is not None
        await self._stop_ringback()
        await self.host.ari.add_to_bridge(self.call.bridge_id, channel)
        await self._move(TransferEvent.ANSWERED)
        await self.host.transfers.attempt_ended(channel, "answered", _now())
        await self.host.transfers.finished(
            self.status.request_id, "answered", _now(), answered_number=number
        )
        await self._publish("transfer-answered", number=number)

    # --- when nobody can be reached ----------------------------------------------------------

    async def _make_order(self, reason: str, prompt: str) -> None:
        await self._stop_ringback()
        order = await asyncio.to_thread(
            self.host.orders.create,
            self.route.department,
            Level.SECOND_URGENT,
            reason,
            clock.now(),
            matter=self.route.matter,
            enterprise_id=self.call.enterprise_id,
            caller_number=self.call.caller_number,
            caller_channel=self.call.caller_id,
            transfer_request_id=self.status.request_id,
        )
        self.status.order = str(order["number"])
        outcome = "closed" if reason == "closed" else "failed"
        await self.host.transfers.finished(
            self.status.request_id, outcome, _now(), work_order_id=int(order["id"])
        )
        await self._save()
        await self._publish("transfer-ordered", order=order["number"], reason=reason)
        # caller and seat hear it together in the bridge
        try:
            self._message = await self.host.ari.play_to_bridge(
                self.call.bridge_id, f"sound:{self.host.sounds}/{prompt}"
            )
        except AriError as error:
            log.warning("could not tell the call %s: %s", self.call.caller_id, error)
            self.message_done.set()

    # --- plumbing ------------------------------------------------------------------------

    async def _start_ringback(self) -> None:
        if self.status.ringback is None:
            try:
                playback = await self.host.ari.play_to_bridge(self.call.bridge_id, RINGBACK)
            except AriError as error:
                log.warning("no ringback for %s: %s", self.call.caller_id, error)
                return
            self.status.ringback = playback
            await self._save()

    async def _stop_ringback(self) -> None:
        if self.status.ringback is not None:
            playback, self.status.ringback = self.status.ringback, None
            await quietly(self.host.ari.stop_playback(playback))

    async def _move(self, event: TransferEvent) -> TransferState:
        state = self.status.apply(event)
        await self._save()
        return state

    async def _save(self) -> None:
        try:
            await save(self.host.redis, self.status)
        except Exception as error:  # the console loses a step; the call goes on
            log.warning("could not save transfer %s: %s", self.status.request_id, error)

    async def _publish(self, kind: str, **details: object) -> None:
        await publish(
            self.host.redis,
            kind,
            caller=self.call.caller_id,
            seat=self.call.seat_id,
            transfer=self.status.request_id,
            matter=self.route.matter,
            department=self.route.department,
            state=self.status.state.value,
            **details,
        )
