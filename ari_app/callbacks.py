"""Call-backs in one application process: due ones started as calls in their turn.

Every second, each process looks at the call-backs due (``callback.book``) whose queue is
open; each one it claims — atomically, so no two processes start the same — becomes an
:class:`~ari_app.call.InboundCall` whose caller is the company, not dialled yet
(``call.calling_back``): it waits in the line with the first arrival and tier of the call
that asked for it. A place in line whose attempt has no call any more (its process died,
Redis went away) is booked again by :meth:`CallbackStarter.rebook_orphan`, called where
such places are freed (``ari_app.housekeeping``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from ari_app.call import InboundCall
from call.state import Caller
from callback.book import Booked, CallbackBook, attempt_channel, is_attempt
from callback.records import CallbackAttemptEnded
from callback.ticket import CallbackOutcome, CallbackRules, CallbackTicket
from core import clock
from core.site import Site

if TYPE_CHECKING:
    from ari_app.app import StasisApp

log = logging.getLogger(__name__)

LOOK_EVERY = 1.0
"""Seconds between looks at the call-backs due."""


def dial_out_endpoint(site: Site) -> str | None:
    """How the hotline dials a company (``{number}`` in it): through the first trunk that
    goes out; None if none does."""
    trunk = next((t for t in site.trunks if t.outbound_contact), None)
    return f"PJSIP/{{number}}@{trunk.name}" if trunk else None


def callback_rules(site: Site) -> CallbackRules:
    """The site's ``[callbacks]`` as the decisions read them: the company is dialled out
    with the hotline's number."""
    settings = site.callbacks
    return CallbackRules(
        enabled=settings.enabled,
        attempts=settings.attempts,
        retry_after=settings.retry_after,
        ring_timeout=settings.ring_timeout,
        caller_id=site.transfer_caller_id,
        endpoint=dial_out_endpoint(site),
    )


def caller_for(booked: Booked, channel: str, called: str) -> Caller:
    """The caller of an attempt: the company, with the place of the call that asked."""
    ticket = CallbackTicket(
        booked.request, booked.number, booked.attempts + 1, booked.requested_at, booked.prefer
    )
    return Caller(
        channel=channel,
        queue=booked.queue,
        arrived=booked.arrived,
        number=booked.number,
        called=called,
        kind=booked.kind,
        enterprise_id=booked.enterprise_id,
        name=booked.name,
        tier=booked.tier,
        answered_by_front_door=True,
        arrival_noted=True,
        callback_number=booked.number,
        callback=ticket,
    )


class CallbackStarter:
    """Starts the call-backs due as calls of this process."""

    def __init__(self, host: StasisApp, book: CallbackBook, rules: CallbackRules) -> None:
        self.host = host
        self.book = book
        self.rules = rules

    async def run(self) -> None:
        """Look at the call-backs due every second while this process serves calls."""
        while True:
            try:
                if self.rules.enabled and self.host.connected.is_set() and self.host.store_ok:
                    await self.start_due()
            except RedisError as error:  # Redis away: the store watch says so
                log.debug("could not look at the call-backs due: %s", error)
            except Exception:
                log.exception("looking at the call-backs due failed; trying again")
            await clock.sleep_until(clock.time() + LOOK_EVERY)

    async def start_due(self) -> list[InboundCall]:
        """Start every call-back due whose queue is open; the calls started."""
        started = []
        due = [await self.book.peek(request) for request in await self.book.due(clock.time())]
        # a call the hotline cut goes first: the seat it had is free for it now; the others
        # start at the next look, once the cut ones have joined the line with their seats
        cut_started = False
        for booked in sorted(filter(None, due), key=lambda booked: booked.prefer is None):
            if booked.prefer is None and cut_started:
                break
            request = booked.request
            if booked.queue not in self.host.lines or not self.host.is_open(booked.queue):
                continue  # out of hours: it waits for the queue to open
            channel = attempt_channel()
            claimed = await self.book.claim(request, channel, self.host.name)
            if claimed is None:
                continue  # another process took it
            call = InboundCall(self.host, caller_for(claimed, channel, self.rules.caller_id))
            call.start()
            started.append(call)
            cut_started = cut_started or booked.prefer is not None
            log.info(
                "call-back %s to %s: attempt %d", request, claimed.number, claimed.attempts + 1
            )
        return started

    async def attempts_alive(self, channels: set[str]) -> set[str]:
        """The call-back attempts among ``channels`` that a live peer process makes (they
        have no channel in Asterisk to show they are alive)."""
        alive = set()
        for channel in channels:
            if not is_attempt(channel):
                continue
            app = await self.book.app_of(channel)
            if app and app != self.host.name and await self.host.presence.alive(app):
                alive.add(channel)
        return alive

    async def rebook_orphan(self, channel: str) -> bool:
        """A place in line held by an attempt that has no call any more: the call-back
        is due again at once (the attempt not counted). Whether ``channel`` was one."""
        if not is_attempt(channel):
            return False
        request = await self.book.request_of(channel)
        if request is None:
            return True
        await self.book.rebook(request, clock.time(), counted=False)
        now = clock.now()
        self.host.writer.put(
            CallbackAttemptEnded(
                request, channel, 0, None, now, now, CallbackOutcome.INTERRUPTED.value
            )
        )
        log.warning("call-back %s lost its attempt %s: due again", request, channel)
        return True
