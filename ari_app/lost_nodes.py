"""A node of the line whose machine has gone: its app processes went with its Asterisk, so
nobody on it can call its callers back or give their seats back. A process of another node
does it: once every app process of that node has been silent for :data:`NODE_SILENT_AFTER`
and its Asterisk does not answer SIP either, the node's callers still holding a seat (they
were talking) or a place in line (they were waiting) are called back — from the call-back
card each kept when it joined the line (``callback.book``), the talking ones with their
seats — and their seats and places are freed. A node whose Asterisk still answers keeps its
calls: its processes are only restarting, and take them over themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from typing import TYPE_CHECKING

from ari_app.names import stasis_app_names
from callback.records import CallbackRequested
from cdr.records import CallEnded
from core import clock
from core.outcomes import CallOutcome

if TYPE_CHECKING:
    from ari_app.app import StasisApp
    from callback.book import Booked

log = logging.getLogger(__name__)

NODE_SILENT_AFTER = 5.0
"""Seconds every app process of a node must have been silent before its calls are taken as
lost (a process restarting is back well within it)."""
SIP_ANSWER_WITHIN = 1.0
"""Seconds a node's Asterisk has to answer an OPTIONS (its 403 counts: it is alive)."""


class LostNodes:
    """Looks after the other nodes of the line, for one application process."""

    def __init__(self, host: StasisApp) -> None:
        self.host = host
        self._silent_since: dict[str, float] = {}

    async def look(self) -> None:
        """Adopt the calls of any other node that has gone (see the module's docstring)."""
        site = self.host.site
        if site.node is None:
            return
        for node in site.nodes:
            if node.name == site.node.name:
                continue
            apps = stasis_app_names(site.on_node(node.name))
            if any([await self.host.presence.alive(app) for app in apps]):
                self._silent_since.pop(node.name, None)
                continue
            since = self._silent_since.setdefault(node.name, time.monotonic())
            if time.monotonic() - since < NODE_SILENT_AFTER:
                continue
            if await sip_answers(node.address, node.port):
                continue
            async with self.host.presence.takeover(f"node:{node.name}") as mine:
                if mine:
                    await self.adopt(node.name)

    async def adopt(self, node: str) -> None:
        """Every caller of ``node`` still holding a seat or a place: called back (the talking
        ones first, with their seats), recorded as cut off, its seat or place freed."""
        prefix = f"{node}-"
        talking = {
            call: seat
            for seat, call in (await self.host.seats.busy()).items()
            if call.startswith(prefix)
        }
        waiting = [
            (queue, caller)
            for queue, line in self.host.lines.items()
            for caller in await line.callers()
            if caller.startswith(prefix) and caller not in talking
        ]
        if talking or waiting:
            log.warning(
                "node %s has gone with its Asterisk and its processes: %d talking and %d "
                "waiting callers are called back from here",
                node,
                len(talking),
                len(waiting),
            )
        for call, seat in talking.items():
            await self._call_back(call, seat)
            await self.host.seats.release(seat, call)
        for queue, caller in waiting:
            await self._call_back(caller, None)
            self.host.deliver(await self.host.line(queue).leave(caller, clock.time()))

    async def _call_back(self, channel: str, seat: str | None) -> None:
        now = clock.time()
        card: Booked | None = await self.host.callbacks.card(channel)
        if card is not None:
            entry = dataclasses.replace(card, requested_at=now, prefer=seat)
            await self.host.callbacks.book(entry, now)
            await self.host.callbacks.drop_card(channel)
            self.host.writer.put(
                CallbackRequested(
                    channel,
                    card.queue,
                    CallOutcome.PBX_LOST.value,
                    clock.moment(now),
                    card.number,
                    card.tier.value if card.tier else None,
                )
            )
        self.host.writer.put(CallEnded(channel, CallOutcome.PBX_LOST, clock.moment(now)))


async def sip_answers(address: str, port: int, within: float = SIP_ANSWER_WITHIN) -> bool:
    """Whether a SIP server answers an OPTIONS sent to ``address:port`` over UDP (any
    answer: a node answers others than its edge with 403)."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bool] = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
            if not answered.done():
                answered.set_result(True)

        def error_received(self, exc: Exception) -> None:  # nothing listens there
            if not answered.done():
                answered.set_result(False)

    try:
        transport, _ = await loop.create_datagram_endpoint(Probe, remote_addr=(address, port))
    except OSError:
        return False
    try:
        host, local_port = transport.get_extra_info("sockname")[:2]
        tag = uuid.uuid4().hex[:12]
        request = (
            f"OPTIONS sip:{address}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:hotline@{host}>;tag={tag}\r\n"
            f"To: <sip:{address}:{port}>\r\n"
            f"Call-ID: {tag}@{host}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        transport.sendto(request.encode())
        return await asyncio.wait_for(answered, within)
    except TimeoutError:
        return False
    finally:
        transport.close()
