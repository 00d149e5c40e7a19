"""Which seats are free, claimed atomically in Redis.

A seat is either idle (in a sorted set scored by the time it became free, so the
longest-idle seat comes first) or busy with exactly one call (in a hash seat → call).
Claiming moves a seat from idle to busy in one Lua script, so several application
processes sharing one Redis can never ring one seat for two calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

IDLE = "hotline:seats:idle"
BUSY = "hotline:seats:busy"

_CLAIM = """
local wanted = {}
for i = 2, #ARGV do wanted[ARGV[i]] = true end
for _, seat in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if wanted[seat] and redis.call('HEXISTS', KEYS[2], seat) == 0 then
    redis.call('ZREM', KEYS[1], seat)
    redis.call('HSET', KEYS[2], seat, ARGV[1])
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

    async def claim(self, call_id: str, candidates: Iterable[str]) -> str | None:
        """Take the longest-idle free seat among ``candidates`` for a call, or None."""
        seats = list(candidates)
        if not seats:
            return None
        seat = await self._claim(keys=[IDLE, BUSY], args=[call_id, *seats])
        return _text(seat) if seat else None

    async def release(self, seat_id: str, call_id: str, idle_since: float | None = None) -> bool:
        """Free a seat that this call holds; it queues behind seats idle for longer."""
        stamp = time.time() if idle_since is None else idle_since
        released = await self._release(keys=[IDLE, BUSY], args=[seat_id, call_id, stamp])
        return bool(released)

    async def busy(self) -> dict[str, str]:
        """Busy seats and the call each one is on."""
        raw = await self.redis.hgetall(BUSY)
        return {_text(seat): _text(call) for seat, call in raw.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
