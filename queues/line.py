"""The waiting line of a queue: callers in order of priority with aging.

**The rule.** Callers are served in order of their *effective arrival*: the moment they
joined, moved earlier by their tier's head start. A red-list firm is placed as if it had
called ``red_list_head_start`` seconds earlier (60 by default, per queue in the site file).
So a red-list firm goes ahead of everyone who has waited less than that, and — the bound —
a caller is only ever overtaken by red-list callers who arrived less than
``red_list_head_start`` seconds after them. A normal caller who has waited longer than the
head start is ahead of any red-list firm that calls now. Strict priority, as in Asterisk's
``QUEUE_PRIO``, has no such bound: a steady stream of red-list calls starves everyone else.

The line lives in Redis (a sorted set scored by effective arrival, a hash of callers whose
seat is ringing, and which process serves each caller), so it survives a restart of the
application and is shared by every application process. The caller whose turn it is is the
first one not already ringing a seat; only that caller may be given a seat, by the
dispatcher (:mod:`queues.dispatch`), which runs whenever something changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from redis.asyncio import Redis

from core import keys
from queues.dispatch import Offer, Scripts, moment, offers_from
from redlist.tiers import RedListTier


@dataclass(frozen=True)
class Joined:
    """A caller's place in the line, and the seats the join freed up for anyone."""

    ahead: int | None
    offers: list[Offer]


@dataclass(frozen=True)
class WaitingLine:
    """The line of one queue, as one application process (``me``) sees it."""

    redis: Redis
    queue: str
    red_list_head_start: float
    me: str = ""
    """The application process using it (its own callers' offers come back, not published)."""
    scripts: Scripts = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scripts", Scripts(self.redis))

    @property
    def waiting(self) -> str:
        return keys.line_waiting(self.queue)

    @property
    def ringing(self) -> str:
        return keys.line_ringing(self.queue)

    def effective_arrival(self, arrived: float, tier: RedListTier | None) -> float:
        """When the caller counts as having arrived (epoch seconds)."""
        return arrived - (self.red_list_head_start if tier is not None else 0.0)

    async def join(
        self,
        caller_id: str,
        arrived: float,
        tier: RedListTier | None,
        now: float,
        prefer: str | None = None,
    ) -> Joined:
        """Take a place in the line (a caller already in it keeps its place: taken over after
        a restart) and serve the line. ``prefer``: a seat the caller gets at once if it is
        free (a call the hotline cut, called back with its seat)."""
        reply = await self.scripts.join(
            args=[
                self.queue,
                caller_id,
                repr(self.effective_arrival(arrived, tier)),
                self.me,
                moment(now),
                self.me,
                prefer or "",
            ]
        )
        rank = int(reply[0])
        return Joined(rank if rank >= 0 else None, offers_from(reply[1:]))

    async def answered(self, caller_id: str) -> None:
        """A seat answered: out of the line (the seat stays busy with the call)."""
        await self.scripts.answered(args=[self.queue, caller_id])

    async def leave(self, caller_id: str, now: float) -> list[Offer]:
        """Gone (hung up, sent off, moved): out of the line; a seat reserved for the caller
        and not answered is free again; the line is served."""
        return offers_from(
            await self.scripts.leave(args=[self.queue, caller_id, moment(now), self.me])
        )

    async def new_round(self, caller_id: str, now: float) -> list[Offer]:
        """Every seat of the queue was rung for this caller: all may be tried again."""
        return offers_from(
            await self.scripts.new_round(args=[self.queue, caller_id, moment(now), self.me])
        )

    async def ahead_of(self, caller_id: str) -> int | None:
        """How many callers are ahead of this one (None: not in the line)."""
        rank = await self.redis.zrank(self.waiting, caller_id)
        return rank if isinstance(rank, int) else None

    async def callers(self) -> list[str]:
        """Everyone in the line, in the order they will be served."""
        return [_text(c) for c in await self.redis.zrange(self.waiting, 0, -1)]

    async def reserved(self) -> dict[str, str]:
        """Callers with a seat reserved (ringing) → the seat."""
        raw = await self.redis.hgetall(self.ringing)
        return {_text(caller): _text(seat) for caller, seat in raw.items()}

    async def owners(self) -> dict[str, str]:
        """Callers in the line → the application process serving each."""
        raw = await self.redis.hgetall(keys.line_owners(self.queue))
        return {_text(caller): _text(app) for caller, app in raw.items()}


def gone_for_good(
    held: Iterable[str], live: Set[str], seen_gone: Set[str]
) -> tuple[set[str], set[str]]:
    """Which line places and busy seats to free: ``held`` are the channels they belong to,
    ``live`` the channels Asterisk has, ``seen_gone`` those already missing at the previous
    look. A channel missing twice in a row is gone for good (its call's own clean-up had
    every chance); one missing for the first time is only suspected. Returns (gone for good,
    suspected now)."""
    missing = {channel for channel in held if channel not in live}
    return missing & seen_gone, missing - seen_gone


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
