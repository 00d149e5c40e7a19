"""Which seats are free, claimed atomically in Redis.

A seat is either idle (in a sorted set scored by the time it became free, so the
longest-idle seat comes first) or busy with exactly one call (in a hash seat → call); a
paused seat is never offered a call. Claiming moves a seat from idle to busy in one Lua
script — and, for a caller in a :class:`~queues.line.WaitingLine`, only when it is that
caller's turn — so several application processes sharing one Redis can never ring one seat
for two calls, nor let a caller jump the line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from core.events import publish

if TYPE_CHECKING:
    from queues.line import WaitingLine

IDLE = "hotline:seats:idle"
BUSY = "hotline:seats:busy"
PAUSED = "hotline:seats:paused"
RESTING = "hotline:seats:resting"
"""Seats not offered calls until a moment (epoch seconds): unreachable phones for now."""

# KEYS: idle, busy, paused, resting[, waiting, ringing]   ARGV: call id, candidate seats...
_CLAIM = """
if #KEYS == 6 then
  local turn = false
  for _, caller in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    if redis.call('HEXISTS', KEYS[6], caller) == 0 then turn = caller; break end
  end
  if turn ~= ARGV[1] then return false end
end
local now = tonumber(redis.call('TIME')[1])
local wanted = {}
for i = 2, #ARGV do wanted[ARGV[i]] = true end
for _, seat in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if wanted[seat] and redis.call('HEXISTS', KEYS[2], seat) == 0
     and redis.call('HEXISTS', KEYS[3], seat) == 0
     and (tonumber(redis.call('ZSCORE', KEYS[4], seat)) or 0) <= now then
    redis.call('ZREM', KEYS[1], seat)
    redis.call('HSET', KEYS[2], seat, ARGV[1])
    if #KEYS == 6 then redis.call('HSET', KEYS[6], ARGV[1], seat) end
    return seat
  end
end
return false
"""

_RELEASE = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


class SeatPool:
    """The seats of a site and who is busy, shared by every application process."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    async def sync(self, seat_ids: Iterable[str]) -> None:
        """Make the pool hold exactly these seats; new ones start idle, busy ones stay busy."""
        wanted = set(seat_ids)
        known = {_text(s) for s in await self.redis.zrange(IDLE, 0, -1)}
        busy = {_text(s) for s in await self.redis.hkeys(BUSY)}
        async with self.redis.pipeline(transaction=True) as pipe:
            for seat in known - wanted:
                pipe.zrem(IDLE, seat)
            for seat in wanted - known - busy:
                pipe.zadd(IDLE, {seat: 0}, nx=True)
            await pipe.execute()

    async def claim(
        self, call_id: str, candidates: Iterable[str], line: WaitingLine | None = None
    ) -> str | None:
        """Take the longest-idle free seat among ``candidates`` for a call, or None. With a
        ``line``, only when it is this caller's turn in it (see :mod:`queues.line`)."""
        seats = list(candidates)
        if not seats:
            return None
        keys = [IDLE, BUSY, PAUSED, RESTING] + ([line.waiting, line.ringing] if line else [])
        seat = await self._claim(keys=keys, args=[call_id, *seats])
        return _text(seat) if seat else None

    async def pause(self, seat_id: str, reason: str) -> None:
        """Offer this seat no calls until :meth:`resume` (a call in progress goes on).
        Logging out is a pause with the reason ``logged-out``."""
        await self.redis.hset(PAUSED, seat_id, reason or "paused")
        await self._announce(seat_id, "paused", reason=reason or "paused")

    async def resume(self, seat_id: str) -> None:
        await self.redis.hdel(PAUSED, seat_id)
        await self._announce(seat_id, "available")

    async def rest(self, seat_id: str, seconds: float) -> None:
        """Offer this seat no calls for ``seconds``: wrap-up after a call, or a phone that
        cannot be reached now."""
        await self.redis.zadd(RESTING, {seat_id: time.time() + seconds})
        await self._announce(seat_id, "resting", seconds=seconds)

    async def _announce(self, seat_id: str, state: str, **details: object) -> None:
        """Seat state changes go out on Redis pub/sub (the live dashboard listens)."""
        await publish(self.redis, "seat", seat=seat_id, state=state, **details)

    async def paused(self) -> dict[str, str]:
        raw = await self.redis.hgetall(PAUSED)
        return {_text(seat): _text(reason) for seat, reason in raw.items()}

    async def release(self, seat_id: str, call_id: str, idle_since: float | None = None) -> bool:
        """Free a seat that this call holds; it queues behind seats idle for longer."""
        stamp = time.time() if idle_since is None else idle_since
        released = await self._release(keys=[IDLE, BUSY], args=[seat_id, call_id, stamp])
        return bool(released)

    async def states(self, seat_ids: Iterable[str]) -> dict[str, dict[str, object]]:
        """Each seat's state: ``busy`` (with its call), ``paused`` (with the reason),
        ``resting`` (wrap-up or unreachable, until when) or ``available``."""
        busy, paused = await self.busy(), await self.paused()
        now = time.time()
        states: dict[str, dict[str, object]] = {}
        for seat in seat_ids:
            until = await self.redis.zscore(RESTING, seat)
            if seat in busy:
                states[seat] = {"state": "busy", "call": busy[seat]}
            elif seat in paused:
                states[seat] = {"state": "paused", "reason": paused[seat]}
            elif until is not None and until > now:
                states[seat] = {"state": "resting", "until": until}
            else:
                states[seat] = {"state": "available"}
        return states

    async def busy_with(self, seat_id: str) -> str | None:
        """The call a seat is busy with, if any."""
        call = await self.redis.hget(BUSY, seat_id)
        return _text(call) if call else None

    async def busy(self) -> dict[str, str]:
        """Busy seats and the call each one is on."""
        raw = await self.redis.hgetall(BUSY)
        return {_text(seat): _text(call) for seat, call in raw.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
