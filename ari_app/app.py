"""The Stasis application: one ARI connection, events routed to the call they belong to.

The app keeps its event stream open (reconnecting with back-off when Asterisk restarts);
each ``StasisStart`` of an inbound caller starts an :class:`~ari_app.call.InboundCall`,
and every later event is posted to the call that owns the channel. Seats offered by the
dispatcher (``queues.dispatch``) reach the calls the same way: straight from the Redis
step that made them when this process made it, or on this process's offers channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ari_app.backlog import Backlog, sent_at
from ari_app.call import InboundCall
from ari_app.callbacks import CallbackStarter, callback_rules
from ari_app.caller import caller_from_channel
from ari_app.client import CONNECTED, Ari, AriClient, AriConfig, AriError, Event, event_stream
from ari_app.housekeeping import Housekeeping
from ari_app.legs import leg_id
from ari_app.presence import LOCK_TTL, Beat, Presence
from ari_app.recording import CallRecorder
from ari_app.takeover import Takeover
from ari_app.translate import COMMAND
from ari_app.visits import VisitDialler
from call import events
from call.state import Caller, Context, QueueRules
from callback.book import CallbackBook
from cdr.live import LiveRates
from core import clock, keys
from core.actions import LegKind
from core.signals import stop_task
from core.site import Site
from core.writer import RecordWriter
from queues.dispatch import Offer
from queues.line import WaitingLine
from queues.seats import SeatPool
from return_visit.book import ReturnVisits
from transfer.routes import PLAN_CHANGED, Routes
from transfer.state import TransferContext

log = logging.getLogger(__name__)

RECORDING_EVENTS = frozenset({"RecordingStarted", "RecordingFinished", "RecordingFailed"})
RECONNECT_AT_MOST_EVERY = 2.0
"""Seconds between attempts to reach ARI again at most: a restarted Asterisk is served as
soon as it answers (calls meanwhile go to its own queue)."""


@dataclass(frozen=True)
class Services:
    """What the calls share besides ARI: Redis, the record writer, live figures, the plan."""

    redis: Redis
    writer: RecordWriter
    routes: Routes
    live: LiveRates | None = None
    refresh_calendar: Callable[[], Coroutine[object, object, None]] | None = None
    """Reads the calendar's entered days again (when the admin API says they changed)."""
    recordings: Path | None = None
    """Where the recordings go (the host's view), for the free-space check; None: unchecked."""
    visits: ReturnVisits | None = None
    """The return visits in SQL (None: this process makes none)."""


class StasisApp:
    """Routes ARI events to calls; hosts the calls' shared services."""

    def __init__(
        self,
        config: AriConfig,
        site: Site,
        services: Services,
        peers: Sequence[str] = (),
        ari: AriClient | None = None,
    ) -> None:
        self.config = config
        self.name = config.app
        self.peers = [peer for peer in peers if peer != self.name]
        """The other application processes' names: their calls are adopted if they go."""
        self.site = site
        self.redis = services.redis
        self.writer = services.writer
        self.routes = services.routes
        self.live = services.live
        self._refresh_calendar = services.refresh_calendar
        self.presence = Presence(self.redis, self.name)
        self.area_code = site.site.area_code
        self.callbacks = CallbackBook(self.redis)
        self.callback_rules = callback_rules(site)
        self.calling_back = CallbackStarter(self, self.callbacks, self.callback_rules)
        self.seats = SeatPool(self.redis, self.name, self.deliver)
        self.ari: AriClient = ari or Ari(config)
        self.recorder = CallRecorder(
            self.ari, self.writer, self.redis, services.recordings, site.recordings.min_free_mb
        )
        self.visits = VisitDialler(self, services.visits, site)
        self.lines = {
            queue.name: WaitingLine(self.redis, queue.name, queue.red_list_head_start, self.name)
            for queue in site.queues
        }
        self.rules = {
            queue.name: QueueRules(
                queue.name,
                frozenset(seat.id for seat in site.seats_of(queue.name)),
                queue.ring_timeout,
                queue.wrap_up,
                queue.max_wait,
                queue.announce_every,
                queue.move_to,
            )
            for queue in site.queues
        }
        self._hours = {queue.name: queue.hours.schedule(site.timezone) for queue in site.queues}
        self.owners: dict[str, InboundCall] = {}
        self.watching: set[str] = set()
        self.backlog = Backlog()
        """How long new callers wait for this process (when it is behind, they go on to
        Asterisk's queue)."""
        self.housekeeping = Housekeeping(self)
        self.takeover = Takeover(self)
        self.store_ok = True
        """Whether Redis answers (else new and waiting callers go on in Asterisk's queue)."""
        self.handed_over_calls: dict[str, bool] = {}
        """Callers sent on to Asterisk's queue whose records are still open → seen gone once."""
        self.connected = asyncio.Event()
        self._chores: set[asyncio.Task[None]] = set()
        self._sounds = "hotline"
        self._pbx_started: str | None = None
        """When the Asterisk this process last connected to started."""
        self.pbx_away = False
        """ARI's event stream dropped and is not back: seats offered meanwhile are held (a
        dial would fail and rest the seat as unreachable) and handed out once it is back."""
        self._held_offers: list[Offer] = []

    # --- what calls ask of their host -----------------------------------------------------

    def own(self, channel_id: str, call: InboundCall) -> None:
        self.owners[channel_id] = call

    def forget(self, call: InboundCall) -> None:
        for channel_id in [c for c, owner in self.owners.items() if owner is call]:
            del self.owners[channel_id]
        if call.caller_id in self.watching:
            self.watching.discard(call.caller_id)
            self._chore(self._unwatch(call.caller_id))

    async def _unwatch(self, caller: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(keys.watcher(caller))

    def line(self, queue: str) -> WaitingLine:
        return self.lines[queue]

    def handed_over(self, caller: str) -> None:
        """A caller went on in Asterisk's queue: its record is closed when it has gone, unless
        an application takes it back first (see :meth:`_follow_handed_over`)."""
        self.handed_over_calls[caller] = False

    @property
    def sounds(self) -> str:
        """Where Asterisk finds the hotline's prompts (the HOTLINE_SOUNDS global)."""
        return self._sounds

    def is_open(self, queue: str) -> bool:
        """Whether a queue takes calls now (its hours, the site's time zone, Chinese holidays)."""
        return self._hours[queue].is_open(clock.now())

    def context(self) -> Context:
        """The moment and the site's settings, as a call's decision reads them."""
        reports = self.site.reports
        return Context(
            now=clock.time(),
            queues=self.rules,
            is_open=self.is_open,
            new_leg=leg_id,
            new_bridge=lambda: f"call-{uuid.uuid4()}",
            survey=reports.survey,
            survey_wait=reports.survey_wait,
            routes=self.routes.route,
            transfer=self._transfer_context,
            new_request=lambda: uuid.uuid4().hex,
            store_ok=self.store_ok,
            app_behind=self.backlog.behind(time.monotonic()),
            callbacks=self.callback_rules,
            recording=self.site.recordings.enabled,
            recording_notice=self.site.recordings.enabled and self.site.recordings.notice,
            node=self.site.node_name,
        )

    @property
    def beat(self) -> Beat:
        """What this process's heartbeat says: starting, serving, or behind."""
        if not self.connected.is_set():
            return Beat.STARTING
        return Beat.BEHIND if self.backlog.behind(time.monotonic()) else Beat.SERVING

    def _transfer_context(self, caller: Caller) -> TransferContext:
        return TransferContext(
            now=clock.time(),
            bridge=caller.bridge or "",
            caller_number=caller.number,
            linkedid=caller.linkedid,
            enterprise_id=caller.enterprise_id,
            caller_id=self.site.transfer_caller_id,
            ring_seconds=self.site.transfer.ring_timeout,
            endpoint_for=self.site.endpoint_for,
            new_leg=lambda: leg_id(LegKind.SPECIALIST, caller.channel),
        )

    def deliver(self, offers: list[Offer]) -> None:
        """Hand seats offered to this process's callers to their calls (a caller that is
        gone meanwhile gives its seat back)."""
        for offer in offers:
            if offer.owner != self.name:
                continue  # published to its own process by Redis
            if self.pbx_away:  # no seat can be rung now: kept for the caller until ARI is back
                self._held_offers.append(offer)
                continue
            call = self.owners.get(offer.caller)
            if call is not None and call.caller_id == offer.caller:
                call.post(events.SeatOffered(offer.seat))
            else:
                self._chore(self.housekeeping.give_back(offer))

    @property
    def calls(self) -> list[InboundCall]:
        return list({id(call): call for call in self.owners.values()}.values())

    # --- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve calls until ``stop`` is set, reconnecting to ARI whenever the stream drops."""
        stop = stop or asyncio.Event()
        await self.seats.sync({seat.id: seat.queues for seat in self.site.seats})
        await self.presence.beat(Beat.STARTING)
        helpers = [
            asyncio.create_task(self.takeover.look_after_peers()),
            asyncio.create_task(self._listen()),
            asyncio.create_task(self.housekeeping.sweep()),
            asyncio.create_task(self.housekeeping.watch_store()),
            asyncio.create_task(self.routes.keep_fresh()),
            asyncio.create_task(self.calling_back.run()),
            asyncio.create_task(self.visits.run()),
        ]
        delay = 0.5
        try:
            while not stop.is_set():
                stream = asyncio.create_task(self._consume())
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({stream, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not stream.done():
                    stream.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await stream
                    break
                if self.site.node is not None and self.connected.is_set():
                    self._chore(self.housekeeping.watch_node())
                self.connected.clear()
                self.pbx_away = True
                error = stream.exception()
                if error is not None:
                    log.warning("ARI event stream lost (%s); reconnecting in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_AT_MOST_EVERY)
        finally:
            for task in helpers:
                with contextlib.suppress(Exception):
                    await stop_task(task)
            await self.visits.stop()
            await self._drain()
            await self.seats.close()
            with contextlib.suppress(Exception):  # the peers take over this process's calls
                await self.presence.leave()
            await self.ari.close()

    async def _consume(self) -> None:
        async for event in event_stream(self.config):
            if event.get("type") == CONNECTED:
                self._sounds = await self._sounds_dir()
                await self.notice_restart()
                # before any event of this connection is handled: the calls left to us
                async with self.presence.takeover(self.name, wait=LOCK_TTL):
                    await self.takeover.take_over(self.name)
                self.connected.set()
                self.pbx_away = False
                held, self._held_offers = self._held_offers, []
                self.deliver(held)  # a call Asterisk took with it gives its seat back
                await self.presence.beat(Beat.SERVING)
                await self.housekeeping.find_lost_offers()
                continue
            self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        """Route one event: a new inbound caller starts a call, the rest go to their owner."""
        kind = event.get("type")
        channel = event.get("channel") or {}
        args = event.get("args") or [None]
        if kind == "StasisStart" and args[0] == "inbound":
            self._note_wait(event)
            if channel.get("id") not in self.owners:  # not already taken over at connect
                arriving = caller_from_channel(
                    channel, set(self.rules), "music" in args, self.site.site.area_code
                )
                InboundCall(self, arriving).start()
            return
        if kind in RECORDING_EVENTS:
            target = str((event.get("recording") or {}).get("target_uri", ""))
            call = self.owners.get(target)
            self._chore(self.recorder.heard(event, call.caller_id if call else None))
            return
        if not channel and kind and kind.startswith("Playback"):
            # playbacks name their channel, or their bridge ("bridge:<id>", owned as such)
            target = str(event.get("playback", {}).get("target_uri", ""))
            channel = {"id": target.removeprefix("channel:")}
        if self.visits.route(channel.get("id", ""), event):
            return
        owner = self.owners.get(channel.get("id", ""))
        if owner is None and kind == "StasisStart":
            # a leg the app dialled for a call: "seat,<caller>" or "specialist,<caller>"
            caller = self.owners.get(str(args[1])) if len(args) > 1 else None
            if caller is not None and caller.expects(channel.get("id", "")):
                owner = caller
                self.own(channel["id"], caller)
        if owner is not None:
            owner.post(event)
        elif kind == "StasisStart":
            # a leg nobody owns any more (its call already ended): never leave it up
            self._chore(self.hang_up_stray(channel.get("id", "")))

    def _note_wait(self, event: Event) -> None:
        """How long a new caller waited for this process (``ari_app.backlog``)."""
        sent = sent_at(event.get("timestamp"))
        if sent is None:
            return
        now = time.monotonic()
        was_behind = self.backlog.behind(now)
        waited = time.time() - sent
        self.backlog.arrived(waited, now)
        if not was_behind and self.backlog.behind(now):
            # said at once, not at the next beat: the monitor must not send the callers this
            # process sends on to Asterisk's queue straight back to it
            self._chore(self._beat_now())
            log.warning(
                "a new caller waited %.0f ms for the app: new callers go on to Asterisk's "
                "queue until it keeps up",
                waited * 1000,
            )

    async def _beat_now(self) -> None:
        with contextlib.suppress(RedisError):
            await self.presence.beat(self.beat)

    def _chore(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def notice_restart(self) -> None:
        """After (re)connecting: if Asterisk started again since the last connection, every
        call of this process lost its channels with it (``PbxLost``: its caller is called
        back). A stream that only dropped and came back changes nothing."""
        try:
            started = await self.ari.started_at()
        except AriError as error:
            log.warning("could not tell when Asterisk started: %s", error)
            return
        before, self._pbx_started = self._pbx_started, started
        if before is None or started == before:
            return
        log.warning("Asterisk started again at %s: %d calls went with it", started, len(self.calls))
        self.lose_every_call()

    def lose_every_call(self) -> None:
        """This process's Asterisk went with every call (``PbxLost``: its caller is called
        back); an offer held for one of them goes with it (the call gives its seat back)."""
        self._held_offers = []
        for call in self.calls:
            call.post(events.PbxLost())
        self.visits.cut_all()

    async def _sounds_dir(self) -> str:
        try:
            value = await self.ari.global_variable("HOTLINE_SOUNDS")
        except AriError:
            value = None
        return value or self._sounds

    async def hang_up_stray(self, channel_id: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel_id)

    # --- offers, commands, the sweep --------------------------------------------------------

    async def _listen(self) -> None:
        """This process's offers channel and the API's commands, on one subscription. After
        every (re)subscription, reservations made meanwhile for this process's callers are
        looked for, so that an offer published while it was away is not lost."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(keys.offers(self.name), keys.COMMANDS)
                await self.housekeeping.find_lost_offers()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is not None:
                        self.hear(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("listening on Redis failed (%s); again in 1 s", error)
                await asyncio.sleep(1.0)

    def hear(self, message: dict[str, object]) -> None:
        """One message on this process's subscription: a seat offered, or a command."""
        channel, data = _text(message.get("channel")), _text(message.get("data"))
        if channel == keys.COMMANDS:
            try:
                command = json.loads(data)
            except ValueError:
                return
            if command.get("action") == PLAN_CHANGED:
                self._chore(self.routes.refresh())
                if self._refresh_calendar is not None:
                    self._chore(self._refresh_calendar())
                return
            owner = self.owners.get(str(command.get("call", "")))
            if owner is not None:
                owner.post({**command, "type": COMMAND})
            return
        queue, _, rest = data.partition(" ")
        caller, _, seat = rest.partition(" ")
        if queue and caller and seat:
            self.deliver([Offer(queue, caller, seat, self.name)])

    # --- taking over calls ----------------------------------------------------------------

    async def exists(self, channel_id: str) -> bool:
        """Whether Asterisk still has the channel (an error other than 404 counts as yes)."""
        try:
            await self.ari.channel(channel_id)
        except AriError as error:
            return error.status != 404
        return True

    async def _drain(self) -> None:
        tasks = [call.task for call in self.calls if call.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"StasisApp(app={self.config.app!r}, calls={len(self.calls)})"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
