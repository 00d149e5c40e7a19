"""The Stasis application: one ARI connection, events routed to the call they belong to.

The app keeps its event stream open (reconnecting with back-off when Asterisk restarts);
each ``StasisStart`` of an inbound caller starts an :class:`~ari_app.call.InboundCall`,
and every later event is posted to the call that owns the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ari_app.call import InboundCall
from ari_app.client import Ari, AriConfig, AriError, Event, event_stream
from cdr.recorder import CallRecorder
from hotline.site import Site
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
        self._owners: dict[str, InboundCall] = {}
        self.connected = asyncio.Event()
        self._chores: set[asyncio.Task[None]] = set()

    # --- what calls ask of their host -----------------------------------------------------

    def own(self, channel_id: str, call: InboundCall) -> None:
        self._owners[channel_id] = call

    def forget(self, call: InboundCall) -> None:
        for channel_id in [c for c, owner in self._owners.items() if owner is call]:
            del self._owners[channel_id]

    def seats_for(self, queue: str) -> list[str]:
        return [seat.id for seat in self.site.seats_of(queue)]

    def has_queue(self, queue: str) -> bool:
        return any(q.name == queue for q in self.site.queues)

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
            if not self.connected.is_set():
                self.connected.set()
                await self._release_orphan_seats()
            self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        """Route one event: a new inbound caller starts a call, the rest go to their owner."""
        kind = event.get("type")
        channel = event.get("channel") or {}
        if kind == "StasisStart" and (event.get("args") or [None])[0] == "inbound":
            InboundCall(self, event).start()
            return
        owner = self._owners.get(channel.get("id", ""))
        if owner is not None:
            owner.post(event)
        elif kind == "StasisStart":
            # a leg nobody owns any more (its call already ended): never leave it up
            task = asyncio.create_task(self._hang_up_stray(channel.get("id", "")))
            self._chores.add(task)
            task.add_done_callback(self._chores.discard)

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

    async def _drain(self) -> None:
        tasks = [call.task for call in self.calls if call.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"StasisApp(app={self.config.app!r}, calls={len(self.calls)})"
