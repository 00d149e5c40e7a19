"""Every Redis key and channel of the hotline, in one place.

Redis is the one truth for what changes call by call and is shared by every process: the
waiting lines, the seats, transfers in progress, live figures, the caller directory and
which application process is alive.
"""

from __future__ import annotations

# --- the event bus and commands ----------------------------------------------------------
EVENTS = "hotline:events"
"""Pub/sub: every step of every call, for dashboards and anyone listening (core.events)."""
COMMANDS = "hotline:commands"
"""Pub/sub: commands for live calls from the API; the process owning the call obeys."""


def offers(app: str) -> str:
    """Pub/sub: seats offered to the callers an application process serves."""
    return f"hotline:offers:{app}"


# --- the waiting lines (queues.line) -----------------------------------------------------
def line_waiting(queue: str) -> str:
    """Sorted set: caller channel → effective arrival (the order they are served in)."""
    return f"hotline:line:{queue}:waiting"


def line_ringing(queue: str) -> str:
    """Hash: caller channel → the seat offered to it and being rung."""
    return f"hotline:line:{queue}:ringing"


def line_owners(queue: str) -> str:
    """Hash: caller channel → the application process that serves it (offers go there)."""
    return f"hotline:line:{queue}:owners"


def line_tried(queue: str, caller: str) -> str:
    """Set: the seats already rung for this caller in its current round."""
    return f"hotline:line:{queue}:tried:{caller}"


# --- the seats (queues.seats) ------------------------------------------------------------
SEATS_IDLE = "hotline:seats:idle"
"""Sorted set: every seat not busy → since when (the longest idle comes first)."""
SEATS_BUSY = "hotline:seats:busy"
"""Hash: seat → the call it is busy with."""
FALLBACK_CALL = "asterisk-queue"
"""What a busy seat is held for while its phone is in a call Asterisk's own queue put
through (the fallback, while no application process served): no application call is
offered to it until that call ends (``queues.fallback``)."""
SEATS_PAUSED = "hotline:seats:paused"
"""Hash: seat → why it is paused (``logged-out`` is a pause too)."""
SEATS_RESTING = "hotline:seats:resting"
"""Sorted set: seat → until when it is offered no call (wrap-up, unreachable phone)."""
SEATS_IN_BROWSER = "hotline:seats:in-browser"
"""Set: the seats whose console is their phone (rung at their browser account, not the desk
phone's)."""


SEAT_QUEUES = "hotline:seats:queues"
"""Hash: seat → the queues it serves, comma-separated (from the site file)."""


def queue_seats(queue: str) -> str:
    """Set: the seats that serve a queue (from the site file)."""
    return f"hotline:queue:{queue}:seats"


# --- calls -------------------------------------------------------------------------------
def transfer_status(call: str) -> str:
    """String (JSON): the latest transfer of a call, step by step (transfer.machine)."""
    return f"hotline:transfer:{call}"


CALLBACKS_DUE = "hotline:callbacks:due"
"""Sorted set: call-back request → when its next attempt is due (clock seconds). A request
being attempted is not in it."""
CALLBACKS_BY_NUMBER = "hotline:callbacks:numbers"
"""Hash: number called back → its request (one pending call-back per number)."""
CALLBACK_ATTEMPTS = "hotline:callbacks:attempts"
"""Hash: an attempt's caller channel → its request (a place in line without a call is
booked again, not lost)."""


def callback(request: str) -> str:
    """Hash: one call-back request: queue, number, place (arrival, tier), who, attempts."""
    return f"hotline:callback:{request}"


SURVEYING = "hotline:surveying"
"""Set: callers being asked to rate their call (a takeover must not queue them again)."""


def watcher(caller: str) -> str:
    """String: the process watching a connected call it adopted from a dead peer."""
    return f"hotline:watcher:{caller}"


# --- the application processes (ari_app.presence) ----------------------------------------
def heartbeat(app: str) -> str:
    """String with a short time to live: the process is alive (pid and whether it serves)."""
    return f"hotline:apps:{app}"


def callback_card(channel: str) -> str:
    """Hash, kept half a day: the call-back a caller on a node would get if the node went."""
    return f"hotline:callback-cards:{channel}"


def calls_now(app: str) -> str:
    """String beside the heartbeat, as long-lived: how many calls the process has now."""
    return f"hotline:apps-calls:{app}"


GONE_SWEEP = "hotline:sweep:gone"
"""Held by the one process that looks for line places and seats whose channel is gone, for
one round (so that each is freed, announced and recorded once)."""


def takeover(app: str) -> str:
    """String: the lock held while an application's calls are taken over."""
    return f"hotline:takeover:{app}"


# --- figures (cdr.live) and the caller directory (redlist.directory) ---------------------
LIVE_PREFIX = "hotline:live"
"""Hashes ``hotline:live:<in|off>:<dimension>:<value>:<b|d>:<bucket or day>``."""
ALERTS = "hotline:alerts"
"""Hash: department → the connect-rate alert raised for it (JSON)."""
SYSTEM_ALERTS = "hotline:alerts:system"
"""Hash: what (``recordings``) → an alert about the line itself (JSON ``{what, detail,
since}``): something that needs a person although calls go on."""
CALLERS = "hotline:callers"
"""Hash: normalised phone number → the registered company (the front door's directory)."""

SIP_BANS = "hotline:sip:bans"
"""Hash: source address -> JSON ``{until, reason, by}``; the SIP bans in force (guard)."""
