"""Which application processes are alive, and who may take over the calls of one that is not.

Every process (one ARI application name each: ``hotline``, ``hotline-2``, ...) keeps a
heartbeat key in Redis that expires :data:`HEARTBEAT_TTL` seconds after its last beat. A
process that stops deletes its key; one that dies stops beating. Either way its peers see
it gone within seconds and one of them adopts its calls (``ari_app.app``). Taking over the
calls of an application — by a peer, or by the process itself when it comes back — happens
under that application's takeover lock, so two processes never take the same call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from enum import StrEnum

from redis.asyncio import Redis

from core import keys

HEARTBEAT_TTL = 3.0
"""Seconds after its last beat that a process counts as gone."""
BEAT_EVERY = 1.0
LOCK_TTL = 30
"""Seconds a takeover lock is held at most (a process that dies holding it lets go)."""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def heartbeat_key(app: str) -> str:
    return keys.heartbeat(app)


class Beat(StrEnum):
    """What a process says of itself in its heartbeat."""

    STARTING = "starting"
    """Alive, not serving calls yet (not connected, or taking calls over)."""
    SERVING = "serving"
    BEHIND = "behind"
    """Serving its calls, but so busy that new callers go on to Asterisk's queue
    (``ari_app.backlog``): the monitor sends none back meanwhile."""


def heartbeat_value(pid: int, beat: Beat) -> str:
    """What a process's heartbeat key holds: its pid and what it does."""
    return f"{pid}:{beat.value}"


class Presence:
    """One process's view of its peers."""

    def __init__(self, redis: Redis, app: str) -> None:
        self.redis = redis
        self.app = app
        self._unlock = redis.register_script(_UNLOCK)

    async def beat(self, beat: Beat, calls: int | None = None) -> None:
        """Say this process is alive for the next few seconds, and what it does (with how
        many ``calls`` it has, when given: ``hotline nodes`` counts them)."""
        value = heartbeat_value(os.getpid(), beat)
        ttl = int(HEARTBEAT_TTL * 1000)
        await self.redis.set(heartbeat_key(self.app), value, px=ttl)
        if calls is not None:
            await self.redis.set(keys.calls_now(self.app), calls, px=ttl)

    async def leave(self) -> None:
        """Say this process is gone (it is stopping): its peers adopt its calls at once."""
        await self.redis.delete(heartbeat_key(self.app))

    async def alive(self, app: str) -> bool:
        return bool(await self.redis.exists(heartbeat_key(app)))

    @contextlib.asynccontextmanager
    async def takeover(self, app: str, wait: float = 0.0) -> AsyncIterator[bool]:
        """Hold ``app``'s takeover lock (waiting up to ``wait`` seconds for it); yields
        whether it was obtained."""
        key, token = keys.takeover(app), uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not (got := bool(await self.redis.set(key, token, nx=True, ex=LOCK_TTL))):
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
        try:
            yield got
        finally:
            if got:
                await self._unlock(keys=[key], args=[token])
