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

from redis.exceptions import RedisError

from ari_app.client import Ari, AriError, Event, bridge_caller_and_seat, exists, quietly
from ari_app.legs import SEAT, leg_id
from core.events import publish
from queues.announcements import position_prompt
from redlist.directory import CallerIdentity, CallerKind, display_safe
from redlist.models import RedListTier
from redlist.numbers import safe_number
from transfer.dialer import CallSide, Transfer, TransferHost
from transfer.keys import (
    CancelTransfer,
    Command,
    LeaveCall,
    MoveCaller,
    SeatKeypad,
    StartTransfer,
)
from transfer.machine import TransferState, TransferStatus

if TYPE_CHECKING:
    from cdr.recorder import CallRecorder
    from core.site import Queue, ReportSettings
    from queues.line import WaitingLine
    from queues.seats import SeatPool
    from transfer.plan import TransferPlan

log = logging.getLogger(__name__)

_GONE = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})
SEAT_WAIT_POLL = 0.5
CAUSE_NO_ANSWER = 19
DECLINED_CAUSES = frozenset({17, 21})
"""Q.850 user busy and call rejected: the agent turned the call down."""
UNREACHABLE_REST = 30
FIRST_ANNOUNCEMENT = 3.0
"""Seconds on hold before a waiting caller first hears how many are ahead of them."""
MOVED = "moved"
SURVEYED = ("seat-hangup", "specialist-hangup")
"""How a call ended when the caller is asked to rate it: whoever served them hung up."""
SURVEYING = "hotline:surveying"
"""Redis set of the callers being asked to rate their call."""
RATING_KEYS = {"1": "satisfied", "2": "basically-satisfied", "3": "dissatisfied"}
PROMPT_LIMIT = 30.0
"""Seconds a prompt may take before the call stops waiting for its end."""
COMMAND = "HotlineCommand"
"""The event type of a command sent to a call through the API (``ari_app.app``)."""


class CallHost(TransferHost, Protocol):
    """What a call needs from the application that hosts it."""

    name: str
    """The application's name (one per process)."""
    ari: Ari
    seats: SeatPool
    recorder: CallRecorder
    plan: TransferPlan

    def own(self, channel_id: str, call: InboundCall) -> None: ...
    def forget(self, call: InboundCall) -> None: ...
    def seats_for(self, queue: str) -> list[str]: ...
    def has_queue(self, queue: str) -> bool: ...
    def line(self, queue: str) -> WaitingLine: ...
    def settings(self, queue: str) -> Queue: ...
    def is_open(self, queue: str) -> bool: ...
    @property
    def sounds(self) -> str: ...
    @property
    def survey(self) -> ReportSettings: ...


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
    """A caller on the hotline number, served by one seat (or moved on by one to another
    queue, and served there)."""

    def __init__(self, host: CallHost, start: Event) -> None:
        channel = start["channel"]
        variables = channel.get("channelvars") or {}
        self.host = host
        self.caller_id: str = channel["id"]
        self.linkedid: str | None = channel.get("linkedid")
        self.caller_number = safe_number(channel.get("caller", {}).get("number"))
        self.called_number = safe_number(channel.get("dialplan", {}).get("exten"))
        self.caller = caller_from_channel(channel, self.caller_number)
        self.answered_by_front_door = channel.get("state") == "Up"
        queue = str(variables.get("HOTLINE_QUEUE") or self.caller.queue)
        self.queue = queue if host.has_queue(queue) else "enterprise"
        self.line = host.line(self.queue)
        self.arrived = _arrival(variables.get("HOTLINE_ARRIVED"))
        """When the caller first arrived: their place in every line they join."""
        self.joined = self.arrived
        """When the caller joined the queue they are in now: the maximum wait counts from it."""
        self.bridge_id: str | None = None
        self.seat: SeatLeg | None = None
        self.outcome = "failed"
        self._on_hold = False
        self._announcement: str | None = None
        self._next_announcement = float("inf")
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.keypad = SeatKeypad()
        self.transfer: Transfer | None = None
        self._resumed_transfer: TransferStatus | None = None

    @property
    def settings(self) -> Queue:
        """The settings of the queue the caller is in now."""
        return self.host.settings(self.queue)

    # --- plumbing ------------------------------------------------------------------------

    def start(self) -> None:
        self.host.own(self.caller_id, self)
        self.task = asyncio.create_task(self._run(), name=f"call-{self.caller_id}")

    def resume_connected(
        self, bridge_id: str, seat: SeatLeg | None, transfer: TransferStatus | None = None
    ) -> None:
        """Take over a call that an earlier process had already connected (after a restart):
        it goes on from the talk with its seat, its specialist, or both."""
        self.bridge_id, self.seat = bridge_id, seat
        self.host.own(self.caller_id, self)
        if seat is not None:
            self.host.own(seat.channel_id, self)
        if transfer is not None and transfer.specialist_channel:
            self.host.own(transfer.specialist_channel, self)
        self._resumed_transfer = transfer
        self.task = asyncio.create_task(self._run_connected(), name=f"call-{self.caller_id}")

    async def _run_connected(self) -> None:
        try:
            if self._resumed_transfer is not None:
                self.transfer = await self._resume_transfer(self._resumed_transfer)
            self.outcome = await self._gone_while_unwatched() or await self._talk()
            if self.outcome == MOVED:
                await self._move_on()
                await self._serve_in_queues()
            await self._survey()
        except CallerLeft:
            pass
        except asyncio.CancelledError:
            self.host.forget(self)
            raise
        except Exception:
            log.exception("call %s failed; cleaning up", self.caller_id)
            self.outcome = "failed"
        await self._finish()

    def expects(self, channel_id: str) -> bool:
        """Whether this call dialled the leg ``channel_id`` (its seat or its specialist)."""
        transfer = self.transfer.status.specialist_channel if self.transfer else None
        seat = self.seat.channel_id if self.seat else None
        return channel_id in (transfer, seat)

    def post(self, event: Event) -> None:
        """Hand an event of this call to its task."""
        self._inbox.put_nowait(event)

    async def _next(self, wait: float | None) -> Event | None:
        """The call's next event, or None after ``wait`` seconds. The end of a position
        announcement is handled here, wherever the call is: music on hold comes back."""
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                event = await asyncio.wait_for(self._inbox.get(), remaining)
            except TimeoutError:
                return None
            if not await self._announcement_event(event):
                return event

    def _is_caller_gone(self, event: Event) -> bool:
        return event.get("type") in _GONE and event.get("channel", {}).get("id") == self.caller_id

    async def _record(self, step: Awaitable[None]) -> None:
        """Write a record; if the database is down the call still goes on (logged)."""
        try:
            await step
        except Exception:
            log.exception("could not record call %s; the call goes on", self.caller_id)

    async def _publish(self, kind: str, **details: object) -> None:
        await publish(
            self.host.seats.redis,
            kind,
            queue=self.queue,
            caller=self.caller_id,
            app=self.host.name,
            **details,
        )

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
            if not self.answered_by_front_door:
                await self.host.ari.answer(self.caller_id)
            await self._serve_in_queues()
            await self._survey()
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
        if self._on_hold:
            await self._publish("caller-left", reason=self.outcome, waited=self._waited())
        await self._record(self.host.recorder.ended(self.caller_id, self.outcome, _now()))
        await self._publish("call-ended", outcome=self.outcome)
        self.host.forget(self)

    # --- the call ------------------------------------------------------------------------

    async def _serve_in_queues(self) -> None:
        """Serve the caller in their queue, and again in the next one each time a seat
        moves them on."""
        while await self._serve() == MOVED:
            await self._move_on()

    async def _serve(self) -> str:
        """Wait in line for a seat and talk to it; the outcome (``moved``: go on)."""
        if not self.host.is_open(self.queue):
            await self._send_off("closed")
            return self.outcome
        await self._wait_in_line()
        tried: set[str] = set()
        while self.seat is None or not self.seat.answered:
            try:
                seat_id = await self._claim_seat(tried)
            except MaxWaitReached:
                await self.line.leave(self.caller_id)
                await self._send_off("max-wait")
                return self.outcome
            tried.add(seat_id)
            await self._ring(seat_id)
        await self._connect()
        self.outcome = await self._talk()
        return self.outcome

    async def _wait_in_line(self) -> None:
        """Music on hold (unless a message is still playing) and a place in the line."""
        self.outcome = "abandoned"
        self._on_hold = True
        if self._announcement is None:
            await self._hold_music()
        ari = self.host.ari
        await quietly(ari.set_variable(self.caller_id, "HOTLINE_ARRIVED", f"{self.arrived:.3f}"))
        await self.line.join(self.caller_id, self.arrived, self.caller.tier)
        if self.settings.announce_every:
            self._next_announcement = self.joined + FIRST_ANNOUNCEMENT
        await self._publish(
            "caller-joined",
            number=self.caller_number,
            tier=self.caller.tier.value if self.caller.tier else None,
            position=await self.line.ahead_of(self.caller_id),
        )

    async def _hold_music(self) -> None:
        try:
            await self.host.ari.start_moh(self.caller_id)
        except AriError as error:  # silence is bad, losing the call is worse
            log.warning("no music on hold for %s: %s", self.caller_id, error)

    def _waited(self) -> float:
        return round(time.time() - self.joined, 3)

    async def _send_off(self, reason: str) -> None:
        """End the call with a message and a call-back request: the queue is ``closed``, or
        the caller reached the queue's ``max-wait``. The prompt has the reason's name."""
        self.outcome = reason
        if self._on_hold:
            self._on_hold = False
            await self._publish("caller-left", reason=reason, waited=self._waited())
        await self._end_announcement()
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

    # --- telling waiting callers where they are -------------------------------------------

    async def _announce(self, prompt: str) -> None:
        """Play a prompt to the caller on hold in place of the music (back when it ends)."""
        await self._end_announcement()
        with contextlib.suppress(AriError):
            await self.host.ari.stop_moh(self.caller_id)
        try:
            self._announcement = await self.host.ari.play(
                self.caller_id, f"sound:{self.host.sounds}/{prompt}"
            )
        except AriError as error:
            log.warning("could not play %s to %s: %s", prompt, self.caller_id, error)
            await self._hold_music()

    async def _announce_position(self) -> None:
        ahead = await self.line.ahead_of(self.caller_id)
        if ahead is not None:
            await self._announce(position_prompt(ahead))

    async def _announcement_event(self, event: Event) -> bool:
        """Whether ``event`` is about the announcement playing (and was dealt with)."""
        playback = event.get("playback") or {}
        if self._announcement is None or playback.get("id") != self._announcement:
            return False
        if event.get("type") == "PlaybackStarted":
            media = str(playback.get("media_uri", "")).rsplit("/", 1)[-1]
            await self._publish("caller-announced", prompt=media)
        elif event.get("type") == "PlaybackFinished":
            self._announcement = None
            if self._on_hold:
                await self._hold_music()
        return True

    async def _end_announcement(self) -> None:
        if self._announcement is not None:
            playback, self._announcement = self._announcement, None
            await quietly(self.host.ari.stop_playback(playback))

    # --- finding and ringing a seat -------------------------------------------------------

    async def _claim_seat(self, tried: set[str]) -> str:
        """Wait (caller on hold) until a seat is free. Seats that already failed this call
        are skipped until every seat has had its turn; then, after a pause, all are tried."""
        while True:
            now = time.time()
            if now - self.joined >= self.settings.max_wait:
                raise MaxWaitReached
            if now >= self._next_announcement and self._announcement is None:
                self._next_announcement = now + self.settings.announce_every
                await self._announce_position()
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
        channel_id = leg_id(SEAT, self.caller_id)
        self.seat = SeatLeg(seat_id, channel_id)
        self.host.own(channel_id, self)
        recorder = self.host.recorder
        await self._record(
            recorder.seat_rung(self.caller_id, self.queue, seat_id, channel_id, _now())
        )
        await self._publish("seat-ringing", seat=seat_id)
        try:
            await self.host.ari.originate(
                endpoint=f"PJSIP/{seat_id}",
                channel_id=channel_id,
                app_args=f"seat,{self.caller_id}",
                caller_id=self.caller_number,
                ring_seconds=self.settings.ring_timeout,
                originator=self.caller_id,
            )
        except AriError as error:
            await self._record(recorder.seat_attempt_ended(channel_id, "unreachable", _now()))
            await self._free_seat()
            await self.line.not_answered(self.caller_id)
            if not await exists(self.host.ari, self.caller_id):
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
            if event is None:
                continue
            if self._is_caller_gone(event):
                await self._record(recorder.seat_attempt_ended(channel_id, "caller-left", _now()))
                raise CallerLeft
            if event.get("channel", {}).get("id") != channel_id:
                continue
            if event["type"] == "StasisStart":
                self.seat.answered = True
                await self.line.leave(self.caller_id)
                await self._record(recorder.seat_attempt_ended(channel_id, "answered", _now()))
                await self._record(recorder.answered(self.caller_id, seat_id, channel_id, _now()))
                return
            if event["type"] in _GONE:
                await self._not_answered(event.get("cause"))
                return

    async def _not_answered(self, cause: object) -> None:
        """The seat being rung did not answer. Rang out: its agent is away, the seat is
        paused. Turned down: the next seat is tried. Anything else (no phone answering
        on the network): the seat is left out for a while."""
        assert self.seat is not None
        seat_id, channel_id = self.seat.seat_id, self.seat.channel_id
        if cause == CAUSE_NO_ANSWER:
            outcome = "no-answer"
        elif cause in DECLINED_CAUSES:
            outcome = "declined"
        else:
            outcome = "unreachable"
        log.info("seat %s did not answer (%s, cause %s)", seat_id, outcome, cause)
        await self._record(
            self.host.recorder.seat_attempt_ended(
                channel_id, outcome, _now(), cause if isinstance(cause, int) else None
            )
        )
        await self._free_seat()
        await self.line.not_answered(self.caller_id)
        if outcome == "no-answer":
            await self.host.seats.pause(seat_id, "no-answer")
        elif outcome == "unreachable":
            await self.host.seats.rest(seat_id, UNREACHABLE_REST)

    # --- talking -------------------------------------------------------------------------

    async def _connect(self) -> None:
        assert self.seat is not None
        ari = self.host.ari
        self._on_hold = False
        await self._publish("caller-answered", seat=self.seat.seat_id, waited=self._waited())
        await self._end_announcement()
        self.bridge_id = f"call-{uuid.uuid4()}"
        await bridge_caller_and_seat(ari, self.bridge_id, self.caller_id, self.seat.channel_id)

    async def _gone_while_unwatched(self) -> str | None:
        """A leg that hung up while no application was listening: the caller ends the call;
        the seat or the specialist leave it (and if nobody is left with the caller, it ends)."""
        ari = self.host.ari
        if not await exists(ari, self.caller_id):
            return "caller-hangup"
        if self.seat is not None and not await exists(ari, self.seat.channel_id):
            if self.transfer is None or not self.transfer.specialist_on_line:
                return "seat-hangup"
            await self._seat_leaves(hang_up=False)
        transfer = self.transfer
        specialist = transfer.status.specialist_channel if transfer else None
        if transfer is not None and specialist and not await exists(ari, specialist):
            await transfer.handle({"type": "ChannelDestroyed", "channel": {"id": specialist}})
            return await self._after_transfer_step()
        return None

    async def _talk(self) -> str:
        """The call once a seat has answered, until it ends: caller and seat talk, a
        specialist may be brought in (keys or API), the seat may leave. Returns how it ended
        (``caller-hangup``, ``seat-hangup``, ``specialist-hangup``, ``transfer-failed``) or
        ``moved``. The seat's keys reach the app only: the caller does not hear them."""
        while True:
            event = await self._next(None)
            if event is None:
                continue
            if self.transfer is not None and self.transfer.owns(event):
                await self.transfer.handle(event)
                ended = await self._after_transfer_step()
                if ended is not None:
                    return ended
                continue
            kind, channel = event.get("type"), event.get("channel", {}).get("id")
            seat = self.seat.channel_id if self.seat is not None else None
            if kind in _GONE and channel == self.caller_id:
                if self.transfer is not None:
                    await self.transfer.caller_gone()
                return "caller-hangup"
            if kind in _GONE and channel is not None and channel == seat:
                if self.transfer is None or not self.transfer.active:
                    return "seat-hangup"
                await self._seat_leaves(hang_up=False)  # the transfer goes on without the seat
            elif kind == "ChannelDtmfReceived" and channel is not None and channel == seat:
                command = self.keypad.press(str(event.get("digit", "")), time.monotonic())
                if command is not None and await self._obey(command, "keypad") == MOVED:
                    return MOVED
            elif kind == COMMAND:
                command = _command_from(event)
                if command is not None:
                    await self._obey(command, str(event.get("via") or "api"))

    async def _obey(self, command: Command, via: str) -> str | None:
        """Carry out a seat's command; ``moved`` when the caller is to be moved on."""
        transfer, seat = self.transfer, self.seat
        if isinstance(command, MoveCaller):
            idle = transfer is None or not transfer.active
            return MOVED if idle and self.settings.move_to is not None and seat else None
        if isinstance(command, StartTransfer):
            if transfer is not None and transfer.active:
                await self._publish("transfer-refused", reason="a transfer is already on")
                return None
            route = await asyncio.to_thread(self.host.plan.route, command.matter)
            if route is None or self.bridge_id is None:
                await self._publish("transfer-refused", reason=f"no matter {command.matter}")
                return None
            self.transfer = await Transfer.begin(self.host, self._side(self.bridge_id), route, via)
        elif isinstance(command, CancelTransfer) and transfer is not None:
            await transfer.cancel(seat.seat_id if seat else None)
        elif (
            isinstance(command, LeaveCall)
            and transfer is not None
            and transfer.status.state is TransferState.CONNECTED
        ):
            await self._seat_leaves(hang_up=True)
        return None

    async def _after_transfer_step(self) -> str | None:
        """After a transfer moved on: own its new leg; end the call if nobody but the
        caller is left; forget a finished transfer."""
        transfer = self.transfer
        assert transfer is not None
        state = transfer.status.state
        if state is TransferState.ENDED:
            self.transfer = None
            return "specialist-hangup" if self.seat is None else None
        if state is TransferState.ORDERED and transfer.message_done.is_set():
            self.transfer = None
            return "transfer-failed" if self.seat is None else None
        if state is TransferState.CANCELLED:
            self.transfer = None
            return "seat-hangup" if self.seat is None else None
        return None

    async def _seat_leaves(self, hang_up: bool) -> None:
        """The seat leaves the call (to its wrap-up); the transfer goes on without it."""
        seat = self.seat
        if seat is None:
            return
        if hang_up:
            await quietly(self.host.ari.hangup(seat.channel_id))
        await self._free_seat()
        await self._publish("seat-left", seat=seat.seat_id)
        if self.transfer is not None:
            await self.transfer.seat_gone()

    async def _resume_transfer(self, status: TransferStatus) -> Transfer | None:
        route = await asyncio.to_thread(self.host.plan.route, status.matter)
        if route is None or self.bridge_id is None:
            return None
        return Transfer(self.host, self._side(self.bridge_id), route, status)

    def _side(self, bridge_id: str) -> CallSide:
        """This call as its transfer sees it; the transfer's legs are owned by this call."""
        return CallSide(
            self.caller_id,
            self.linkedid,
            self.caller_number,
            self.caller.enterprise_id,
            bridge_id,
            self.seat.seat_id if self.seat else None,
            lambda channel_id: self.host.own(channel_id, self),
        )

    async def _move_on(self) -> None:
        """The seat moved the caller to its queue's ``move_to`` queue: the seat is let go
        (to its wrap-up), the caller hears that they are being moved and waits there, with
        their place by first arrival."""
        assert self.seat is not None and self.settings.move_to is not None
        ari, target, seat = self.host.ari, self.settings.move_to, self.seat
        log.info("seat %s moves %s from %s to %s", seat.seat_id, self.caller_id, self.queue, target)
        await self._publish("caller-left", reason=MOVED, to=target, seat=seat.seat_id)
        if self.bridge_id is not None:
            await quietly(ari.destroy_bridge(self.bridge_id))
            self.bridge_id = None
        await quietly(ari.hangup(seat.channel_id))
        await self._free_seat()
        await self._record(self.host.recorder.moved(self.caller_id, target, _now()))
        self.queue, self.line, self.joined = target, self.host.line(target), time.time()
        await quietly(ari.set_variable(self.caller_id, "HOTLINE_QUEUE", target))
        self._on_hold = True
        await self._announce("moving")

    # --- the return visit ----------------------------------------------------------------

    async def _survey(self) -> None:
        """The seat or the specialist hung up and the caller is still on the line: ask them
        to rate the service on the keypad (asked once more if no key comes), store the
        answer, thank them. Any other key is not an answer; nothing here can fail the call."""
        settings = self.host.survey
        if not settings.survey or self.outcome not in SURVEYED:
            return
        await self._free_seat()  # the seat is off to its wrap-up, not held by the survey
        if self.bridge_id is not None:
            await quietly(self.host.ari.destroy_bridge(self.bridge_id))
            self.bridge_id = None
        redis = self.host.seats.redis
        # a process taking this call over must not mistake it for a caller still waiting
        with contextlib.suppress(RedisError):
            await redis.sadd(SURVEYING, self.caller_id)
        rating = "no-answer"
        try:
            for _ in range(2):
                key = await self._ask("survey", settings.survey_wait)
                if key in RATING_KEYS:
                    rating = RATING_KEYS[key]
                    break
        finally:
            with contextlib.suppress(RedisError):
                await redis.srem(SURVEYING, self.caller_id)
        await self._record(self.host.recorder.rated(self.caller_id, rating))
        await self._publish("rated", rating=rating)
        if rating != "no-answer":
            await self._ask("survey-thanks", 0)

    async def _ask(self, prompt: str, wait: float) -> str | None:
        """Play ``prompt`` to the caller and return the first key they press while it
        plays or within ``wait`` seconds after it; None if none."""
        try:
            playback = await self.host.ari.play(
                self.caller_id, f"sound:{self.host.sounds}/{prompt}"
            )
        except AriError as error:
            log.warning("could not play %s to %s: %s", prompt, self.caller_id, error)
            return None
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while deadline is None or loop.time() < deadline:
            remaining = None if deadline is None else deadline - loop.time()
            event = await self._next(PROMPT_LIMIT if remaining is None else remaining)
            if event is None:
                break
            if self._is_caller_gone(event):
                raise CallerLeft()
            kind = event.get("type")
            if (
                kind == "ChannelDtmfReceived"
                and event.get("channel", {}).get("id") == self.caller_id
            ):
                await quietly(self.host.ari.stop_playback(playback))
                return str(event.get("digit", ""))
            if kind == "PlaybackFinished" and (event.get("playback") or {}).get("id") == playback:
                deadline = loop.time() + wait
        return None

    # --- winding down --------------------------------------------------------------------

    async def _free_seat(self) -> None:
        """Give the seat back; after a call it took, it first gets its wrap-up time."""
        if self.seat is not None:
            seat, self.seat = self.seat, None
            if await self.host.seats.release(seat.seat_id, self.caller_id) and seat.answered:
                await self.host.seats.rest(seat.seat_id, self.settings.wrap_up)

    async def _clean_up(self) -> None:
        """Hang up every leg of the call that is still up and destroy its bridge."""
        ari = self.host.ari
        legs = [self.caller_id] + ([self.seat.channel_id] if self.seat else [])
        if self.transfer is not None and self.transfer.status.specialist_channel:
            legs.append(self.transfer.status.specialist_channel)
        for channel_id in legs:
            await quietly(ari.hangup(channel_id))
        if self.bridge_id is not None:
            await quietly(ari.destroy_bridge(self.bridge_id))
        with contextlib.suppress(Exception):
            await self._free_seat()
        with contextlib.suppress(Exception):
            await self.line.leave(self.caller_id)


def _command_from(event: Event) -> Command | None:
    """A command the API sent to this call (see ``ari_app.app``)."""
    action = event.get("action")
    if action == "transfer" and str(event.get("matter", "")).isdigit():
        return StartTransfer(str(event["matter"]))
    if action == "cancel":
        return CancelTransfer()
    if action == "leave":
        return LeaveCall()
    return None


def _arrival(value: object) -> float:
    """When the caller first arrived (the app notes it on the channel, so a restart or a
    move keeps it); now if it is missing or not believable."""
    now = time.time()
    try:
        arrived = float(str(value))
    except ValueError:
        return now
    return arrived if now - 86400 < arrived <= now else now
