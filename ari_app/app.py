"""The Stasis application: one ARI connection, events routed to the call they belong to.

The app keeps its event stream open (reconnecting with back-off when Asterisk restarts);
each ``StasisStart`` of an inbound caller starts an :class:`~ari_app.call.InboundCall`,
and every later event is posted to the call that owns the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ari_app.call import COMMAND, SURVEYING, InboundCall, SeatLeg
from ari_app.client import (
    CONNECTED,
    Ari,
    AriConfig,
    AriError,
    Event,
    bridge_caller_and_seat,
    event_stream,
)
from ari_app.legs import SEAT, caller_of
from ari_app.presence import BEAT_EVERY, LOCK_TTL, Presence
from cdr.recorder import CallRecorder
from core import clock
from core.events import COMMANDS
from core.site import Queue, ReportSettings, Site
from queues.line import WaitingLine
from queues.seats import SeatPool
from transfer.dialer import CallSide, Transfer
from transfer.machine import LIVE_SPECIALIST, TransferState, TransferStatus
from transfer.machine import load as load_transfer
from transfer.orders import WorkOrders
from transfer.plan import TransferPlan
from transfer.records import TransferRecorder

log = logging.getLogger(__name__)

MOVE_GRACE = 15.0
"""Seconds a channel moved in from a gone peer is not moved again (its StasisStart may lag)."""
WATCH_MAX = 86400
"""Seconds a note that a peer watches an adopted call is kept at most."""


def _watcher_key(caller: str) -> str:
    return f"hotline:watcher:{caller}"


@dataclass(frozen=True)
class TransferServices:
    """What the three-way transfer needs: the plan, its records, the work orders."""

    plan: TransferPlan
    recorder: TransferRecorder
    orders: WorkOrders


class StasisApp:
    """Routes ARI events to calls; hosts the calls' shared services."""

    def __init__(
        self,
        config: AriConfig,
        site: Site,
        seats: SeatPool,
        recorder: CallRecorder,
        transfer: TransferServices,
        peers: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.name = config.app
        self.peers = [peer for peer in peers if peer != self.name]
        """The other application processes' names: their calls are adopted if they go."""
        self.redis = seats.redis
        self.plan, self.transfers, self.orders = transfer.plan, transfer.recorder, transfer.orders
        self.presence = Presence(seats.redis, self.name)
        self._watching: set[str] = set()
        self._moved: dict[str, float] = {}
        """Channels this process moved into its application, and when (not moved twice)."""
        self.site = site
        self.seats = seats
        self.recorder = recorder
        self.ari = Ari(config)
        self._lines = {
            queue.name: WaitingLine(seats.redis, queue.name, queue.red_list_head_start)
            for queue in site.queues
        }
        self._owners: dict[str, InboundCall] = {}
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
            await self.redis.delete(_watcher_key(caller))

    def seats_for(self, queue: str) -> list[str]:
        return [seat.id for seat in self.site.seats_of(queue)]

    def line(self, queue: str) -> WaitingLine:
        return self._lines[queue]

    def has_queue(self, queue: str) -> bool:
        return any(q.name == queue for q in self.site.queues)

    @property
    def sounds(self) -> str:
        """Where Asterisk finds the hotline's prompts (the HOTLINE_SOUNDS global)."""
        return self._sounds

    @property
    def survey(self) -> ReportSettings:
        """Whether and how callers are asked to rate a call."""
        return self.site.reports

    def is_open(self, queue: str) -> bool:
        """Whether a queue takes calls now (its hours, the site's time zone, Chinese holidays)."""
        return self.site.queue(queue).hours.schedule(self.site.timezone).is_open(clock.now())

    def settings(self, queue: str) -> Queue:
        return self.site.queue(queue)

    def endpoint_for(self, number: str) -> str | None:
        return self.site.endpoint_for(number)

    def transfer_ring_timeout(self) -> int:
        return self.site.transfer.ring_timeout

    def transfer_caller_id(self) -> str:
        return self.site.transfer_caller_id

    @property
    def calls(self) -> list[InboundCall]:
        return list({id(call): call for call in self._owners.values()}.values())

    # --- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve calls until ``stop`` is set, reconnecting to ARI whenever the stream drops."""
        stop = stop or asyncio.Event()
        await self.seats.sync(seat.id for seat in self.site.seats)
        await self.presence.beat(serving=False)
        peers = asyncio.create_task(self._look_after_peers())
        commands = asyncio.create_task(self._listen_for_commands())
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
            for task in (peers, commands):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._drain()
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
                continue
            self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        """Route one event: a new inbound caller starts a call, the rest go to their owner."""
        kind = event.get("type")
        channel = event.get("channel") or {}
        if kind == "StasisStart" and (event.get("args") or [None])[0] == "inbound":
            if channel.get("id") not in self._owners:  # not already taken over at connect
                InboundCall(self, event).start()
            return
        if not channel and kind and kind.startswith("Playback"):  # playbacks name their channel
            channel = {
                "id": str(event.get("playback", {}).get("target_uri", "")).removeprefix("channel:")
            }
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
            if call_id not in live:
                log.info("seat %s was held for call %s which is gone; freeing it", seat_id, call_id)
                await self.seats.release(seat_id, call_id)

    async def _listen_for_commands(self) -> None:
        """Commands for calls sent through the API (``hotline:commands``): the process
        that owns the call hands it to the call's task; the others ignore it."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(COMMANDS)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is None:
                        continue
                    try:
                        command = json.loads(message["data"])
                    except ValueError:
                        continue
                    owner = self._owners.get(str(command.get("call", "")))
                    if owner is not None:
                        owner.post({**command, "type": COMMAND})
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("listening for commands failed (%s); again in 1 s", error)
                await asyncio.sleep(1.0)

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
            except Exception:
                log.exception("looking after the peers failed; trying again")
            await asyncio.sleep(BEAT_EVERY)

    async def _adopt(self, peer: str) -> None:
        async with self.presence.takeover(peer) as mine:
            if mine and not await self.presence.alive(peer):
                await self._take_over(peer)

    async def _take_over(self, app: str) -> None:
        """Take over the calls left in ``app``: this process's own application after a
        restart, or the application of a peer process that stopped or died.

        Connected calls are watched until they end (a peer's are subscribed to, so their
        events come here); waiting callers are served again in their place in line (a
        peer's are moved into this application); legs without their other half are hung
        up. Calls keep their audio all along.
        """
        adopting = app != self.name
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
        bridged: set[str] = set()
        ended: set[str] = set()
        for bridge in bridges:
            members = [c for c in bridge.get("channels", []) if c in in_app]
            if not members:
                continue  # another application's call
            bridged |= set(members)
            callers = [c for c in members if not c.startswith(("seat-", "spec-"))]
            seat_legs = [c for c in members if c.startswith("seat-")]
            specialists = [c for c in members if c.startswith("spec-")]
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
                snapshot = await self.ari.channel(caller)
                InboundCall(self, {"channel": snapshot}).resume_connected(
                    bridge["id"], seat, transfer
                )
                log.info("took over connected call %s from %s", caller, app)
                continue
            # half a call (one side hung up while nobody watched): end it, free its seat
            for channel_id in members:
                await self._hang_up_stray(channel_id)
                if channel_id in held:
                    await self.seats.release(held[channel_id], channel_id)
                    outcome = "seat-hangup" if not seat_legs else "caller-hangup"
                    await self._record_end(channel_id, outcome)
                    ended.add(channel_id)
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(bridge["id"])
        waiting = in_app - bridged - set(self._owners)
        now = time.monotonic()
        self._moved = {c: at for c, at in self._moved.items() if now - at < MOVE_GRACE}
        await self._drop_ringing_legs(live - in_app, waiting)
        # a seat that answered while nobody watched: connect it to its caller, still waiting
        for leg in [c for c in waiting if c.startswith(SEAT)]:
            caller = caller_of(leg)
            if caller in waiting and caller in held:
                await self._connect_answered(caller, leg, held[caller], adopting)
                waiting -= {caller, leg}
        for channel_id in waiting:
            if await self.seats.redis.srem(SURVEYING, channel_id):  # served, being surveyed
                await self._hang_up_stray(channel_id)
                await self._record_end(channel_id, "seat-hangup")
                continue
            if channel_id.startswith("seat-"):  # a seat still ringing: its caller rings again
                await self._hang_up_stray(channel_id)
                await self.recorder.seat_attempt_ended(channel_id, "interrupted", datetime.now(UTC))
                continue
            if channel_id in held:  # a seat was ringing for it when the earlier process died
                await self.seats.release(held[channel_id], channel_id)
                await self.recorder.interrupt_attempts(channel_id, datetime.now(UTC))
            for line in self._lines.values():
                await line.not_answered(channel_id)
            try:
                if adopting:  # its StasisStart here starts the call again
                    if time.monotonic() - self._moved.get(channel_id, -MOVE_GRACE) < MOVE_GRACE:
                        continue  # moved already; its StasisStart is on its way
                    self._moved[channel_id] = time.monotonic()
                    await self.ari.move(channel_id, "inbound")
                else:
                    snapshot = await self.ari.channel(channel_id)
                    InboundCall(self, {"channel": snapshot}).start()
            except AriError:
                continue
            log.info("took over waiting caller %s from %s", channel_id, app)
        closed = await self.recorder.close_unobserved(live - ended, datetime.now(UTC))
        if closed:
            log.info(
                "%d call record(s) closed: those calls ended while no application watched", closed
            )

    async def _watch_adopted(self, caller: str, legs: list[str], bridge: str) -> None:
        """Have a dead peer's connected call's events come here, and tell its peer (should
        it come back) that this process watches it."""
        sources = [f"channel:{c}" for c in (caller, *legs)] + [f"bridge:{bridge}"]
        await self.ari.subscribe(sources)
        await self.redis.set(_watcher_key(caller), self.name, ex=WATCH_MAX)
        self._watching.add(caller)

    async def _connect_answered(self, caller: str, leg: str, seat: str, adopting: bool) -> None:
        """Bridge a caller with the seat that answered for it while no process watched."""
        bridge = f"call-{uuid.uuid4()}"
        now = datetime.now(UTC)
        try:
            await bridge_caller_and_seat(self.ari, bridge, caller, leg)
            if adopting:
                await self._watch_adopted(caller, [leg], bridge)
            snapshot = await self.ari.channel(caller)
        except AriError as error:
            log.warning("could not connect %s to seat %s after a takeover: %s", caller, seat, error)
            await self._hang_up_stray(leg)
            return
        for line in self._lines.values():
            await line.leave(caller)
        await self.recorder.seat_attempt_ended(leg, "answered", now)
        await self.recorder.answered(caller, seat, leg, now)
        InboundCall(self, {"channel": snapshot}).resume_connected(
            bridge, SeatLeg(seat, leg, answered=True)
        )
        log.info("connected %s to seat %s, which answered while no process watched", caller, seat)

    async def _drop_ringing_legs(self, live: set[str], callers: set[str]) -> None:
        """Hang up the legs still ringing (``live`` channels in no application yet) for
        callers being served again: they would answer into an application nobody watches.
        Their callers ring a seat afresh."""
        now = datetime.now(UTC)
        for channel_id in live:
            if caller_of(channel_id) not in callers:
                continue
            await self._hang_up_stray(channel_id)
            if channel_id.startswith(SEAT):
                await self.recorder.seat_attempt_ended(channel_id, "interrupted", now)
            else:
                await self.transfers.attempt_ended(channel_id, "failed", now)
            log.info("hung up %s, still ringing for %s", channel_id, caller_of(channel_id))

    async def _transfer_of(self, caller: str, specialists: list[str]) -> TransferStatus | None:
        """The transfer of a connected call found at takeover, if its specialist is on the
        line; a transfer that was still dialling is dropped (its leg hung up)."""
        try:
            data = await load_transfer(self.redis, caller)
            status = TransferStatus.from_dict(data) if data else None
        except (ValueError, TypeError, KeyError) as error:
            log.warning("unreadable transfer state for %s: %s", caller, error)
            return None
        if status is None:
            return None
        if status.state in LIVE_SPECIALIST and status.specialist_channel in specialists:
            return status
        if status.state in (TransferState.DIALING, TransferState.RINGING):
            route = await asyncio.to_thread(self.plan.route, status.matter)
            if route is not None:
                side = CallSide(caller, None, "", None, "", None)
                await Transfer(self, side, route, status).interrupted()
        return None

    async def _record_end(self, caller: str, outcome: str) -> None:
        try:
            await self.recorder.ended(caller, outcome, datetime.now(UTC))
        except Exception as error:  # no record (the database was down): nothing to close
            log.warning("could not record the end of %s: %s", caller, error)

    async def _watched_elsewhere(self, caller: str) -> bool:
        """Whether a live peer adopted this connected call while this process was away."""
        watcher = await self.redis.get(_watcher_key(caller))
        name = watcher.decode() if isinstance(watcher, bytes) else watcher
        return bool(name) and name != self.name and await self.presence.alive(str(name))

    async def _drain(self) -> None:
        tasks = [call.task for call in self.calls if call.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"StasisApp(app={self.config.app!r}, calls={len(self.calls)})"
