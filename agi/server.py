"""The FastAGI server: one short conversation per call, on the site's AGI port.

panoramisk's ``Request`` carries the AGI commands; the connection itself is handled here so
that a bad request (not UTF-8, cut off, too slow) closes quickly instead of spinning, and
every call gets an answer or a closed socket, never a wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import date

from panoramisk.fast_agi import Request

from agi.front_door import FrontDoor
from agi.seat_codes import apply_code
from core.db import make_engine, sessions
from core.memory import freeze_startup_objects
from core.paths import Paths
from core.signals import stop_on_signals
from core.site import Site
from core.stores import async_redis, database_url, sync_redis
from queues.seats import SeatPool
from redlist.directory import CALLERS, CallerIdentity, lookup_in_sql, rebuild

log = logging.getLogger(__name__)

PING = "ping"
"""The script a health check asks for: answered by closing the connection at once (a front
door that is alive but frozen does not, and is replaced by the supervisor)."""
HEADER_TIMEOUT = 3.0
CALL_BUDGET = 90.0
"""The longest a caller can spend in the menu before the call goes on regardless."""


async def read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """The ``agi_*`` environment Asterisk sends first, ending with an empty line."""
    headers: dict[str, str] = OrderedDict()
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionAbortedError("the connection closed before the AGI environment ended")
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text:
            return headers
        name, _, value = text.partition(": ")
        headers[name] = value


class FrontDoorServer:
    """Accepts FastAGI connections: the front door for callers (``identify``) and the
    seats' feature codes (``seat``)."""

    def __init__(self, door: FrontDoor, seats: SeatPool, seat_ids: set[str]) -> None:
        self.door = door
        self.seats = seats
        self.seat_ids = seat_ids

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await asyncio.wait_for(read_headers(reader), HEADER_TIMEOUT)
            script = headers.get("agi_network_script", "")
            request = Request(app=None, headers=headers, reader=reader, writer=writer)
            if script == PING:
                return
            if script == "seat":
                await asyncio.wait_for(apply_code(request, self.seats, self.seat_ids), CALL_BUDGET)
                return
            if script != "identify":
                log.warning("FastAGI request for unknown script %r refused", script)
                return
            identity = await asyncio.wait_for(self.door.serve(request), CALL_BUDGET)
            log.info(
                "caller %s: %s tier=%s",
                identity.number,
                identity.kind.value,
                identity.tier.value if identity.tier else "-",
            )
        except ConnectionAbortedError:
            log.debug("a connection closed without a request (a health check)")
        except Exception as error:  # the dialplan's defaults take over; the call goes on
            log.warning("front door gave up on a call: %r", error)
        finally:
            writer.close()


def rebuild_directory(paths: Paths) -> int:
    """Rebuild the caller directory in Redis from SQL (after Redis lost it)."""
    engine = make_engine(database_url(paths))
    try:
        with sessions(engine)() as session, sync_redis(paths) as redis:
            return rebuild(session, redis)
    finally:
        engine.dispose()


async def serve(site: Site, paths: Paths) -> None:
    """Run the FastAGI server until SIGTERM/SIGINT."""
    stop = stop_on_signals()
    redis = async_redis(paths)
    if not await redis.exists(CALLERS):
        count = await asyncio.to_thread(rebuild_directory, paths)
        log.info("caller directory rebuilt from SQL: %d numbers", count)
    engine = make_engine(database_url(paths))
    factory = sessions(engine)

    def in_sql_now(number: str, today: date) -> CallerIdentity | None:
        with factory() as session:
            return lookup_in_sql(session, number, today)

    async def in_sql(number: str, today: date) -> CallerIdentity | None:
        return await asyncio.to_thread(in_sql_now, number, today)

    door = FrontDoor(redis, site.site.area_code, site.timezone, in_sql=in_sql)
    handler = FrontDoorServer(door, SeatPool(redis), {seat.id for seat in site.seats})
    server = await asyncio.start_server(handler.handle, site.services.bind, site.services.agi_port)
    log.info("FastAGI front door listening on %s:%d", site.services.bind, site.services.agi_port)
    freeze_startup_objects()
    async with server:
        await stop.wait()
    await redis.aclose()
    engine.dispose()
