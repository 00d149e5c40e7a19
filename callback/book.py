"""The call-back book, in Redis: every call-back promised and not yet kept, with the caller's
place (arrival and tier), when its next attempt is due, and the attempt in progress.

Each step is one Lua script, so that two application processes never start the same
call-back twice (:meth:`CallbackBook.claim` takes it out of the due set atomically), and a
number never has two call-backs pending (a second request keeps the first one's place).
SQL keeps the history (``callback_requests``, ``callback_attempts``); this is what is due.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from callback.ticket import CALL_OFF
from core import keys
from redlist.tiers import RedListTier

_PREFIX = keys.callback("")
ATTEMPT_PREFIX = "callback-"
CARD_TTL = 12 * 3600
"""Seconds a caller's call-back card is kept (a call on a node lasts far less)."""


def attempt_channel() -> str:
    """A new caller channel id for an attempt (the company's leg, once dialled)."""
    return f"{ATTEMPT_PREFIX}{uuid.uuid4().hex}"


def is_attempt(channel: str) -> bool:
    """Whether a caller in a line is a call-back attempt (no channel until it is dialled)."""
    return channel.startswith(ATTEMPT_PREFIX)


BOOK = f"""
local due_set, numbers = '{keys.CALLBACKS_DUE}', '{keys.CALLBACKS_BY_NUMBER}'
local request, number = ARGV[1], ARGV[2]
local known = redis.call('HGET', numbers, number)
if known and redis.call('EXISTS', '{_PREFIX}' .. known) == 1 then return known end
local fields = {{}}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', '{_PREFIX}' .. request, unpack(fields))
redis.call('HSET', numbers, number, request)
redis.call('ZADD', due_set, ARGV[3], request)
return request
"""

CLAIM = f"""
local request, channel, app = ARGV[1], ARGV[2], ARGV[3]
if redis.call('ZREM', '{keys.CALLBACKS_DUE}', request) == 0 then return false end
redis.call('HSET', '{keys.CALLBACK_ATTEMPTS}', channel, request)
redis.call('HSET', '{_PREFIX}' .. request, 'channel', channel, 'app', app)
return redis.call('HGETALL', '{_PREFIX}' .. request)
"""

REBOOK = f"""
local request, due, counted = ARGV[1], ARGV[2], ARGV[3]
local entry = '{_PREFIX}' .. request
if redis.call('EXISTS', entry) == 0 then return 0 end
local channel = redis.call('HGET', entry, 'channel')
if channel then
  redis.call('HDEL', '{keys.CALLBACK_ATTEMPTS}', channel)
  redis.call('HDEL', entry, 'channel', 'app')
end
if counted == '1' then redis.call('HINCRBY', entry, 'attempts', 1) end
redis.call('ZADD', '{keys.CALLBACKS_DUE}', due, request)
return 1
"""

CLOSE = f"""
local request = ARGV[1]
local entry = '{_PREFIX}' .. request
local number, channel = unpack(redis.call('HMGET', entry, 'number', 'channel'))
if number and redis.call('HGET', '{keys.CALLBACKS_BY_NUMBER}', number) == request then
  redis.call('HDEL', '{keys.CALLBACKS_BY_NUMBER}', number)
end
if channel then redis.call('HDEL', '{keys.CALLBACK_ATTEMPTS}', channel) end
redis.call('ZREM', '{keys.CALLBACKS_DUE}', request)
return redis.call('DEL', entry)
"""

CANCEL = f"""
local request = redis.call('HGET', '{keys.CALLBACKS_BY_NUMBER}', ARGV[1])
if not request then return false end
local entry = '{_PREFIX}' .. request
local channel = redis.call('HGET', entry, 'channel')
if not channel and not redis.call('ZSCORE', '{keys.CALLBACKS_DUE}', request) then return false end
redis.call('HDEL', '{keys.CALLBACKS_BY_NUMBER}', ARGV[1])
redis.call('ZREM', '{keys.CALLBACKS_DUE}', request)
redis.call('DEL', entry)
if channel then redis.call('HDEL', '{keys.CALLBACK_ATTEMPTS}', channel) end
return {{request, channel or ''}}
"""


@dataclass(frozen=True)
class Booked:
    """One call-back as the book keeps it: enough to make an attempt."""

    request: str
    queue: str
    number: str
    arrived: float
    tier: RedListTier | None
    kind: str
    enterprise_id: int | None
    name: str
    reason: str
    requested_at: float
    attempts: int
    """Attempts made so far that used one up."""
    prefer: str | None = None
    """The seat rung first if it is free."""

    def as_fields(self) -> list[str]:
        return [
            *("queue", self.queue, "number", self.number, "arrived", repr(self.arrived)),
            *("tier", self.tier.value if self.tier else "", "kind", self.kind),
            *("enterprise_id", str(self.enterprise_id or ""), "name", self.name),
            *("reason", self.reason, "requested_at", repr(self.requested_at)),
            *("attempts", str(self.attempts), "prefer", self.prefer or ""),
        ]

    @classmethod
    def from_fields(cls, request: str, raw: dict[str, str]) -> Booked:
        tier = raw.get("tier") or ""
        enterprise = raw.get("enterprise_id") or ""
        return cls(
            request=request,
            queue=raw["queue"],
            number=raw["number"],
            arrived=float(raw["arrived"]),
            tier=RedListTier(tier) if tier in set(RedListTier) else None,
            kind=raw.get("kind") or "unknown",
            enterprise_id=int(enterprise) if enterprise.isdigit() else None,
            name=raw.get("name") or "",
            reason=raw.get("reason") or "",
            requested_at=float(raw.get("requested_at") or raw["arrived"]),
            attempts=int(raw.get("attempts") or 0),
            prefer=raw.get("prefer") or None,
        )


class CallbackBook:
    """The call-backs due and in progress, shared by every application process."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._book = redis.register_script(BOOK)
        self._claim = redis.register_script(CLAIM)
        self._rebook = redis.register_script(REBOOK)
        self._close = redis.register_script(CLOSE)
        self._cancel = redis.register_script(CANCEL)

    async def book(self, entry: Booked, due: float) -> str:
        """Promise a call-back, due at ``due``; the request kept (a number with a call-back
        pending keeps the one it has, and its place)."""
        kept = await self._book(args=[entry.request, entry.number, repr(due), *entry.as_fields()])
        return _text(kept)

    async def keep_card(self, entry: Booked) -> None:
        """Keep what the caller's call-back would be (a line of several nodes): if its
        node's machine goes, a process of another node books it (:meth:`card`)."""
        key = keys.callback_card(entry.request)
        fields = entry.as_fields()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(zip(fields[::2], fields[1::2], strict=True)))
            pipe.expire(key, CARD_TTL)
            await pipe.execute()

    async def drop_card(self, channel: str) -> None:
        """The card of a caller on ``channel`` is not needed any more."""
        await self.redis.delete(keys.callback_card(channel))

    async def card(self, channel: str) -> Booked | None:
        """The call-back kept for a caller on ``channel`` (None: none was kept)."""
        raw = await self.redis.hgetall(keys.callback_card(channel))
        return _booked(channel, raw) if raw else None

    async def due(self, now: float, limit: int = 50) -> list[str]:
        """Requests whose next attempt is due, earliest first."""
        found = await self.redis.zrangebyscore(keys.CALLBACKS_DUE, "-inf", now, 0, limit)
        return [_text(request) for request in found]

    async def peek(self, request: str) -> Booked | None:
        raw = await self.redis.hgetall(keys.callback(request))
        return _booked(request, raw) if raw else None

    async def claim(self, request: str, channel: str, app: str) -> Booked | None:
        """Take a due call-back for an attempt on ``channel`` by the process ``app``; None
        if another process took it first (or it was cancelled)."""
        raw = await self._claim(args=[request, channel, app])
        if not raw:
            return None
        pairs = [_text(item) for item in raw]
        return _booked(request, dict(zip(pairs[::2], pairs[1::2], strict=True)))

    async def rebook(self, request: str, due: float, counted: bool) -> bool:
        """The attempt did not reach the company: due again at ``due``."""
        return bool(await self._rebook(args=[request, repr(due), "1" if counted else "0"]))

    async def close(self, request: str) -> None:
        """Reached, given up or cancelled: out of the book."""
        await self._close(args=[request])

    async def cancel(self, number: str) -> str | None:
        """The company called in again: its call-back is cancelled — due later, or being
        attempted (the process making the attempt is told to call it off); the request
        cancelled, if any."""
        cancelled = await self._cancel(args=[number])
        if not cancelled:
            return None
        request, channel = (_text(item) for item in cancelled)
        if channel:
            await self.redis.publish(
                keys.COMMANDS, json.dumps({"call": channel, "action": CALL_OFF})
            )
        return request

    async def request_of(self, channel: str) -> str | None:
        """The call-back an attempt's caller channel belongs to."""
        request = await self.redis.hget(keys.CALLBACK_ATTEMPTS, channel)
        return _text(request) if request else None

    async def app_of(self, channel: str) -> str | None:
        """The process making the attempt on ``channel``, while it is in progress."""
        request = await self.request_of(channel)
        if request is None:
            return None
        app = await self.redis.hget(keys.callback(request), "app")
        return _text(app) if app else None

    async def pending(self) -> list[tuple[Booked, float | None]]:
        """Every call-back in the book, with when it is due (None: being attempted)."""
        scored = await self.redis.zrange(keys.CALLBACKS_DUE, 0, -1, withscores=True)
        due: dict[str, float] = {_text(item[0]): float(item[1]) for item in scored}
        found: list[tuple[Booked, float | None]] = []
        async for key in self.redis.scan_iter(match=keys.callback("*"), count=500):
            request = _text(key).removeprefix(_PREFIX)
            booked = await self.peek(request)
            if booked is not None:
                found.append((booked, due.get(request)))
        return sorted(found, key=lambda item: item[0].arrived)


def _booked(request: str, raw: Mapping[Any, Any]) -> Booked | None:
    try:
        return Booked.from_fields(request, {_text(k): _text(v) for k, v in raw.items()})
    except (KeyError, ValueError):
        return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
