"""When the application falls behind, new callers go on to Asterisk's own queue.

Asterisk stamps every event with the moment it sent it. A new caller's ``StasisStart``
handled :data:`SHED_AFTER` or more after that moment means the app's event loop is busy
with others and every caller behind it waits too. Then, for :data:`HOLD` seconds after the
last such late arrival, every new caller goes on to Asterisk's queue with its priority and
its arrival — the fallback that already serves when no app runs, or Redis is away — while
the callers already in the app's line keep their place and are served as before. The
heartbeat says the app is behind, so the monitor sends nobody back meanwhile; once it says
the app serves again, the monitor sends the callers waiting in Asterisk's queue back, in
their order, and the app takes them whatever its load (a caller is handed over once).

Why these figures: a caller's setup (INVITE → the seat's INVITE) has a p99 target of 50 ms
at 50 calls/s; a caller who waits 100 ms for the app alone is already twice past it, while
Asterisk's ``Queue()`` rings a seat within 10 ms at the same load. Two seconds is long
enough for the events queued behind a late one to drain (at 50 calls/s, 100 ms is five
callers), and short enough that the app takes the line back soon after a burst.

Pure: the edge (``ari_app.app``) hands in each new caller's wait and the moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SHED_AFTER = 0.1
"""Seconds a new caller's StasisStart may wait for the app before the app counts as behind."""
HOLD = 2.0
"""Seconds after the last late arrival during which new callers go to Asterisk's queue."""


@dataclass
class Backlog:
    """Whether the app is behind with its new callers, from how long each one waited."""

    behind_until: float = float("-inf")

    def arrived(self, waited: float, now: float) -> None:
        """A new caller's StasisStart, handled ``waited`` seconds after Asterisk sent it."""
        if waited >= SHED_AFTER:
            self.behind_until = now + HOLD

    def behind(self, now: float) -> bool:
        """Whether new callers go on to Asterisk's queue now."""
        return now < self.behind_until


def sent_at(timestamp: object) -> float | None:
    """When Asterisk sent an event (its ``timestamp``, e.g. ``2026-12-06T11:50:00.123+0000``),
    in seconds since the epoch; None if it has none that can be read."""
    if not isinstance(timestamp, str):
        return None
    try:
        return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None
