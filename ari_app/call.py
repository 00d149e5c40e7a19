"""One inbound call in the Stasis application, from the caller's arrival to the last leg gone.

Every event of a call (its caller's channel, the seat's channel) goes into the call's own
inbox and is handled by the call's one task, in order: two events of a call are never
handled at once, so there are no races between them. Whatever happens, the call ends with
no channel of its own left up and no bridge left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from ari_app.client import Ari, AriError, Event
from redlist.directory import CallerIdentity, CallerKind, display_safe
from redlist.models import RedListTier
from redlist.numbers import safe_number

if TYPE_CHECKING:
    from cdr.recorder import CallRecorder
    from queues.line import WaitingLine
    from queues.seats import SeatPool

log = logging.getLogger(__name__)

_GONE = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})
SEAT_WAIT_POLL = 0.5
CAUSE_NO_ANSWER = 19
UNREACHABLE_REST = 30


class CallHost(Protocol):
    """What a call needs from the application that hosts it."""

    ari: Ari
    seats: SeatPool
    recorder: CallRecorder

    def own(self, channel_id: str, call: InboundCall) -> None: ...
    def forget(self, call: InboundCall) -> None: ...
    def seats_for(self, queue: str) -> list[str]: ...
    def has_queue(self, queue: str) -> bool: ...
    def line(self, queue: str) -> WaitingLine: ...
    def wrap_up(self, queue: str) -> int: ...
    def is_open(self, queue: str) -> bool: ...
    def max_wait(self, queue: str) -> int: ...
    @property
    def sounds(self) -> str: ...

    def ring_timeout(self, queue: str) -> int: ...


class CallerLeft(Exception):
    """The caller hung up; the call winds down."""


class MaxWaitReached(Exception):
    """The caller has waited the queue's maximum: no more waiting for a seat."""


@dataclass
class SeatLeg:
    seat_id: str
    channel_id: str
    answered: bool = False


def caller_from_channel(channel: Event, number: str) -> CallerIdentity:
    """What the front door decided, from the channel variables in the ARI snapshot.
    Missing or garbled values fall back to an unknown caller for the enterprise queue."""
    variables = channel.get("channelvars") or {}
    try:
        kind = CallerKind(variables.get("HOTLINE_CALLER_KIND") or "unknown")
    except ValueError:
        kind = CallerKind.UNKNOWN
    try:
        tier = RedListTier(variables["HOTLINE_TIER"]) if variables.get("HOTLINE_TIER") else None
    except ValueError:
        tier = None
    enterprise = str(variables.get("HOTLINE_ENTERPRISE_ID") or "")
    return CallerIdentity(
        kind=kind,
        number=number,
        enterprise_id=int(enterprise) if enterprise.isdigit() else None,
        name=display_safe(str(variables.get("HOTLINE_ENTERPRISE_NAME") or "")),
        tier=tier,
    )


def _now() -> datetime:
    return datetime.now(UTC)


class InboundCall:
    """A caller on the hotline number, served by one seat."""

    def __init__(self, host: CallHost, start: Event) -> None:
        channel = start["channel"]
        self.host = host
        self.caller_id: str = channel["id"]
        self.linkedid: str | None = channel.get("linkedid")
        self.caller_number = safe_number(channel.get("caller", {}).get("number"))
        self.called_number = safe_number(channel.get("dialplan", {}).get("exten"))
        self.caller = caller_from_channel(channel, self.caller_number)
        self.answered_by_front_door = channel.get("state") == "Up"
        self.queue = self.caller.queue if host.has_queue(self.caller.queue) else "enterprise"
        self.line = host.line(self.queue)
        self.arrived = time.time()
        self.bridge_id: str | None = None
        self.seat: SeatLeg | None = None
        self.outcome = "failed"
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    # --- plumbing ------------------------------------------------------------------------

    def start(self) -> None:
        self.host.own(self.caller_id, self)
        self.task = asyncio.create_task(self._run(), name=f"call-{self.caller_id}")

    def resume_connected(self, bridge_id: str, seat: SeatLeg) -> None:
        """Take over a call that an earlier process had already connected (after a restart):
        only its ending is left to handle."""
        self.bridge_id, self.seat = bridge_id, seat
        self.host.own(self.caller_id, self)
        self.host.own(seat.channel_id, self)
        self.task = asyncio.create_task(self._run_connected(), name=f"call-{self.caller_id}")

    async def _run_connected(self) -> None:
        try:
            self.outcome = await self._gone_while_unwatched() or await self._wait_for_hangup()
        except asyncio.CancelledError:
            self.host.forget(self)
            raise
        await self._finish()

    def post(self, event: Event) -> None:
        """Hand an event of this call to its task."""
        self._inbox.put_nowait(event)

    async def _next(self, wait: float | None) -> Event | None:
        try:
            return await asyncio.wait_for(self._inbox.get(), wait)
        except TimeoutError:
            return None

    def _is_caller_gone(self, event: Event) -> bool:
        return event.get("type") in _GONE and event.get("channel", {}).get("id") == self.caller_id

    async def _record(self, step: Awaitable[None]) -> None:
        """Write a record; if the database is down the call still goes on (logged)."""
        try:
            await step
        except Exception:
            log.exception("could not record call %s; the call goes on", self.caller_id)

    async def _run(self) -> None:
        try:
            await self._record(
                self.host.recorder.entered(
                    self.caller_id,
                    self.linkedid,
                    self.caller_number,
                    self.called_number,
                    _now(),
                    self.caller,
                    self.queue,
                )
            )
            await self._serve()
        except CallerLeft:
            pass
        except asyncio.CancelledError:
            # The application is stopping, not the call: its legs stay up and keep their audio.
            self.host.forget(self)
            raise
        except Exception:
            log.exception("call %s failed; cleaning up", self.caller_id)
            self.outcome = "failed"
        await self._finish()

    async def _finish(self) -> None:
        await self._clean_up()
        await self._record(self.host.recorder.ended(self.caller_id, self.outcome, _now()))
        self.host.forget(self)

    # --- the call ------------------------------------------------------------------------

    async def _serve(self) -> None:
        ari = self.host.ari
        if not self.answered_by_front_door:
            await ari.answer(self.caller_id)
        if not self.host.is_open(self.queue):
            await self._send_off("closed")
            return
        try:
            await ari.start_moh(self.caller_id)
        except AriError as error:  # silence is bad, losing the call is worse
            log.warning("no music on hold for %s: %s", self.caller_id, error)
        self.outcome = "abandoned"
        await self.line.join(self.caller_id, self.arrived, self.caller.tier)
        tried: set[str] = set()
        while self.seat is None or not self.seat.answered:
            try:
                seat_id = await self._claim_seat(tried)
            except MaxWaitReached:
                await self.line.leave(self.caller_id)
                await self._send_off("max-wait")
                return
            tried.add(seat_id)
            await self._ring(seat_id)
        await self._connect()
        self.outcome = await self._wait_for_hangup()

    async def _send_off(self, reason: str) -> None:
        """End the call with a message and a call-back request: the queue is ``closed``, or
        the caller reached the queue's ``max-wait``. The prompt has the reason's name."""
        self.outcome = reason
        await self._record(
            self.host.recorder.callback_requested(self.caller_id, self.queue, reason, _now())
        )
        with contextlib.suppress(AriError):
            await self.host.ari.stop_moh(self.caller_id)
        try:
            playback = await self.host.ari.play(
                self.caller_id, f"sound:{self.host.sounds}/{reason}"
            )
        except AriError as error:
            log.warning("could not play the %s message to %s: %s", reason, self.caller_id, error)
            return
        while True:  # until the message has been played, or the caller is gone
            event = await self._next(30.0)
            if event is None or self._is_caller_gone(event):
                return
            if (
                event.get("type") == "PlaybackFinished"
                and event.get("playback", {}).get("id") == playback
            ):
                return

    async def _claim_seat(self, tried: set[str]) -> str:
        """Wait (caller on hold) until a seat is free. Seats that already failed this call
        are skipped until every seat has had its turn; then, after a pause, all are tried."""
        while True:
            if time.time() - self.arrived >= self.host.max_wait(self.queue):
                raise MaxWaitReached
            fresh = [seat for seat in self.host.seats_for(self.queue) if seat not in tried]
            if fresh:
                seat = await self.host.seats.claim(self.caller_id, fresh, self.line)
                if seat is not None:
                    return seat
            else:
                tried.clear()
            event = await self._next(SEAT_WAIT_POLL)
            if event is not None and self._is_caller_gone(event):
                raise CallerLeft

    async def _ring(self, seat_id: str) -> None:
        """Ring one seat; on return ``self.seat.answered`` says whether it picked up."""
        channel_id = f"seat-{uuid.uuid4()}"
        self.seat = SeatLeg(seat_id, channel_id)
        self.host.own(channel_id, self)
        try:
            await self.host.ari.originate(
                endpoint=f"PJSIP/{seat_id}",
                channel_id=channel_id,
                app_args=f"seat,{self.caller_id}",
                caller_id=self.caller_number,
                ring_seconds=self.host.ring_timeout(self.queue),
                originator=self.caller_id,
            )
        except AriError as error:
            await self._free_seat()
            await self.line.not_answered(self.caller_id)
            if not await self._caller_present():
                raise CallerLeft from None
            # no phone registered, or none reachable: leave it out for a while
            log.warning(
                "seat %s cannot be rung (%s); not offered calls for %d s",
                seat_id,
                error,
                UNREACHABLE_REST,
            )
            await self.host.seats.rest(seat_id, UNREACHABLE_REST)
            return
        while True:
            event = await self._next(None)
            assert event is not None
            if self._is_caller_gone(event):
                raise CallerLeft
            if event.get("channel", {}).get("id") != channel_id:
                continue
            if event["type"] == "StasisStart":
                self.seat.answered = True
                await self.line.leave(self.caller_id)
                await self._record(
                    self.host.recorder.answered(self.caller_id, seat_id, channel_id, _now())
                )
                return
            if event["type"] in _GONE:
                cause = event.get("cause")
                log.info("seat %s did not answer (cause %s)", seat_id, cause)
                await self._free_seat()
                await self.line.not_answered(self.caller_id)
                if cause == CAUSE_NO_ANSWER:  # rang out: the agent is not at the phone
                    await self.host.seats.pause(seat_id, "no-answer")
                return

    async def _caller_present(self) -> bool:
        try:
            await self.host.ari.channel(self.caller_id)
        except AriError as error:
            return error.status != 404
        return True

    async def _connect(self) -> None:
        assert self.seat is not None
        ari = self.host.ari
        self.bridge_id = f"call-{uuid.uuid4()}"
        await ari.create_bridge(self.bridge_id, name=f"call {self.caller_id}")
        with contextlib.suppress(AriError):
            await ari.stop_moh(self.caller_id)
        await ari.add_to_bridge(self.bridge_id, self.caller_id)
        await ari.add_to_bridge(self.bridge_id, self.seat.channel_id, absorb_dtmf=True)

    async def _gone_while_unwatched(self) -> str | None:
        """A leg that hung up while no application was listening ends the call too."""
        assert self.seat is not None
        legs = ((self.caller_id, "caller-hangup"), (self.seat.channel_id, "seat-hangup"))
        for channel_id, outcome in legs:
            try:
                await self.host.ari.channel(channel_id)
            except AriError as error:
                if error.status == 404:
                    return outcome
        return None

    async def _wait_for_hangup(self) -> str:
        assert self.seat is not None
        while True:
            event = await self._next(None)
            assert event is not None
            if event.get("type") not in _GONE:
                continue
            channel = event.get("channel", {}).get("id")
            if channel == self.caller_id:
                return "caller-hangup"
            if channel == self.seat.channel_id:
                return "seat-hangup"

    # --- winding down --------------------------------------------------------------------

    async def _free_seat(self) -> None:
        """Give the seat back; after a call it took, it first gets its wrap-up time."""
        if self.seat is not None:
            seat, self.seat = self.seat, None
            if await self.host.seats.release(seat.seat_id, self.caller_id) and seat.answered:
                await self.host.seats.rest(seat.seat_id, self.host.wrap_up(self.queue))

    async def _clean_up(self) -> None:
        """Hang up every leg of the call that is still up and destroy its bridge."""
        ari = self.host.ari
        legs = [self.caller_id] + ([self.seat.channel_id] if self.seat else [])
        for channel_id in legs:
            await _quietly(ari.hangup(channel_id))
        if self.bridge_id is not None:
            await _quietly(ari.destroy_bridge(self.bridge_id))
        with contextlib.suppress(Exception):
            await self._free_seat()
        with contextlib.suppress(Exception):
            await self.line.leave(self.caller_id)


async def _quietly(step: Awaitable[None]) -> None:
    """Run an ARI clean-up step; a leg or bridge that is already gone (404) is fine."""
    try:
        await step
    except AriError as error:
        if error.status not in (404, 400):
            log.warning("clean-up step failed: %s", error)
    except Exception:
        log.exception("clean-up step failed")
