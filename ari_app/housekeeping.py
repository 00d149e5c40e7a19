"""The application's housekeeping: what keeps the lines and seats true when something
behind a call failed — a seat offered to a caller this process no longer has, a place or a
seat held for a channel that is gone (the sweep), Redis that stops answering (its callers go
on in Asterisk's queue), offers that went astray, and callers sent on to Asterisk's queue
whose records are still open. Nothing here is on the path of a call: seats are offered the
moment something changes (``queues.dispatch``); this only catches what was missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from ari_app.call import STORE_BACK
from ari_app.client import UNREACHABLE, AriError, Event
from ari_app.names import seen_here
from call import events
from call.state import Phase
from callback.book import is_attempt
from cdr.records import CallEnded
from core import clock, keys
from core.events import publish
from core.outcomes import CallOutcome
from queues.dispatch import Offer
from queues.line import gone_for_good

if TYPE_CHECKING:
    from ari_app.app import StasisApp

log = logging.getLogger(__name__)

STORE_CHECK_EVERY = 0.5
"""Seconds between the app's looks at Redis (a PING)."""
STORE_GRACE = 3.0
"""Seconds without an answer from Redis after which it counts as lost: the waiting callers go
on in Asterisk's queue. (A restart of Redis takes well under a second.)"""
SWEEP_EVERY = 2.0
"""Seconds between the sweeps that serve every line and pick up offers that went astray.
Not on the path of any call: seats are offered the moment something changes; the sweep only
covers a wrap-up whose process died before it ended, and a published offer that was lost."""


NODE_LOST_AFTER = 1.0
"""Seconds a node's Asterisk may refuse every connection before its calls count as lost:
another node answers new calls meanwhile, and calls its callers back. (The one PBX of a
line is waited for: its calls are found lost when it is back, ``StasisApp.notice_restart``.)"""


class Housekeeping:
    """The chores of one application process (:class:`~ari_app.app.StasisApp`)."""

    def __init__(self, host: StasisApp) -> None:
        self.host = host

    async def give_back(self, offer: Offer) -> None:
        """A seat offered to a caller this process has no call for: the seat is given back;
        if the caller's channel is gone, its place in the line goes too (else the caller,
        first in line, would be offered every seat in turn and hold the line for good)."""
        try:
            if not await self.host.exists(offer.caller):
                await self.free_place(offer.queue, offer.caller, "offered a seat")
                return
            await self.host.seats.release(offer.seat, offer.caller, ringing_in=offer.queue)
        except (AriError, RedisError) as error:
            log.warning(
                "could not give back seat %s offered to %s: %s", offer.seat, offer.caller, error
            )

    async def free_place(self, queue: str, caller: str, found: str, ended: bool = True) -> None:
        """A caller who has gone leaves the line (a seat reserved for it is free again):
        announced on the bus and, if its channel is gone (``ended``) rather than waiting in
        Asterisk's queue, recorded as a call that ended unobserved."""
        self.host.deliver(await self.host.line(queue).leave(caller, clock.time()))
        where = "had gone" if ended else "waits in Asterisk's queue"
        log.warning(
            "caller %s %s but kept its place in %s (%s): removed", caller, where, queue, found
        )
        await publish(
            self.host.redis,
            "place-freed",
            app=self.host.name,
            queue=queue,
            caller=caller,
            found=found,
        )
        if await self.host.calling_back.rebook_orphan(caller):
            return  # a call-back's place without its attempt: due again, not lost
        if ended:
            self.host.writer.put(CallEnded(caller, CallOutcome.ENDED_UNOBSERVED, clock.now()))
            await self.host.callbacks.drop_card(caller)

    async def free_gone(
        self, seen_gone: set[str] | None, found: str, owner: str | None = None
    ) -> set[str]:
        """The one way a place in line or a seat held for a gone call is freed: its channel is
        gone for good, or has gone on in Asterisk's own queue — away now and in ``seen_gone``
        (the sweep's two looks), or away now when ``seen_gone`` is None (taking an
        application over: its calls, ``owner``'s places, have nobody else to clean up after
        them). A seat whose phone is still in a call is not freed but held for Asterisk's
        queue. Returns the channels away for the first time, to look at again."""

        def ours_to_judge(call: str) -> bool:
            # not a call of ours (it cleans up after itself); a channel of this node's
            # Asterisk, or a call-back attempt (judged by its process's life)
            return call not in self.host.owners and (
                seen_here(self.host.site, call) or is_attempt(call)
            )

        places: set[tuple[str, str]] = set()
        for queue, line in self.host.lines.items():
            owners = await line.owners()
            places |= {
                (queue, caller)
                for caller in await line.callers()
                if ours_to_judge(caller) and (owner is None or owners.get(caller) == owner)
            }
        busy = await self.host.seats.busy()
        held = {
            call: seat
            for seat, call in busy.items()
            if ours_to_judge(call) and call != keys.FALLBACK_CALL  # not a channel's
        }
        if not places and not held:
            return set()
        snapshot = await self.host.ari.channels()
        live = {channel["id"] for channel in snapshot}
        here = live - {channel["id"] for channel in snapshot if in_asterisk_queue(channel)}
        channels = {caller for _, caller in places} | set(held)
        # a call-back attempt has no channel until the company is dialled: it lives while the
        # process making it does (one of ours that is not in ``owners`` has lost its call)
        here |= await self.host.calling_back.attempts_alive(channels)
        # with no earlier look, everything away now counts as seen away already
        earlier = channels if seen_gone is None else seen_gone
        gone, suspected = gone_for_good(channels, here, earlier)
        for queue, caller in sorted(places):
            if caller in gone:
                await self.free_place(queue, caller, found, ended=caller not in live)
        for call in sorted(gone & set(held)):
            seat = held[call]
            if await self._phone_in_call(seat):
                # put through by Asterisk's queue while Redis was away: the monitor's mirror
                # frees it when that call ends
                if await self.host.seats.hand_over(seat, call, keys.FALLBACK_CALL):
                    log.warning(
                        "seat %s was held for %s which is gone, but its phone is in a "
                        "call: held for Asterisk's queue",
                        seat,
                        call,
                    )
                continue
            if await self.host.seats.release(seat, call):
                log.warning("seat %s was held for %s which is gone (%s): freed", seat, call, found)
                await publish(
                    self.host.redis,
                    "seat-freed",
                    app=self.host.name,
                    seat=seat,
                    call=call,
                    found=found,
                )
        return suspected

    async def _phone_in_call(self, seat: str) -> bool:
        """Whether a seat's phone has a channel now (an error counts as yes: not freed)."""
        try:
            return bool((await self.host.ari.endpoint("PJSIP", seat)).get("channel_ids"))
        except AriError as error:
            return error.status != 404

    async def follow_handed_over(self) -> None:
        """Close the records of callers sent on to Asterisk's queue once they have gone
        (seen gone twice), and forget those an application took back (it records them)."""
        if not self.host.handed_over_calls:
            return
        snapshot = {channel["id"]: channel for channel in await self.host.ari.channels()}
        for caller, seen_gone in list(self.host.handed_over_calls.items()):
            channel = snapshot.get(caller)
            if caller in self.host.owners or (channel is not None and in_stasis(channel)):
                del self.host.handed_over_calls[caller]
            elif channel is None and seen_gone:
                del self.host.handed_over_calls[caller]
                self.host.writer.put(CallEnded(caller, CallOutcome.ENDED_UNOBSERVED, clock.now()))
                await self.host.callbacks.drop_card(caller)
            else:
                self.host.handed_over_calls[caller] = channel is None

    async def watch_node(self) -> None:
        """This node's event stream dropped: if its Asterisk refuses every connection for
        :data:`NODE_LOST_AFTER`, it has died (or its machine has gone) and every call of
        this process went with it; its callers are called back from another node, in their
        turn or at once with their seat. A stream that only dropped changes nothing."""
        deadline = time.monotonic() + NODE_LOST_AFTER
        while time.monotonic() < deadline:
            try:
                await self.host.ari.started_at()
            except AriError as error:
                if error.status != UNREACHABLE:
                    return  # it answers, refusing: alive
            else:
                return
            if self.host.connected.is_set():
                return
            await asyncio.sleep(0.2)
        log.warning("this node's Asterisk is gone: %d calls went with it", len(self.host.calls))
        self.host.lose_every_call()

    async def watch_store(self) -> None:
        """Look at Redis every :data:`STORE_CHECK_EVERY`; once it has not answered for
        :data:`STORE_GRACE`, every caller still waiting goes on in Asterisk's queue (and
        every new caller, until it answers again)."""
        last_answer = time.monotonic()
        while True:
            try:
                await self.host.redis.ping()
            except RedisError as error:
                if self.host.store_ok and time.monotonic() - last_answer >= STORE_GRACE:
                    self.host.store_ok = False
                    log.warning(
                        "Redis has not answered for %.1f s (%s): waiting callers go "
                        "on in Asterisk's queue",
                        STORE_GRACE,
                        error,
                    )
                    for call in self.host.calls:
                        call.post(events.StoreLost())
            else:
                last_answer = time.monotonic()
                if not self.host.store_ok:
                    self.host.store_ok = True
                    log.warning("Redis answers again: the app queues new callers itself")
                for call in self.host.calls:
                    if call.owes:  # a step a hiccup made it miss
                        call.post(STORE_BACK)
            await asyncio.sleep(STORE_CHECK_EVERY)

    async def sweep(self) -> None:
        """Serve every line now and then (see :data:`SWEEP_EVERY`), and free the places and
        seats of callers gone for good (seen gone at two sweeps in a row, by whichever
        process holds the sweep's lock for the round)."""
        suspected: set[str] = set()
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            if self.host.connected.is_set():
                suspected = await self.sweep_once(suspected)

    async def sweep_once(self, suspected: set[str] | None = None) -> set[str]:
        """One round of the sweep; the channels seen away for the first time in it."""
        suspected = set() if suspected is None else suspected
        try:
            await self.follow_handed_over()
        except AriError as error:
            log.warning("could not look for callers sent to Asterisk's queue: %s", error)
        try:
            await self.host.seats.serve(self.host.lines)
            await self.find_lost_offers()
            if await self.host.redis.set(keys.GONE_SWEEP, self.host.name, nx=True, px=1500):
                return await self.free_gone(suspected, "sweep")
        except Exception as error:
            log.warning("the sweep of the lines failed (%s); again soon", error)
        return suspected

    async def find_lost_offers(self) -> None:
        """Seats reserved for this process's waiting callers that they never heard of; and
        waiting callers whose place in line is gone (they take it again)."""
        for queue, line in self.host.lines.items():
            in_line = set(await line.callers())
            for mine in self.host.calls:
                state = mine.caller
                waiting = state.phase is Phase.WAITING and state.in_line
                if waiting and state.queue == queue and mine.caller_id not in in_line:
                    mine.post(events.PlaceLost())
            owners, reserved = await line.owners(), await line.reserved()
            for caller, seat in reserved.items():
                if owners.get(caller) != self.host.name:
                    continue
                call = self.host.owners.get(caller)
                if call is None or call.caller.phase is not Phase.WAITING:
                    continue
                if seat not in call.caller.tried:
                    call.post(events.SeatOffered(seat))
                    log.info("offer of seat %s to %s found again in %s", seat, caller, queue)


def in_stasis(channel: Event) -> bool:
    """Whether a channel (an ARI snapshot) is in a Stasis application."""
    return (channel.get("dialplan") or {}).get("app_name") == "Stasis"


def in_asterisk_queue(channel: Event) -> bool:
    """Whether a channel (an ARI snapshot) waits or talks in Asterisk's own ``Queue()``."""
    return (channel.get("dialplan") or {}).get("app_name") == "Queue"
