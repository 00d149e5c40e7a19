"""The Stasis application: one ARI connection, events routed to the call they belong to.

The app keeps its event stream open (reconnecting with back-off when Asterisk restarts);
each ``StasisStart`` of an inbound caller starts an :class:`~ari_app.call.InboundCall`,
and every later event is posted to the call that owns the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from ari_app.call import InboundCall, SeatLeg
from ari_app.client import CONNECTED, Ari, AriConfig, AriError, Event, event_stream
from cdr.recorder import CallRecorder
from hotline import clock
from hotline.site import Site
from queues.line import WaitingLine
from queues.seats import SeatPool

log = logging.getLogger(__name__)


class StasisApp:
    """Routes ARI events to calls; hosts the calls' shared services."""

    def __init__(
        self, config: AriConfig, site: Site, seats: SeatPool, recorder: CallRecorder
    ) -> None:
        self.config = config
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

    def is_open(self, queue: str) -> bool:
        """Whether a queue takes calls now (its hours, the site's time zone, Chinese holidays)."""
        return self.site.queue(queue).hours.schedule(self.site.timezone).is_open(clock.now())

    def max_wait(self, queue: str) -> int:
        return self.site.queue(queue).max_wait

    def wrap_up(self, queue: str) -> int:
        return self.site.queue(queue).wrap_up

    def ring_timeout(self, queue: str) -> int:
        return self.site.queue(queue).ring_timeout

    @property
    def calls(self) -> list[InboundCall]:
        return list({id(call): call for call in self._owners.values()}.values())

    # --- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve calls until ``stop`` is set, reconnecting to ARI whenever the stream drops."""
        stop = stop or asyncio.Event()
        await self.seats.sync(seat.id for seat in self.site.seats)
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
            await self._drain()
            await self.ari.close()

    async def _consume(self) -> None:
        async for event in event_stream(self.config):
            if event.get("type") == CONNECTED:
                self._sounds = await self._sounds_dir()
                # before any event of this connection is handled: the calls left to us
                await self._release_orphan_seats()
                await self._take_over_calls()
                self.connected.set()
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
        if owner is not None:
            owner.post(event)
        elif kind == "StasisStart":
            # a leg nobody owns any more (its call already ended): never leave it up
            task = asyncio.create_task(self._hang_up_stray(channel.get("id", "")))
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

    async def _take_over_calls(self) -> None:
        """After a restart, take over the calls an earlier process left in the application:
        connected calls are watched until they end; waiting callers are served again; legs
        without their other half are hung up. Calls keep their audio all along."""
        try:
            in_app = set((await self.ari.application()).get("channel_ids", []))
            bridges = [
                b for b in await self.ari.bridges() if str(b.get("id", "")).startswith("call-")
            ]
            held = {call: seat for seat, call in (await self.seats.busy()).items()}
        except AriError as error:
            log.warning("could not look for calls to take over: %s", error)
            return
        bridged: set[str] = set()
        ended: set[str] = set()
        for bridge in bridges:
            members = [c for c in bridge.get("channels", []) if c in in_app]
            bridged |= set(members)
            callers = [c for c in members if not c.startswith("seat-")]
            seat_legs = [c for c in members if c.startswith("seat-")]
            if callers and callers[0] in self._owners:
                continue  # ours already (the event stream reconnected, the process did not restart)
            if len(callers) == 1 and len(seat_legs) == 1 and callers[0] in held:
                snapshot = await self.ari.channel(callers[0])
                call = InboundCall(self, {"channel": snapshot})
                call.resume_connected(
                    bridge["id"], SeatLeg(held[callers[0]], seat_legs[0], answered=True)
                )
                log.info("took over connected call %s (seat %s)", callers[0], held[callers[0]])
                continue
            # half a call (one side hung up while nobody watched): end it, free its seat
            for channel_id in members:
                await self._hang_up_stray(channel_id)
                ended.add(channel_id)
                if channel_id in held:
                    await self.seats.release(held[channel_id], channel_id)
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(bridge["id"])
        for channel_id in in_app - bridged - set(self._owners):
            if channel_id.startswith("seat-"):
                await self._hang_up_stray(channel_id)
                continue
            if channel_id in held:  # a seat was ringing for it when the earlier process died
                await self.seats.release(held[channel_id], channel_id)
            try:
                snapshot = await self.ari.channel(channel_id)
            except AriError:
                continue
            InboundCall(self, {"channel": snapshot}).start()
            log.info("took over waiting caller %s", channel_id)
        closed = await self.recorder.close_unobserved(in_app - ended, datetime.now(UTC))
        if closed:
            log.info(
                "%d call record(s) closed: those calls ended while no application watched", closed
            )

    async def _drain(self) -> None:
        tasks = [call.task for call in self.calls if call.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"StasisApp(app={self.config.app!r}, calls={len(self.calls)})"
