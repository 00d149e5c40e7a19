"""One inbound call in the Stasis application: the edge between its decisions and Asterisk.

Every event of a call (its caller's channel, its seat's and specialist's legs, its
playbacks, a seat offered by the dispatcher, a command from the API, a timer) goes into the
call's own inbox and is handled by the call's one task, in order: two events of a call are
never handled at once, so there are no races between them. The task turns each ARI event
into the call's events (:mod:`ari_app.translate`), asks the queue's policy what to do
(:func:`queues.decide`, which hands transfer events to :mod:`transfer.machine`) and
carries the actions out: ARI requests, the queue's steps in Redis, records handed to the
writer, events on the bus. What an action brings back (a dial refused, a prompt that could
not be played) goes back in as an event. Whatever happens, the call ends with no channel of
its own left up and no bridge left behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import TYPE_CHECKING, Protocol, assert_never

from redis.exceptions import RedisError

from ari_app.client import AriClient, AriError, Event, bridge_caller_and_seat, quietly
from ari_app.store_steps import callback_step, store_step
from ari_app.translate import CallView, translate
from call import events, state
from call.phases import decide
from callback.steps import (
    BookCallback,
    CancelCallback,
    CloseCallback,
    DropCallbackCard,
    KeepCallbackCard,
    RebookCallback,
)
from core import clock
from core.actions import (
    AddToBridge,
    Answer,
    Bridge,
    CancelTimer,
    DestroyBridge,
    Dial,
    End,
    HangUp,
    LegKind,
    OpenBridge,
    Play,
    Publish,
    Purpose,
    Record,
    Ringback,
    SetVariable,
    StartMusic,
    StartRecording,
    StopMusic,
    StopPlaying,
    Timer,
    ToAsteriskQueue,
    WakeAt,
)
from core.events import publish
from queues import steps
from queues.announcements import position_prompt
from queues.dispatch import Offer
from transfer.state import (
    CountLive,
    DialAccepted,
    DialRefused,
    RingbackStarted,
    SaveTransfer,
    SpecialistHungUp,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ari_app.recording import CallRecorder
    from callback.book import CallbackBook
    from cdr.live import LiveRates
    from core.writer import RecordWriter
    from queues.line import WaitingLine
    from queues.seats import SeatPool

log = logging.getLogger(__name__)

STORE_BACK: Event = {"type": "HotlineStoreBack"}
"""Posted to every call when Redis answers again: the call tells it what it could not."""
OWED = (steps.ReleaseSeat, steps.AnsweredLine, steps.LeaveLine)
"""The steps a call repeats when Redis is back: a seat given back, a place in line left."""
RINGBACK = "tone:ring;tonezone=cn"
"""What caller and seat hear while the specialist's phone rings (Chinese ringback)."""
ASTERISK_QUEUE = ("hotline-entry", "fallback", 1)
"""Where in the dialplan a caller goes on when the app cannot serve it (context, extension,
priority): Asterisk's own queue (``asterisk-conf/extensions.conf.j2``)."""


class CallHost(Protocol):
    """What a call needs from the application process that hosts it."""

    name: str
    """The application's name (one per process)."""
    ari: AriClient
    redis: Redis
    seats: SeatPool
    writer: RecordWriter
    live: LiveRates | None
    callbacks: CallbackBook
    recorder: CallRecorder

    def own(self, channel_id: str, call: InboundCall) -> None: ...
    def forget(self, call: InboundCall) -> None: ...
    def line(self, queue: str) -> WaitingLine: ...
    def deliver(self, offers: list[Offer]) -> None: ...
    def handed_over(self, caller: str) -> None: ...
    def context(self) -> state.Context: ...
    @property
    def sounds(self) -> str: ...


class InboundCall:
    """A caller on the hotline number, from arrival to the last leg gone."""

    def __init__(self, host: CallHost, caller: state.Caller) -> None:
        self.host = host
        self.caller = caller
        self.task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[Event | events.CallEvent] = asyncio.Queue()
        self._timers: dict[Timer, float] = {}
        self._playbacks: dict[str, Purpose] = {}
        self._playing: dict[Purpose, str] = {}
        self._ended = False
        self._owed: list[state.CallAction] = []
        """Steps Redis did not take (see :data:`OWED`), repeated when it is back."""

    @property
    def caller_id(self) -> str:
        return self.caller.channel

    # --- plumbing ----------------------------------------------------------------------

    def start(self, first: events.CallEvent | None = None) -> None:
        """Start the call's task: a new caller (``Arrived``) or a call taken over."""
        self.host.own(self.caller_id, self)
        for leg in self.legs():
            self.host.own(leg, self)
        if self.caller.bridge is not None:
            self.host.own(f"bridge:{self.caller.bridge}", self)
        self.task = asyncio.create_task(
            self._run(first or events.Arrived()), name=f"call-{self.caller_id}"
        )

    @property
    def owes(self) -> bool:
        """Whether steps Redis missed wait to be taken (see :data:`OWED`)."""
        return bool(self._owed)

    def legs(self) -> list[str]:
        """The legs this call dialled that are still its own (seat, specialist)."""
        seat = self.caller.seat.channel_id if self.caller.seat else None
        transfer = self.caller.transfer
        specialist = transfer.specialist_channel if transfer else None
        return [leg for leg in (seat, specialist) if leg]

    def expects(self, channel_id: str) -> bool:
        """Whether this call dialled the leg ``channel_id`` (its seat or its specialist)."""
        return channel_id in self.legs()

    def waits_for(self, timer: Timer) -> bool:
        """Whether the call has asked to be woken at ``timer``."""
        return timer in self._timers

    @property
    def settled(self) -> bool:
        """Whether every event handed to the call so far has been dealt with."""
        return self._inbox.empty()

    def post(self, event: Event | events.CallEvent) -> None:
        """Hand an event of this call to its task (an ARI event, or one of the call's own)."""
        self._inbox.put_nowait(event)

    @property
    def view(self) -> CallView:
        seat = self.caller.seat
        transfer = self.caller.transfer
        return CallView(
            caller=self.caller_id,
            calling_out=self.caller.phase is state.Phase.CALLING_BACK,
            seat_leg=seat.channel_id if seat else None,
            seat_answered=bool(seat and seat.answered),
            specialist_leg=transfer.specialist_channel if transfer else None,
            playbacks=self._playbacks,
        )

    async def _next(self) -> Event | events.CallEvent:
        """The call's next event: from its inbox, or a timer that has come."""
        while True:
            if not self._inbox.empty():
                return self._inbox.get_nowait()
            if not self._timers:
                return await self._inbox.get()
            timer, at = min(self._timers.items(), key=lambda item: item[1])
            item = await clock.next_before(self._inbox, at)
            if item is not None:
                return item
            if self._timers.get(timer) == at:
                del self._timers[timer]
                return events.TimerDue(timer)

    async def _run(self, first: events.CallEvent) -> None:
        try:
            await self._handle(first)
            while not self._ended:
                item = await self._next()
                if item is STORE_BACK:
                    await self._settle_owed()
                    continue
                if not isinstance(item, dict):
                    await self._handle(item)
                    continue
                for event in translate(item, self.view):
                    await self._handle(event)
                self._forget_playback(item)
        except asyncio.CancelledError:
            # The application is stopping, not the call: its legs stay up and keep their audio.
            self.host.forget(self)
            raise
        except Exception:
            log.exception("call %s failed; ending it as well as it can", self.caller_id)
            await self._wind_down()
        self.host.forget(self)

    async def _handle(self, event: events.CallEvent) -> None:
        """Decide about one event and carry the actions out; what they bring back is
        decided about next, in order."""
        pending: collections.deque[events.CallEvent] = collections.deque([event])
        while pending and not self._ended:
            decided = decide(self.caller, pending.popleft(), self.host.context())
            for action in decided:
                pending.extend(await self._carry_out(action))

    async def _wind_down(self) -> None:
        """After an unexpected failure: end the call, each step on its own."""
        if self._ended:
            return
        for action in decide(self.caller, events.CallBroken("failure"), self.host.context()):
            try:
                await self._carry_out(action)
            except Exception as error:
                log.warning("call %s: could not %r: %s", self.caller_id, action, error)
        self._ended = True

    def _forget_playback(self, event: Event) -> None:
        if event.get("type") != "PlaybackFinished":
            return
        playback = str((event.get("playback") or {}).get("id", ""))
        purpose = self._playbacks.pop(playback, None)
        if purpose is not None and self._playing.get(purpose) == playback:
            del self._playing[purpose]

    # --- carrying actions out ----------------------------------------------------------

    async def _carry_out(self, action: state.CallAction) -> list[events.CallEvent]:
        """Do one action; the events it brings back. A step Redis did not answer comes back
        as the store lost (a waiting caller goes on in Asterisk's queue; a call goes on)."""
        try:
            return await self._do(action)
        except RedisError as error:
            log.warning("call %s: Redis failed to %r: %s", self.caller_id, action, error)
            if isinstance(action, OWED):
                self._owed.append(action)
            return [events.StoreLost()]

    async def _settle_owed(self) -> None:
        """Redis is back: the steps it missed are taken now, in order (a seat held for this
        call while it is surveyed, or its place kept while it talks, would block others)."""
        owed, self._owed = self._owed, []
        for number, action in enumerate(owed):
            try:
                await self._do(action)
            except RedisError as error:
                log.warning("call %s: still could not %r: %s", self.caller_id, action, error)
                self._owed = owed[number:]
                return
            log.info("call %s: %r done now that Redis is back", self.caller_id, action)

    async def _do(self, action: state.CallAction) -> list[events.CallEvent]:
        ari, caller = self.host.ari, self.caller_id
        match action:
            case Record(record):
                self.host.writer.put(record)
            case Publish(kind, details):
                try:
                    await publish(self.host.redis, kind, app=self.host.name, **details)
                except RedisError as error:  # the dashboards miss a step; the call goes on
                    log.debug("could not announce %s of %s: %s", kind, caller, error)
            case WakeAt(timer, at):
                self._timers[timer] = at
            case CancelTimer(timer):
                self._timers.pop(timer, None)
            case Answer(channel):
                await ari.answer(channel)
            case HangUp(channel):
                await quietly(ari.hangup(channel))
            case StartMusic(channel):
                try:
                    await ari.start_moh(channel)
                except AriError as error:  # silence is bad, losing the call is worse
                    log.warning("no music on hold for %s: %s", channel, error)
            case StopMusic(channel):
                with contextlib.suppress(AriError):
                    await ari.stop_moh(channel)
            case SetVariable(channel, name, value):
                await quietly(ari.set_variable(channel, name, value))
            case Play(prompt, purpose, channel, bridge):
                return await self._play(
                    f"sound:{self.host.sounds}/{prompt}", purpose, channel, bridge
                )
            case steps.AnnouncePosition(queue, offer_callback):
                ahead = await self.host.line(queue).ahead_of(caller)
                if ahead is None:
                    return [events.PromptEnded(Purpose.ANNOUNCEMENT)]
                media = f"sound:{self.host.sounds}/{position_prompt(ahead, offer_callback)}"
                return await self._play(media, Purpose.ANNOUNCEMENT, caller, None)
            case Ringback(bridge):
                await self._play(RINGBACK, Purpose.RINGBACK, None, bridge)
                playback = self._playing.get(Purpose.RINGBACK)
                if playback is not None:
                    return [events.TransferStep(RingbackStarted(playback))]
            case StopPlaying(purpose, playback):
                known = self._playing.pop(purpose, None)
                if playback or known:
                    await quietly(ari.stop_playback(playback or known or ""))
            case Dial():
                return await self._dial(action)
            case Bridge(bridge, caller_channel, seat_leg):
                self.host.own(f"bridge:{bridge}", self)  # its playbacks' events come here
                try:
                    await bridge_caller_and_seat(ari, bridge, caller_channel, seat_leg)
                except AriError as error:
                    log.warning("could not bridge %s with its seat: %s", caller_channel, error)
                    return [events.CallBroken(f"bridge: {error}")]
            case OpenBridge(bridge, channel):
                self.host.own(f"bridge:{bridge}", self)
                try:
                    await ari.create_bridge(bridge)
                    await ari.add_to_bridge(bridge, channel, absorb_dtmf=True)
                except AriError as error:
                    log.warning("could not open a bridge for %s: %s", channel, error)
                    return [events.CallBroken(f"bridge: {error}")]
            case AddToBridge(bridge, channel):
                try:
                    await ari.add_to_bridge(bridge, channel, absorb_dtmf=channel == caller)
                except AriError as error:
                    log.warning("could not bring %s into the call: %s", channel, error)
                    await quietly(ari.hangup(channel))
                    if channel == caller:  # the company called back
                        return [events.CallBroken(f"bridge: {error}")]
                    return [events.TransferStep(SpecialistHungUp(channel))]
            case StartRecording(bridge, caller_channel):
                await self.host.recorder.start(bridge, caller_channel)
            case DestroyBridge(bridge):
                await quietly(ari.destroy_bridge(bridge))
            case ToAsteriskQueue(channel):
                try:
                    await ari.continue_in_dialplan(channel, *ASTERISK_QUEUE)
                except AriError as error:
                    log.warning("could not send %s to Asterisk's queue: %s", channel, error)
                    return [events.CallBroken(f"fallback: {error}")]
                self.host.handed_over(channel)
                log.info("caller %s goes on in Asterisk's queue", channel)
            case End():
                self._ended = True
            case (
                BookCallback()
                | RebookCallback()
                | CloseCallback()
                | CancelCallback()
                | KeepCallbackCard()
                | DropCallbackCard()
            ):
                await callback_step(self, action)
            case (
                steps.JoinLine()
                | steps.AnsweredLine()
                | steps.LeaveLine()
                | steps.NewRound()
                | steps.ReleaseSeat()
                | steps.MarkSurveying()
                | SaveTransfer()
                | CountLive()
            ):
                await store_step(self, action)
            case _:
                assert_never(action)
        return []

    async def _play(
        self, media: str, purpose: Purpose, channel: str | None, bridge: str | None
    ) -> list[events.CallEvent]:
        """Start playing; if it cannot be played, its end comes back at once."""
        try:
            if bridge is not None:
                playback = await self.host.ari.play_to_bridge(bridge, media)
            else:
                playback = await self.host.ari.play(channel or self.caller_id, media)
        except AriError as error:
            log.warning("could not play %s to %s: %s", media, channel or bridge, error)
            return [events.PromptEnded(purpose)] if purpose is not Purpose.RINGBACK else []
        self._playbacks[playback] = purpose
        self._playing[purpose] = playback
        return []

    async def _dial(self, dial: Dial) -> list[events.CallEvent]:
        kind = dial.kind
        self.host.own(dial.leg, self)  # a busy answer comes within milliseconds
        endpoint = dial.endpoint
        if kind is LegKind.SEAT:  # the seat's desk phone, or its console's browser phone
            with contextlib.suppress(RedisError):
                endpoint = await self.host.seats.phone_of(endpoint.removeprefix("PJSIP/"))
        try:
            await self.host.ari.originate(
                endpoint=endpoint,
                channel_id=dial.leg,
                app_args=f"{kind.value},{self.caller_id}",
                caller_id=dial.caller_id,
                ring_seconds=dial.ring_seconds,
                originator=self._originator(kind),
            )
        except AriError as error:
            # not registered, or no way to reach it: the caller goes on
            log.info("%s %s cannot be rung: %s", kind.name.lower(), endpoint, error)
            if kind is LegKind.SEAT:
                return [events.SeatNotAnswered(dial.leg, None)]
            if kind is LegKind.COMPANY:
                return [events.CompanyMissed(None)]
            return [events.TransferStep(DialRefused(dial.leg))]
        if kind is LegKind.SPECIALIST:
            return [events.TransferStep(DialAccepted(dial.leg))]
        return []

    def _originator(self, kind: LegKind) -> str | None:
        """The channel a new leg is linked to (one call in Asterisk's records): the caller;
        for a call-back, whose caller is dialled last, the seat's leg."""
        if self.caller.callback is None:
            return self.caller_id
        seat = self.caller.seat
        return seat.channel_id if kind is LegKind.COMPANY and seat is not None else None
