"""The waiting line of a queue: callers in order of priority with aging.

**The rule.** Callers are served in order of their *effective arrival*: the moment they
joined, moved earlier by their tier's head start. A red-list firm is placed as if it had
called ``red_list_head_start`` seconds earlier (60 by default, per queue in the site file).
So a red-list firm goes ahead of everyone who has waited less than that, and — the bound —
a caller is only ever overtaken by red-list callers who arrived less than
``red_list_head_start`` seconds after them. A normal caller who has waited longer than the
head start is ahead of any red-list firm that calls now. Strict priority, as in Asterisk's
``QUEUE_PRIO``, has no such bound: a steady stream of red-list calls starves everyone else.

The line lives in Redis (a sorted set scored by effective arrival, plus a hash of callers
whose seat is ringing), so it survives a restart of the application and is shared by every
application process. The caller whose turn it is is the first one not already ringing a seat;
only that caller may claim a seat (:meth:`queues.seats.SeatPool.claim`, atomically).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from redlist.models import RedListTier


@dataclass(frozen=True)
class WaitingLine:
    """The line of one queue."""

    redis: Redis
    queue: str
    red_list_head_start: float

    @property
    def waiting(self) -> str:
        return f"hotline:line:{self.queue}:waiting"

    @property
    def ringing(self) -> str:
        return f"hotline:line:{self.queue}:ringing"

    def effective_arrival(self, arrived: float, tier: RedListTier | None) -> float:
        """When the caller counts as having arrived (epoch seconds)."""
        return arrived - (self.red_list_head_start if tier is not None else 0.0)

    async def join(self, caller_id: str, arrived: float, tier: RedListTier | None) -> None:
        """Take a place in the line; a caller already in it (taken over after a restart)
        keeps its place."""
        await self.redis.zadd(
            self.waiting, {caller_id: self.effective_arrival(arrived, tier)}, nx=True
        )

    async def not_answered(self, caller_id: str) -> None:
        """The seat rung for this caller did not answer: the caller keeps its place."""
        await self.redis.hdel(self.ringing, caller_id)

    async def leave(self, caller_id: str) -> None:
        """Answered, or gone: out of the line."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.waiting, caller_id)
            pipe.hdel(self.ringing, caller_id)
            await pipe.execute()

    async def ahead_of(self, caller_id: str) -> int | None:
        """How many callers are ahead of this one (None: not in the line)."""
        rank = await self.redis.zrank(self.waiting, caller_id)
        return rank if isinstance(rank, int) else None

    async def callers(self) -> list[str]:
        """Everyone in the line, in the order they will be served."""
        return [
            c.decode() if isinstance(c, bytes) else str(c)
            for c in await self.redis.zrange(self.waiting, 0, -1)
        ]
