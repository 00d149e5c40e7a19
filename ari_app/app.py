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

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ari_app.call import STORE_BACK, InboundCall, caller_from_channel
from ari_app.client import CONNECTED, Ari, AriConfig, AriError, Event, event_stream
from ari_app.legs import caller_of, kind_of, leg_id
from ari_app.presence import BEAT_EVERY, LOCK_TTL, Presence
from ari_app.translate import COMMAND
from call import events
from call.state import Caller, Context, Phase, QueueRules, SeatLeg
from cdr.live import LiveRates
from cdr.records import (
    AttemptsInterrupted,
    CallEnded,
    SeatAttemptEnded,
    UnobservedCallsClosed,
)
from core import clock, keys
from core.actions import LegKind
from core.events import publish
from core.outcomes import AttemptOutcome, CallOutcome, SeatOutcome
from core.signals import stop_task
from core.site import Site
from core.writer import RecordWriter
from queues.dispatch import Offer
from queues.line import WaitingLine, gone_for_good
from queues.seats import SeatPool
from transfer import machine
from transfer.records import DialEnded
from transfer.routes import PLAN_CHANGED, Routes

log = logging.getLogger(__name__)

MOVE_GRACE = 15.0
"""Seconds a channel moved in from a gone peer is not moved again (its StasisStart may lag)."""
WATCH_MAX = 86400
"""Seconds a note that a peer watches an adopted call is kept at most."""
STORE_CHECK_EVERY = 0.5
"""Seconds between the app's looks at Redis (a PING)."""
STORE_GRACE = 3.0
"""Seconds without an answer from Redis after which it counts as lost: the waiting callers go
on in Asterisk's queue. (A restart of Redis takes well under a second.)"""
SWEEP_EVERY = 2.0
"""Seconds between the sweeps that serve every line and pick up offers that went astray.
Not on the path of any call: seats are offered the moment something changes; the sweep only
covers a wrap-up whose process died before it ended, and a published offer that was lost."""


@dataclass(frozen=True)
class Services:
    """What the calls share besides ARI: Redis, the record writer, live figures, the plan."""

    redis: Redis
    writer: RecordWriter
    routes: Routes
    live: LiveRates | None = None
    refresh_calendar: Callable[[], Coroutine[object, object, None]] | None = None
    """Reads the calendar's entered days again (when the admin API says they changed)."""


class StasisApp:
    """Routes ARI events to calls; hosts the calls' shared services."""

    def __init__(
        self, config: AriConfig, site: Site, services: Services, peers: Sequence[str] = ()
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
        self.seats = SeatPool(self.redis, self.name, self.deliver)
        self.ari = Ari(config)
        self._lines = {
            queue.name: WaitingLine(self.redis, queue.name, queue.red_list_head_start, self.name)
            for queue in site.queues
        }
        self._rules = {
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
        self._owners: dict[str, InboundCall] = {}
        self._watching: set[str] = set()
        self._moved: dict[str, float] = {}
        """Channels this process moved into its application, and when (not moved twice)."""
        self.store_ok = True
        """Whether Redis answers (else new and waiting callers go on in Asterisk's queue)."""
        self._handed_over: dict[str, bool] = {}
        """Callers sent on to Asterisk's queue whose records are still open → seen gone once."""
        self.connected = asyncio.Event()
        self._chores: set[asyncio.Task[None]] = set()
        self._sounds = "hotline"

    # --- what calls ask of their host -----------------------------------------------------

    def own(self, channel_id: str, call: InboundCall) -> None:
        self._owners[channel_id] = call

    def forget(self, call: InboundCall) -> None:
        for channel_id in [c for c, owner in self._owners.items() if owner is call]:
            del self._owners[channel_id]
        if call.caller_id in self._watching:
            self._watching.discard(call.caller_id)
            self._chore(self._unwatch(call.caller_id))

    async def _unwatch(self, caller: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(keys.watcher(caller))

    def line(self, queue: str) -> WaitingLine:
        return self._lines[queue]

    def handed_over(self, caller: str) -> None:
        """A caller went on in Asterisk's queue: its record is closed when it has gone, unless
        an application takes it back first (see :meth:`_follow_handed_over`)."""
        self._handed_over[caller] = False

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
            queues=self._rules,
            is_open=self.is_open,
            new_leg=leg_id,
            new_bridge=lambda: f"call-{uuid.uuid4()}",
            survey=reports.survey,
            survey_wait=reports.survey_wait,
            routes=self.routes.route,
            transfer=self._transfer_context,
            new_request=lambda: uuid.uuid4().hex,
            store_ok=self.store_ok,
        )

    def _transfer_context(self, caller: Caller) -> machine.TransferContext:
        return machine.TransferContext(
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
            call = self._owners.get(offer.caller)
            if call is not None and call.caller_id == offer.caller:
                call.post(events.SeatOffered(offer.seat))
            else:
                self._chore(self._give_back(offer))

    async def _give_back(self, offer: Offer) -> None:
        """A seat offered to a caller this process has no call for: the seat is given back;
        if the caller's channel is gone, its place in the line goes too (else the caller,
        first in line, would be offered every seat in turn and hold the line for good)."""
        try:
            if not await self._exists(offer.caller):
                await self._free_place(offer.queue, offer.caller, "offered a seat")
                return
            await self.seats.release(offer.seat, offer.caller, ringing_in=offer.queue)
        except (AriError, RedisError) as error:
            log.warning(
                "could not give back seat %s offered to %s: %s", offer.seat, offer.caller, error
            )

    async def _free_place(self, queue: str, caller: str, found: str, ended: bool = True) -> None:
        """A caller who has gone leaves the line (a seat reserved for it is free again):
        announced on the bus and, if its channel is gone (``ended``) rather than waiting in
        Asterisk's queue, recorded as a call that ended unobserved."""
        self.deliver(await self.line(queue).leave(caller, clock.time()))
        where = "had gone" if ended else "waits in Asterisk's queue"
        log.warning(
            "caller %s %s but kept its place in %s (%s): removed", caller, where, queue, found
        )
        await publish(
            self.redis, "place-freed", app=self.name, queue=queue, caller=caller, found=found
        )
        if ended:
            self.writer.put(CallEnded(caller, CallOutcome.ENDED_UNOBSERVED, clock.now()))

    async def _free_gone(
        self, seen_gone: set[str] | None, found: str, owner: str | None = None
    ) -> set[str]:
        """Free the line places and busy seats whose channel is gone for good, or has gone on
        in Asterisk's own queue: away now and in ``seen_gone`` (None: away now is enough —
        only for the places of an application taken over, ``owner``, whose calls nobody else
        cleans up). Returns the channels away for the first time, to look at again."""
        places: set[tuple[str, str]] = set()
        for queue, line in self._lines.items():
            owners = await line.owners()
            places |= {
                (queue, caller)
                for caller in await line.callers()
                if caller not in self._owners  # a call of ours cleans up after itself
                and (owner is None or owners.get(caller) == owner)
            }
        busy = await self.seats.busy() if owner is None else {}
        held = {
            call: seat
            for seat, call in busy.items()
            if call not in self._owners and call != keys.FALLBACK_CALL  # not a channel's
        }
        if not places and not held:
            return set()
        snapshot = await self.ari.channels()
        live = {channel["id"] for channel in snapshot}
        here = live - {channel["id"] for channel in snapshot if in_asterisk_queue(channel)}
        channels = {caller for _, caller in places} | set(held)
        # with no earlier look, everything away now counts as seen away already
        earlier = channels if seen_gone is None else seen_gone
        gone, suspected = gone_for_good(channels, here, earlier)
        for queue, caller in sorted(places):
            if caller in gone:
                await self._free_place(queue, caller, found, ended=caller not in live)
        for call in sorted(gone & set(held)):
            seat = held[call]
            if await self._phone_in_call(seat):
                # put through by Asterisk's queue while Redis was away: the monitor's mirror
                # frees it when that call ends
                if await self.seats.hand_over(seat, call, keys.FALLBACK_CALL):
                    log.warning(
                        "seat %s was held for %s which is gone, but its phone is in a "
                        "call: held for Asterisk's queue",
                        seat,
                        call,
                    )
                continue
            if await self.seats.release(seat, call):
                log.warning("seat %s was held for %s which is gone (%s): freed", seat, call, found)
                await publish(
                    self.redis, "seat-freed", app=self.name, seat=seat, call=call, found=found
                )
        return suspected

    async def _phone_in_call(self, seat: str) -> bool:
        """Whether a seat's phone has a channel now (an error counts as yes: not freed)."""
        try:
            return bool((await self.ari.endpoint("PJSIP", seat)).get("channel_ids"))
        except AriError as error:
            return error.status != 404

    async def _follow_handed_over(self) -> None:
        """Close the records of callers sent on to Asterisk's queue once they have gone
        (seen gone twice), and forget those an application took back (it records them)."""
        if not self._handed_over:
            return
        snapshot = {channel["id"]: channel for channel in await self.ari.channels()}
        for caller, seen_gone in list(self._handed_over.items()):
            channel = snapshot.get(caller)
            if caller in self._owners or (channel is not None and in_stasis(channel)):
                del self._handed_over[caller]
            elif channel is None and seen_gone:
                del self._handed_over[caller]
                self.writer.put(CallEnded(caller, CallOutcome.ENDED_UNOBSERVED, clock.now()))
            else:
                self._handed_over[caller] = channel is None

    async def _watch_store(self) -> None:
        """Look at Redis every :data:`STORE_CHECK_EVERY`; once it has not answered for
        :data:`STORE_GRACE`, every caller still waiting goes on in Asterisk's queue (and
        every new caller, until it answers again)."""
        last_answer = time.monotonic()
        while True:
            try:
                await self.redis.ping()
            except RedisError as error:
                if self.store_ok and time.monotonic() - last_answer >= STORE_GRACE:
                    self.store_ok = False
                    log.warning(
                        "Redis has not answered for %.1f s (%s): waiting callers go "
                        "on in Asterisk's queue",
                        STORE_GRACE,
                        error,
                    )
                    for call in self.calls:
                        call.post(events.StoreLost())
            else:
                last_answer = time.monotonic()
                if not self.store_ok:
                    self.store_ok = True
                    log.warning("Redis answers again: the app queues new callers itself")
                for call in self.calls:
                    if call.owes:  # a step a hiccup made it miss
                        call.post(STORE_BACK)
            await asyncio.sleep(STORE_CHECK_EVERY)

    @property
    def calls(self) -> list[InboundCall]:
        return list({id(call): call for call in self._owners.values()}.values())

    # --- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve calls until ``stop`` is set, reconnecting to ARI whenever the stream drops."""
        stop = stop or asyncio.Event()
        await self.seats.sync({seat.id: seat.queues for seat in self.site.seats})
        await self.presence.beat(serving=False)
        helpers = [
            asyncio.create_task(self._look_after_peers()),
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._sweep()),
            asyncio.create_task(self._watch_store()),
            asyncio.create_task(self.routes.keep_fresh()),
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
                self.connected.clear()
                error = stream.exception()
                if error is not None:
                    log.warning("ARI event stream lost (%s); reconnecting in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            for task in helpers:
                with contextlib.suppress(Exception):
                    await stop_task(task)
            await self._drain()
            await self.seats.close()
            with contextlib.suppress(Exception):  # the peers take over this process's calls
                await self.presence.leave()
            await self.ari.close()

    async def _consume(self) -> None:
        async for event in event_stream(self.config):
            if event.get("type") == CONNECTED:
                self._sounds = await self._sounds_dir()
                # before any event of this connection is handled: the calls left to us
                async with self.presence.takeover(self.name, wait=LOCK_TTL):
                    await self._release_orphan_seats()
                    await self._take_over(self.name)
                self.connected.set()
                await self.presence.beat(serving=True)
                await self._find_lost_offers()
                continue
            self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        """Route one event: a new inbound caller starts a call, the rest go to their owner."""
        kind = event.get("type")
        channel = event.get("channel") or {}
        if kind == "StasisStart" and (event.get("args") or [None])[0] == "inbound":
            if channel.get("id") not in self._owners:  # not already taken over at connect
                InboundCall(self, caller_from_channel(channel, set(self._rules))).start()
            return
        if not channel and kind and kind.startswith("Playback"):
            # playbacks name their channel, or their bridge ("bridge:<id>", owned as such)
            target = str(event.get("playback", {}).get("target_uri", ""))
            channel = {"id": target.removeprefix("channel:")}
        owner = self._owners.get(channel.get("id", ""))
        if owner is None and kind == "StasisStart":
            # a leg the app dialled for a call: "seat,<caller>" or "specialist,<caller>"
            args = event.get("args") or []
            caller = self._owners.get(str(args[1])) if len(args) > 1 else None
            if caller is not None and caller.expects(channel.get("id", "")):
                owner = caller
                self.own(channel["id"], caller)
        if owner is not None:
            owner.post(event)
        elif kind == "StasisStart":
            # a leg nobody owns any more (its call already ended): never leave it up
            self._chore(self._hang_up_stray(channel.get("id", "")))

    def _chore(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _sounds_dir(self) -> str:
        try:
            value = await self.ari.global_variable("HOTLINE_SOUNDS")
        except AriError:
            value = None
        return value or self._sounds

    async def _hang_up_stray(self, channel_id: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel_id)

    async def _release_orphan_seats(self) -> None:
        """Free seats held for calls that no longer exist (after a crash of a process)."""
        try:
            live = {channel["id"] for channel in await self.ari.channels()}
        except AriError as error:
            log.warning("could not list channels to reconcile seats: %s", error)
            return
        for seat_id, call_id in (await self.seats.busy()).items():
            if call_id not in live and call_id != keys.FALLBACK_CALL:  # the monitor frees those
                log.info("seat %s was held for call %s which is gone; freeing it", seat_id, call_id)
                await self.seats.release(seat_id, call_id)

    # --- offers, commands, the sweep --------------------------------------------------------

    async def _listen(self) -> None:
        """This process's offers channel and the API's commands, on one subscription. After
        every (re)subscription, reservations made meanwhile for this process's callers are
        looked for, so that an offer published while it was away is not lost."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(keys.offers(self.name), keys.COMMANDS)
                await self._find_lost_offers()
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
            owner = self._owners.get(str(command.get("call", "")))
            if owner is not None:
                owner.post({**command, "type": COMMAND})
            return
        queue, _, rest = data.partition(" ")
        caller, _, seat = rest.partition(" ")
        if queue and caller and seat:
            self.deliver([Offer(queue, caller, seat, self.name)])

    async def _sweep(self) -> None:
        """Serve every line now and then (see :data:`SWEEP_EVERY`), and free the places and
        seats of callers gone for good (seen gone at two sweeps in a row, by whichever
        process holds the sweep's lock for the round)."""
        suspected: set[str] = set()
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            if not self.connected.is_set():
                continue
            try:
                await self._follow_handed_over()
            except AriError as error:
                log.warning("could not look for callers sent to Asterisk's queue: %s", error)
            try:
                await self.seats.serve(self._lines)
                await self._find_lost_offers()
                if await self.redis.set(keys.GONE_SWEEP, self.name, nx=True, px=1500):
                    suspected = await self._free_gone(suspected, "sweep")
            except Exception as error:
                log.warning("the sweep of the lines failed (%s); again soon", error)

    async def _find_lost_offers(self) -> None:
        """Seats reserved for this process's waiting callers that they never heard of; and
        waiting callers whose place in line is gone (they take it again)."""
        for queue, line in self._lines.items():
            in_line = set(await line.callers())
            for mine in self.calls:
                state = mine.caller
                waiting = state.phase is Phase.WAITING and state.in_line
                if waiting and state.queue == queue and mine.caller_id not in in_line:
                    mine.post(events.PlaceLost())
            owners, reserved = await line.owners(), await line.reserved()
            for caller, seat in reserved.items():
                if owners.get(caller) != self.name:
                    continue
                call = self._owners.get(caller)
                if call is None or call.caller.phase is not Phase.WAITING:
                    continue
                if seat not in call.caller.tried:
                    call.post(events.SeatOffered(seat))
                    log.info("offer of seat %s to %s found again in %s", seat, caller, queue)

    # --- taking over calls ----------------------------------------------------------------

    async def _look_after_peers(self) -> None:
        """Beat this process's heartbeat; adopt the calls of any peer that has gone."""
        while True:
            try:
                await self.presence.beat(serving=self.connected.is_set())
                if self.connected.is_set():
                    for peer in self.peers:
                        if not await self.presence.alive(peer):
                            await self._adopt(peer)
            except RedisError as error:  # Redis away: the store watch says so once
                log.debug("looking after the peers failed (%s); trying again", error)
            except Exception:
                log.exception("looking after the peers failed; trying again")
            await asyncio.sleep(BEAT_EVERY)

    async def _adopt(self, peer: str) -> None:
        async with self.presence.takeover(peer) as mine:
            if mine and not await self.presence.alive(peer):
                await self._take_over(peer)

    async def _take_over(self, app: str) -> None:
        """Take over the calls left in ``app`` (see :meth:`_take_over_calls`), then free
        the places in line its callers who have gone still hold: nobody else would."""
        await self._take_over_calls(app)
        try:
            await self._free_gone(None, f"taking over {app}", owner=app)
        except (AriError, RedisError) as error:
            log.warning("could not look for gone callers of %s: %s", app, error)

    async def _take_over_calls(self, app: str) -> None:
        """Take over the calls left in ``app``: this process's own application after a
        restart, or the application of a peer process that stopped or died.

        Connected calls are watched until they end (a peer's are subscribed to, so their
        events come here); waiting callers are served again in their place in line (a
        peer's are moved into this application); legs without their other half are hung
        up. Calls keep their audio all along.
        """
        adopting = app != self.name
        looked = clock.now()  # before the look at the channels: what enters later is not gone
        try:
            in_app = set((await self.ari.application(app)).get("channel_ids", []))
            if adopting and not in_app:
                return  # a peer gone with no call left behind: nothing to do
            live = {channel["id"] for channel in await self.ari.channels()}
            bridges = [
                b for b in await self.ari.bridges() if str(b.get("id", "")).startswith("call-")
            ]
            held = {call: seat for seat, call in (await self.seats.busy()).items()}
        except AriError as error:
            if error.status != 404:  # 404: that application never ran
                log.warning("could not look for calls to take over in %s: %s", app, error)
            return
        now = clock.now()
        bridged: set[str] = set()
        ended: set[str] = set()
        for bridge in bridges:
            members = [c for c in bridge.get("channels", []) if c in in_app]
            if not members:
                continue  # another application's call
            bridged |= set(members)
            callers = [c for c in members if kind_of(c) is None]
            seat_legs = [c for c in members if kind_of(c) is LegKind.SEAT]
            specialists = [c for c in members if kind_of(c) is LegKind.SPECIALIST]
            if callers and (
                callers[0] in self._owners or await self._watched_elsewhere(callers[0])
            ):
                continue  # watched already: ours (the stream reconnected), or a peer's
            caller = callers[0] if len(callers) == 1 else None
            seat = (
                SeatLeg(held[caller], seat_legs[0], answered=True)
                if caller in held and len(seat_legs) == 1
                else None
            )
            transfer = await self._transfer_of(caller, specialists) if caller else None
            if caller is not None and (seat is not None or transfer is not None):
                if adopting:
                    await self._watch_adopted(caller, [*seat_legs, *specialists], bridge["id"])
                await self._resume(caller, bridge["id"], seat, transfer)
                log.info("took over connected call %s from %s", caller, app)
                continue
            # half a call (one side hung up while nobody watched): end it, free its seat
            for channel_id in members:
                await self._hang_up_stray(channel_id)
                if channel_id in held:
                    await self.seats.release(held[channel_id], channel_id)
                    outcome = (
                        CallOutcome.SEAT_HANGUP if not seat_legs else CallOutcome.CALLER_HANGUP
                    )
                    self.writer.put(CallEnded(channel_id, outcome, now))
                    ended.add(channel_id)
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(bridge["id"])
        waiting = in_app - bridged - set(self._owners)
        tick = time.monotonic()
        self._moved = {c: at for c, at in self._moved.items() if tick - at < MOVE_GRACE}
        await self._drop_ringing_legs(live - in_app, waiting)
        # a seat that answered while nobody watched: connect it to its caller, still waiting
        for leg in [c for c in waiting if kind_of(c) is LegKind.SEAT]:
            caller = caller_of(leg)
            if caller in waiting and caller in held:
                await self._connect_answered(caller, leg, held[caller], adopting)
                waiting -= {caller, leg}
        for channel_id in waiting:
            if await self.redis.srem(keys.SURVEYING, channel_id):  # served, being surveyed
                await self._hang_up_stray(channel_id)
                self.writer.put(CallEnded(channel_id, CallOutcome.SEAT_HANGUP, now))
                continue
            if kind_of(channel_id) is LegKind.SEAT:  # a seat still ringing: its caller rings again
                await self._hang_up_stray(channel_id)
                self.writer.put(SeatAttemptEnded(channel_id, SeatOutcome.INTERRUPTED, now))
                continue
            rung = held.get(channel_id)  # a seat was ringing for it when the process died
            ringing_in = [q for q, ln in self._lines.items() if channel_id in await ln.reserved()]
            if rung is not None:
                self.writer.put(AttemptsInterrupted(channel_id, now))
                if adopting:  # the seat is freed first; the caller is moved here below
                    for queue in ringing_in:
                        await self.seats.release(rung, channel_id, ringing_in=queue)
                    await self.seats.release(rung, channel_id)
                for queue in ringing_in:  # not the seat's refusal: it may ring again at once
                    await self.redis.srem(keys.line_tried(queue, channel_id), rung)
            try:
                if adopting:  # its StasisStart here starts the call again
                    if tick - self._moved.get(channel_id, -MOVE_GRACE) < MOVE_GRACE:
                        continue  # moved already; its StasisStart is on its way
                    self._moved[channel_id] = tick
                    await self.ari.move(channel_id, "inbound")
                else:  # the call first, so that the seat freed below is offered to it
                    snapshot = await self.ari.channel(channel_id)
                    InboundCall(self, caller_from_channel(snapshot, set(self._rules))).start()
                log.info("took over waiting caller %s from %s", channel_id, app)
            except AriError:
                pass
            finally:
                if rung is not None and not adopting:
                    for queue in ringing_in:
                        await self.seats.release(rung, channel_id, ringing_in=queue)
                    await self.seats.release(rung, channel_id)
        self.writer.put(UnobservedCallsClosed(frozenset(live - ended), looked))

    async def _resume(
        self,
        caller: str,
        bridge: str,
        seat: SeatLeg | None,
        transfer: machine.TransferStatus | None,
    ) -> None:
        """Go on with a connected call; a leg that went while nobody watched is gone now."""
        snapshot = await self.ari.channel(caller)
        found = caller_from_channel(snapshot, set(self._rules))
        call = InboundCall(self, found.connected(seat, bridge, transfer))
        call.start(events.Resumed())
        for leg in [caller, *call.legs()]:
            if not await self._exists(leg):
                call.post({"type": "ChannelDestroyed", "channel": {"id": leg}})

    async def _exists(self, channel_id: str) -> bool:
        """Whether Asterisk still has the channel (an error other than 404 counts as yes)."""
        try:
            await self.ari.channel(channel_id)
        except AriError as error:
            return error.status != 404
        return True

    async def _watch_adopted(self, caller: str, legs: list[str], bridge: str) -> None:
        """Have a dead peer's connected call's events come here, and tell its peer (should
        it come back) that this process watches it."""
        sources = [f"channel:{c}" for c in (caller, *legs)] + [f"bridge:{bridge}"]
        await self.ari.subscribe(sources)
        await self.redis.set(keys.watcher(caller), self.name, ex=WATCH_MAX)
        self._watching.add(caller)

    async def _connect_answered(self, caller: str, leg: str, seat: str, adopting: bool) -> None:
        """A seat answered for this caller while no process watched: the call goes on from
        that answer (bridged, recorded) as if it had been seen."""
        try:
            snapshot = await self.ari.channel(caller)
            if adopting:
                await self.ari.subscribe([f"channel:{caller}", f"channel:{leg}"])
        except AriError as error:
            log.warning("could not connect %s to seat %s after a takeover: %s", caller, seat, error)
            await self._hang_up_stray(leg)
            return
        found = caller_from_channel(snapshot, set(self._rules))
        InboundCall(self, found.ringing(seat, leg)).start(events.SeatAnswered(leg))
        log.info("connected %s to seat %s, which answered while no process watched", caller, seat)

    async def _drop_ringing_legs(self, live: set[str], callers: set[str]) -> None:
        """Hang up the legs still ringing (``live`` channels in no application yet) for
        callers being served again: they would answer into an application nobody watches.
        Their callers ring a seat afresh."""
        now = clock.now()
        for channel_id in live:
            if caller_of(channel_id) not in callers:
                continue
            await self._hang_up_stray(channel_id)
            if kind_of(channel_id) is LegKind.SEAT:
                self.writer.put(SeatAttemptEnded(channel_id, SeatOutcome.INTERRUPTED, now))
            else:
                self.writer.put(DialEnded(channel_id, AttemptOutcome.FAILED, now))
            log.info("hung up %s, still ringing for %s", channel_id, caller_of(channel_id))

    async def _transfer_of(
        self, caller: str, specialists: list[str]
    ) -> machine.TransferStatus | None:
        """The transfer of a connected call found at takeover: one whose specialist is on the
        line, or one still dialling (the call drops it when it resumes)."""
        try:
            data = machine.status_from_json(await self.redis.get(keys.transfer_status(caller)))
            status = machine.TransferStatus.from_dict(data) if data else None
        except (ValueError, TypeError, KeyError) as error:
            log.warning("unreadable transfer state for %s: %s", caller, error)
            return None
        if status is None:
            return None
        if status.state in machine.LIVE_SPECIALIST and status.specialist_channel in specialists:
            return status
        if status.state in machine.STILL_DIALING:
            return status
        return None

    async def _watched_elsewhere(self, caller: str) -> bool:
        """Whether a live peer adopted this connected call while this process was away."""
        watcher = await self.redis.get(keys.watcher(caller))
        name = watcher.decode() if isinstance(watcher, bytes) else watcher
        return bool(name) and name != self.name and await self.presence.alive(str(name))

    async def _drain(self) -> None:
        tasks = [call.task for call in self.calls if call.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"StasisApp(app={self.config.app!r}, calls={len(self.calls)})"


def in_stasis(channel: Event) -> bool:
    """Whether a channel (an ARI snapshot) is in a Stasis application."""
    return (channel.get("dialplan") or {}).get("app_name") == "Stasis"


def in_asterisk_queue(channel: Event) -> bool:
    """Whether a channel (an ARI snapshot) waits or talks in Asterisk's own ``Queue()``."""
    return (channel.get("dialplan") or {}).get("app_name") == "Queue"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
