"""Asterisk's own queues, the fallback when no application process serves calls, kept in
step with the seats, and emptied back into the application when it serves again.

**Why.** While the application is down the dialplan queues callers with ``Queue()``, whose
members are the site's seats. Asterisk knows when a seat's phone is in a call, but not that
a seat is paused, logged out, in its wrap-up after a call the application handled, or was
rested because its phone could not be reached: it rang such seats while idle ones waited.
So a seat that is not available for the application is paused for Asterisk too
(``QueuePause``), and unpaused when it is available again. A seat in a call Asterisk's
queue put through (``InCall`` in Asterisk's queue status, seen at two looks in a row) is
held busy for the application, and freed when that call ends. And when an application process
serves calls again, the callers waiting in Asterisk's queues are sent back to it, in their
order (``Redirect`` to the dialplan's Stasis step), so that one line, not two, hands out the
seats.

The decisions are pure (:func:`pauses_to_send`, :func:`callers_to_take_back`); the monitor
carries them out over AMI (:class:`FallbackMirror`), every :data:`MIRROR_EVERY` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MIRROR_EVERY = 1.0
"""Seconds between two looks at the seats and at Asterisk's queues."""
AVAILABLE = "available"
BUSY = "busy"
HELD = "held"
"""A seat held busy for a call Asterisk's queue put through (``core.keys.FALLBACK_CALL``)."""
MARK = "HOTLINE_FALLBACK"
"""The channel variable the dialplan's fallback sets on the callers it queues."""
TAKEN_BACK = "TAKENBACK"
"""What the queue log says of a caller the monitor sends back to the application (written
just before the ``Redirect``, whose leaving Asterisk's queue logs an ``ABANDON``)."""


@dataclass(frozen=True)
class Member:
    """A seat in one of Asterisk's queues, as Asterisk has it."""

    queue: str
    seat: str
    paused: bool
    in_use: bool = False


@dataclass(frozen=True)
class Pause:
    """Pause (``paused``) or unpause one seat in one of Asterisk's queues."""

    queue: str
    seat: str
    paused: bool
    reason: str = ""


@dataclass(frozen=True)
class Waiting:
    """A caller waiting in one of Asterisk's queues (``channel``: its name, for AMI)."""

    queue: str
    channel: str
    position: int
    uniqueid: str = ""


def pauses_to_send(states: Mapping[str, str], members: Iterable[Member]) -> list[Pause]:
    """What to change in Asterisk's queues so that a seat is paused there exactly when it is
    not offered calls by the application: paused, logged out or resting (``states``: seat →
    ``available``, ``busy``, ``paused``, ``resting``). A busy seat is left as it is: Asterisk
    sees its phone in use. A seat the application does not know stays as it is."""
    changes = []
    for member in members:
        state = states.get(member.seat)
        if state is None or state in (BUSY, HELD):
            continue
        wanted = state != AVAILABLE
        if wanted != member.paused:
            changes.append(Pause(member.queue, member.seat, wanted, state if wanted else ""))
    return changes


def holds_to_change(
    states: Mapping[str, str], members: Iterable[Member], seen_in_use: Set[str]
) -> tuple[set[str], set[str], set[str]]:
    """Seats to hold busy (available for the application, their phone in use for Asterisk
    now and at the previous look, ``seen_in_use``), seats to free (held, and their phone no
    longer in use), and the seats to remember as seen in use now."""
    in_use: set[str] = set()
    known: set[str] = set()
    for member in members:
        known.add(member.seat)
        if member.in_use:
            in_use.add(member.seat)
    available = {seat for seat, state in states.items() if state == AVAILABLE}
    held = {seat for seat, state in states.items() if state == HELD}
    to_hold = available & in_use & seen_in_use
    to_free = (held & known) - in_use
    return to_hold, to_free, available & in_use


def callers_to_take_back(waiting: Iterable[Waiting]) -> list[Waiting]:
    """The callers waiting in Asterisk's queues, in the order they are to be sent back to
    the application: each queue's first caller first, the queues' lines interleaved by
    position so that no queue waits for another's whole line."""
    return sorted(waiting, key=lambda w: (w.position, w.queue))


def members_from(events: Iterable[Mapping[str, Any]]) -> list[Member]:
    """The ``QueueMember`` events of a ``QueueStatus`` reply, as members (PJSIP seats)."""
    members = []
    for event in events:
        if event.get("Event") != "QueueMember":
            continue
        interface = str(event.get("StateInterface") or event.get("Location") or "")
        if interface.startswith("PJSIP/"):
            seat = interface.removeprefix("PJSIP/")
            # InCall: in a call this queue put through (not the app's calls, not feature codes)
            paused, in_use = str(event.get("Paused")) == "1", str(event.get("InCall")) == "1"
            members.append(Member(str(event.get("Queue")), seat, paused, in_use))
    return members


def waiting_from(events: Iterable[Mapping[str, Any]]) -> list[Waiting]:
    """The ``QueueEntry`` events of a ``QueueStatus`` reply: callers waiting."""
    waiting = []
    for event in events:
        if event.get("Event") != "QueueEntry":
            continue
        try:
            position = int(str(event.get("Position")))
        except ValueError:
            continue
        waiting.append(
            Waiting(
                str(event.get("Queue")),
                str(event.get("Channel")),
                position,
                str(event.get("Uniqueid") or ""),
            )
        )
    return waiting


Send = Callable[[dict[str, str]], Awaitable[Any]]
"""Sends one AMI action and gives its reply (a list of messages for a list action)."""


class FallbackMirror:
    """Carries the decisions out over AMI: ``seat_states`` gives each seat's state,
    ``app_serving`` whether an application process serves calls now."""

    def __init__(
        self,
        send: Send,
        seat_states: Callable[[], Awaitable[Mapping[str, str]]],
        app_serving: Callable[[], Awaitable[bool]],
        entry: tuple[str, str, str],
        hold: Callable[[str, bool], Awaitable[object]],
    ) -> None:
        self.send = send
        self.seat_states = seat_states
        self.app_serving = app_serving
        self.entry = entry
        """Where a caller sent back goes: the dialplan's Stasis step (context, exten, label)."""
        self.hold = hold
        """Hold a seat busy (True) for a call of Asterisk's queue, or free it (False)."""
        self._seen_in_use: set[str] = set()

    async def step(self) -> None:
        """One look: pause and unpause, then send waiting callers back if an app serves."""
        reply = await self.send({"Action": "QueueStatus"})
        events = [dict(message) for message in (reply if isinstance(reply, list) else [reply])]
        states = await self.seat_states()
        members = members_from(events)
        to_hold, to_free, self._seen_in_use = holds_to_change(states, members, self._seen_in_use)
        for seat in sorted(to_hold):
            await self.hold(seat, True)
            log.info("seat %s is in a call Asterisk's queue put through: held", seat)
        for seat in sorted(to_free):
            await self.hold(seat, False)
            log.info("seat %s: the call Asterisk's queue put through has ended", seat)
        for change in pauses_to_send(states, members):
            await self.send(
                {
                    "Action": "QueuePause",
                    "Queue": change.queue,
                    "Interface": f"PJSIP/{change.seat}",
                    "Paused": "true" if change.paused else "false",
                    "Reason": change.reason or "available",
                }
            )
            log.info(
                "Asterisk's queue %s: seat %s %s",
                change.queue,
                change.seat,
                f"paused ({change.reason})" if change.paused else "available again",
            )
        waiting = waiting_from(events)
        if waiting and await self.app_serving():
            context, exten, label = self.entry
            for caller in callers_to_take_back(waiting):
                channel = caller.channel
                if not await self._queued_by_the_fallback(channel):
                    continue  # a Queue() of someone else's dialplan
                # said in the queue log first: the ABANDON the redirect makes is not one
                await self.send(
                    {
                        "Action": "QueueLog",
                        "Queue": caller.queue,
                        "Event": TAKEN_BACK,
                        "UniqueId": caller.uniqueid,
                        "Interface": "NONE",
                        "Message": "to the hotline application",
                    }
                )
                await self.send(
                    {
                        "Action": "Redirect",
                        "Channel": channel,
                        "Context": context,
                        "Exten": exten,
                        "Priority": label,
                    }
                )
                log.info("caller %s taken back from Asterisk's queue", channel)

    async def _queued_by_the_fallback(self, channel: str) -> bool:
        reply = await self.send({"Action": "Getvar", "Channel": channel, "Variable": MARK})
        return isinstance(reply, Mapping) and str(reply.get("Value")) == "1"
