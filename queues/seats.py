"""The seats and their states, in Redis, shared by every process.

A seat is either idle (in a sorted set scored by the time it became free, so the
longest-idle seat comes first) or busy with exactly one call (in a hash seat → call). A
paused seat (logged out is a pause too) or a resting one (wrap-up after a call, a phone that
could not be reached) is offered no call. Every change that can make a seat free serves the
lines of its queues at once (:mod:`queues.dispatch`); a rest that ends later is served when
it ends, by a timer of the process that set it (and by the sweep, should that process die).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping

from redis.asyncio import Redis

from core import clock, keys
from core.events import publish
from core.site import browser_account
from queues.dispatch import Offer, Scripts, moment, offers_from

log = logging.getLogger(__name__)

IDLE, BUSY = keys.SEATS_IDLE, keys.SEATS_BUSY
PAUSED, RESTING = keys.SEATS_PAUSED, keys.SEATS_RESTING
LOGGED_OUT = "logged-out"
"""The pause reason of a seat that logged out."""


class SeatPool:
    """The seats of a site and who is busy, as one process (``me``) sees them.

    ``me`` is the application process's name ("" for the web app or the front door): offers
    for its own callers come back from every call here and go to ``deliver``; offers for
    other processes' callers are published to them by Redis itself.
    """

    def __init__(
        self,
        redis: Redis,
        me: str = "",
        deliver: Callable[[list[Offer]], None] | None = None,
    ) -> None:
        self.redis = redis
        self.me = me
        self.deliver = deliver or (lambda offers: None)
        self.scripts = Scripts(redis)
        self._timers: set[asyncio.Task[None]] = set()

    async def sync(self, queues_of: Mapping[str, Iterable[str]]) -> None:
        """Make the pool hold exactly these seats (seat → the queues it serves); new seats
        start idle, busy ones stay busy."""
        wanted = {seat: sorted(queues) for seat, queues in queues_of.items()}
        known = {_text(s) for s in await self.redis.zrange(IDLE, 0, -1)}
        busy = {_text(s) for s in await self.redis.hkeys(BUSY)}
        queue_names = {queue for queues in wanted.values() for queue in queues}
        async with self.redis.pipeline(transaction=True) as pipe:
            for seat in known - set(wanted):
                pipe.zrem(IDLE, seat)
            for seat in set(wanted) - known - busy:
                pipe.zadd(IDLE, {seat: 0}, nx=True)
            pipe.delete(keys.SEAT_QUEUES)
            pipe.hset(keys.SEAT_QUEUES, mapping={s: ",".join(q) for s, q in wanted.items()})
            for queue in queue_names:
                pipe.delete(keys.queue_seats(queue))
                pipe.sadd(keys.queue_seats(queue), *[s for s, q in wanted.items() if queue in q])
            await pipe.execute()

    async def release(
        self,
        seat_id: str,
        call_id: str,
        rest_for: float = 0.0,
        pause: str = "",
        ringing_in: str = "",
    ) -> bool:
        """Free a seat this call holds: it rests ``rest_for`` seconds (wrap-up, a phone that
        could not be reached) or is paused for ``pause`` (it let the call ring out). With
        ``ringing_in`` (a queue), the caller it was rung for keeps its place in that line
        and may be offered another seat. Whether the call held the seat."""
        now = clock.time()
        until = now + rest_for if rest_for > 0 else 0.0
        reply = await self.scripts.release(
            args=[seat_id, call_id, moment(now), moment(until), pause, self.me, ringing_in]
        )
        released = bool(int(reply[0]))
        self.deliver(offers_from(reply[1:]))
        if released and pause:
            await self._announce(seat_id, "paused", reason=pause)
        elif released and rest_for > 0:
            await self._announce(seat_id, "resting", seconds=rest_for)
            self._serve_when_rested(seat_id, until)
        elif released:
            await self._announce(seat_id, "available")
        return released

    async def hold(self, seat_id: str, call_id: str) -> bool:
        """Hold a free seat for a call the application did not make (a call Asterisk's own
        queue put through): it is offered nothing until :meth:`release` with that call.
        Whether it was free."""
        held = bool(await self.scripts.hold(args=[seat_id, call_id]))
        if held:
            await self._announce(seat_id, "busy", call=call_id)
        return held

    async def hand_over(self, seat_id: str, call_id: str, holder: str) -> bool:
        """A seat held for ``call_id`` is held for ``holder`` instead, with no moment free
        between (no caller is offered it). Whether it was held for ``call_id``."""
        return bool(await self.scripts.hand_over(args=[seat_id, call_id, holder]))

    async def pause(self, seat_id: str, reason: str) -> None:
        """Offer this seat no calls until :meth:`resume` (a call in progress goes on)."""
        reason = reason or "paused"
        await self.scripts.pause(args=[seat_id, moment(clock.time()), self.me, reason])
        await self._announce(seat_id, "paused", reason=reason)

    async def resume(self, seat_id: str) -> None:
        """Offer this seat calls again (logging in is a resume); the lines are served."""
        reply = await self.scripts.pause(args=[seat_id, moment(clock.time()), self.me, ""])
        self.deliver(offers_from(reply))
        await self._announce(seat_id, "available")

    async def serve(self, queues: Iterable[str]) -> list[Offer]:
        """Serve these queues' lines now (the sweep, and a caller starting a new round)."""
        names = list(queues)
        if not names:
            return []
        reply = await self.scripts.serve(args=[moment(clock.time()), self.me, *names])
        offers = offers_from(reply)
        self.deliver(offers)
        return offers

    def _serve_when_rested(self, seat_id: str, until: float) -> None:
        async def wake() -> None:
            await clock.sleep_until(until)
            with contextlib.suppress(Exception):  # the sweep serves it if Redis is away now
                reply = await self.scripts.serve_seat(args=[seat_id, moment(clock.time()), self.me])
                self.deliver(offers_from(reply))

        task = asyncio.create_task(wake(), name=f"rest-{seat_id}")
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def close(self) -> None:
        """Stop the timers of this process (the sweep of another process takes over)."""
        for task in list(self._timers):
            task.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)

    async def _announce(self, seat_id: str, state: str, **details: object) -> None:
        """Seat state changes go out on the event bus (the live dashboard listens)."""
        await publish(self.redis, "seat", seat=seat_id, state=state, **details)

    async def paused(self) -> dict[str, str]:
        raw = await self.redis.hgetall(PAUSED)
        return {_text(seat): _text(reason) for seat, reason in raw.items()}

    async def states(self, seat_ids: Iterable[str]) -> dict[str, dict[str, object]]:
        """Each seat's state: ``busy`` (with its call), ``paused`` (with the reason),
        ``resting`` (wrap-up or unreachable, until when) or ``available``."""
        busy, paused = await self.busy(), await self.paused()
        now = clock.time()
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

    async def use_browser(self, seat_id: str, in_browser: bool) -> None:
        """Ring the seat at its console's browser phone, or (False) at its desk phone."""
        if in_browser:
            await self.redis.sadd(keys.SEATS_IN_BROWSER, seat_id)
        else:
            await self.redis.srem(keys.SEATS_IN_BROWSER, seat_id)
        await publish(self.redis, "seat-phone", seat=seat_id, browser=in_browser)

    async def in_browser(self, seat_id: str) -> bool:
        """Whether the seat's phone is its console (the browser phone)."""
        return bool(await self.redis.sismember(keys.SEATS_IN_BROWSER, seat_id))

    async def phone_of(self, seat_id: str) -> str:
        """The endpoint a seat is rung at: its desk phone, or its console's browser phone."""
        if await self.in_browser(seat_id):
            return f"PJSIP/{browser_account(seat_id)}"
        return f"PJSIP/{seat_id}"

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
