"""Return visits made by one application process: the due ones claimed and called.

Every few seconds, while the visit hours are open, each process looks at the visits due
(``return_visit.book``); each one it claims — one conditional ``UPDATE``, so no two
processes call the same — becomes a :class:`VisitCaller`: the company's number dialled
through the trunk into this application (``visit,<id>``), then the questions, as
``return_visit.phases`` decides. The call's channel is ``visit-<id>-<random>``: a process
that takes over another's calls knows it for a visit's (:func:`is_visit`) and hangs it up;
the visit is due again at once (its claim is taken back by the book after a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from ari_app.callbacks import dial_out_endpoint
from ari_app.client import AriError, Event, quietly
from ari_app.translate import GONE
from core import clock
from core.actions import (
    CancelTimer,
    Dial,
    End,
    HangUp,
    Play,
    Publish,
    Purpose,
    Record,
    StopPlaying,
    Timer,
    WakeAt,
)
from core.events import publish
from core.site import Site
from return_visit.book import Claimed, ReturnVisits
from return_visit.phases import (
    Action,
    Answered,
    Cut,
    HungUp,
    Keyed,
    Missed,
    PromptEnded,
    Started,
    TimerDue,
    VisitCall,
    VisitContext,
    VisitEvent,
    decide,
)
from return_visit.records import VisitCallEnded
from return_visit.rules import AttemptOutcome, VisitRules

if TYPE_CHECKING:
    from ari_app.app import StasisApp

log = logging.getLogger(__name__)

LOOK_EVERY = 3.0
"""Seconds between looks at the visits due."""
TIDY_EVERY = 60.0
"""Seconds between tidying the book (late visits given up, dead processes' calls back)."""
_PREFIX = "visit-"


def visit_channel(visit_id: int) -> str:
    return f"{_PREFIX}{visit_id}-{uuid.uuid4().hex[:12]}"


def is_visit(channel_id: str) -> bool:
    """Whether a channel is a return visit's call."""
    return channel_id.startswith(_PREFIX)


def visit_of(channel_id: str) -> int | None:
    """The visit a call's channel was made for."""
    number = channel_id.removeprefix(_PREFIX).partition("-")[0]
    return int(number) if is_visit(channel_id) and number.isdigit() else None


class VisitCaller:
    """One visit's call in this process: its events in order, its actions carried out."""

    def __init__(self, host: StasisApp, call: VisitCall, ctx: VisitContext) -> None:
        self.host = host
        self.call = call
        self.ctx = ctx
        self.inbox: asyncio.Queue[VisitEvent] = asyncio.Queue()
        self.playing: dict[str, Purpose] = {}
        self.wake: float | None = None
        self.answered = False
        self.done = False

    def heard(self, event: Event) -> None:
        """One ARI event about the call's channel or its playbacks."""
        kind = str(event.get("type", ""))
        playback = (event.get("playback") or {}).get("id")
        if playback is not None:
            purpose = self.playing.get(str(playback))
            if kind == "PlaybackFinished" and purpose is not None:
                del self.playing[str(playback)]
                self.inbox.put_nowait(PromptEnded(purpose))
            return
        if kind == "StasisStart" and not self.answered:
            self.answered = True
            self.inbox.put_nowait(Answered())
        elif kind == "ChannelDtmfReceived":
            self.inbox.put_nowait(Keyed(str(event.get("digit", ""))))
        elif kind in GONE and not self.done:
            cause = event.get("cause")
            self.inbox.put_nowait(
                HungUp() if self.answered else Missed(cause if isinstance(cause, int) else None)
            )

    async def run(self) -> None:
        """From the dial to the last action; whatever happens, the channel is not left up
        and the call's end is recorded."""
        try:
            await self._step(Started())
            while not self.done:
                await self._step(await self._next())
        except asyncio.CancelledError:
            await self._step(Cut())
            raise
        except Exception:
            log.exception("return visit %s: the call failed", self.call.visit_id)
            await self._step(Cut())
        finally:
            self.host.visits.forget(self.call.channel)
            if not self.done:  # no row took it: never leave the call unrecorded
                await quietly(self.host.ari.hangup(self.call.channel))
                self.host.writer.put(_cut(self.call.visit_id, self.call.attempt, self.call.channel))

    async def _next(self) -> VisitEvent:
        """The next event: from the inbox, or the timer once the clock reaches it."""
        if self.wake is None:
            return await self.inbox.get()
        event = await clock.next_before(self.inbox, self.wake)
        if event is not None:
            return event
        self.wake = None
        return TimerDue(Timer.ANSWER_KEY)

    async def _step(self, event: VisitEvent) -> None:
        self.ctx = VisitContext(clock.time(), self.ctx.rules, self.ctx.caller_id, self.ctx.endpoint)
        for action in decide(self.call, event, self.ctx):
            await self._do(action)

    async def _do(self, action: Action) -> None:
        ari = self.host.ari
        match action:
            case Dial(leg, endpoint, caller_id, ring_seconds, kind):
                try:
                    await ari.originate(
                        endpoint=endpoint,
                        channel_id=leg,
                        app_args=f"{kind.value},{self.call.visit_id}",
                        caller_id=caller_id,
                        ring_seconds=ring_seconds,
                    )
                except AriError as error:
                    log.info("return visit %s: %s cannot be rung: %s", leg, endpoint, error)
                    self.inbox.put_nowait(Missed(None))
            case Play(prompt, purpose, channel, _):
                try:
                    media = f"sound:{self.host.sounds}/{prompt}"
                    playback = await ari.play(channel or self.call.channel, media)
                except AriError as error:
                    log.warning("return visit: could not play %s: %s", prompt, error)
                    self.inbox.put_nowait(PromptEnded(purpose))
                else:
                    self.playing[playback] = purpose
            case StopPlaying(purpose, _):
                for playback, playing in list(self.playing.items()):
                    if playing is purpose:  # its end is no longer awaited
                        del self.playing[playback]
                        await quietly(ari.stop_playback(playback))
            case HangUp(channel):
                await quietly(ari.hangup(channel))
            case WakeAt(_, at):
                self.wake = at
            case CancelTimer(_):
                self.wake = None
            case Publish(kind, details):
                with contextlib.suppress(Exception):  # the dashboards miss a step
                    await publish(self.host.redis, kind, app=self.host.name, **details)
            case Record(record):
                self.host.writer.put(record)
            case End():
                self.done = True


def _cut(visit: int, attempt: int, channel: str) -> VisitCallEnded:
    """A call the hotline lost: the visit is due again now, the call not counted."""
    now = clock.now()
    outcome = AttemptOutcome.INTERRUPTED.value
    return VisitCallEnded(visit, attempt, channel, now, now, outcome, None, (), now, False)


class VisitDialler:
    """Claims the visits due and calls them, for one application process."""

    def __init__(self, host: StasisApp, book: ReturnVisits | None, site: Site) -> None:
        self.host = host
        self.book = book
        self.rules = VisitRules.for_site(site)
        self.caller_id = site.transfer_caller_id
        self.endpoint = dial_out_endpoint(site)
        self.live: dict[str, VisitCaller] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._tidied = 0.0

    def route(self, channel_id: str, event: Event) -> bool:
        """Hand an event to the visit's call that owns ``channel_id``; whether one did."""
        caller = self.live.get(channel_id)
        if caller is None:
            return False
        caller.heard(event)
        return True

    async def take_back(self, channel_id: str) -> None:
        """A visit's call left by a process that stopped or died: hung up, and the visit
        due again at once (the call not counted)."""
        await quietly(self.host.ari.hangup(channel_id))
        visit = visit_of(channel_id)
        if visit is not None:
            self.host.writer.put(_cut(visit, 0, channel_id))
            log.info("return visit %s: its call %s was left behind; due again", visit, channel_id)

    def forget(self, channel_id: str) -> None:
        self.live.pop(channel_id, None)

    def cut_all(self) -> None:
        """Asterisk went: every visit's call went with it (each is due again)."""
        for caller in list(self.live.values()):
            caller.inbox.put_nowait(Cut())

    async def run(self) -> None:
        """Look at the visits due every few seconds while this process serves calls."""
        if self.book is None or not self.book.calls:
            return
        while True:
            try:
                if self.host.connected.is_set():
                    await self.start_due()
            except Exception as error:  # the database away: visits wait for it
                log.debug("could not look at the return visits due: %s", error)
            await clock.sleep_until(clock.time() + LOOK_EVERY)

    async def start_due(self) -> list[VisitCaller]:
        """Claim and call every visit due now, if the visit hours are open."""
        book, now = self.book, clock.now()
        if book is None or not self.rules.hours.is_open(now):
            return []
        if clock.time() - self._tidied >= TIDY_EVERY:
            await asyncio.to_thread(book.tidy, now)
            self._tidied = clock.time()
        started = []
        for visit_id in await asyncio.to_thread(book.due, now):
            channel = visit_channel(visit_id)
            claimed = await asyncio.to_thread(book.claim, visit_id, channel, now)
            if claimed is not None:
                started.append(self.call(claimed, channel))
        return started

    def call(self, claimed: Claimed, channel: str) -> VisitCaller:
        """Start the call of a claimed visit."""
        visit = VisitCall(
            claimed.visit_id, claimed.attempt, channel, claimed.number, claimed.due_by
        )
        ctx = VisitContext(clock.time(), self.rules, self.caller_id, self.endpoint)
        caller = VisitCaller(self.host, visit, ctx)
        self.live[channel] = caller
        task = asyncio.create_task(caller.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("return visit %s: call %d", claimed.visit_id, claimed.attempt)
        return caller

    async def stop(self, within: float = 5.0) -> None:
        """This process stops: its visits' calls are cut (each is due again), and given
        ``within`` seconds to say so before their tasks are cancelled."""
        self.cut_all()
        tasks = list(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=within)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
