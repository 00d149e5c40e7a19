"""A caller as the front door left it: read from the channel variables of an ARI snapshot."""

from __future__ import annotations

from ari_app.client import Event
from call import state
from core import clock
from redlist.directory import CallerKind, display_safe
from redlist.numbers import normalise, safe_number
from redlist.tiers import RedListTier


def caller_from_channel(
    channel: Event, queues: set[str], music: bool = False, area_code: str | None = None
) -> state.Caller:
    """A caller as the front door decided, from the channel variables in the ARI snapshot.
    Missing or garbled values fall back to an unknown caller for the enterprise queue.
    ``music``: the dialplan started music on hold before Stasis (its argument says so);
    ``area_code``: the site's, for the number a call-back dials."""
    variables = channel.get("channelvars") or {}
    try:
        kind = CallerKind(variables.get("HOTLINE_CALLER_KIND") or "unknown")
    except ValueError:
        kind = CallerKind.UNKNOWN
    try:
        tier = RedListTier(variables["HOTLINE_TIER"]) if variables.get("HOTLINE_TIER") else None
    except ValueError:
        tier = None
    enterprise = str(variables.get("HOTLINE_ENTERPRISE_ID") or "")
    queue = str(variables.get("HOTLINE_QUEUE") or "")
    if queue not in queues:
        queue = "citizen" if kind is CallerKind.CITIZEN and "citizen" in queues else "enterprise"
    prio = str(variables.get("QUEUE_PRIO") or "0")
    arrived, noted = _arrival(variables.get("HOTLINE_ARRIVED"))
    return state.Caller(
        channel=channel["id"],
        queue=queue,
        arrived=arrived,
        arrival_noted=noted,
        from_asterisk_queue=variables.get("HOTLINE_FALLBACK") == "1",
        number=safe_number(channel.get("caller", {}).get("number")),
        callback_number=normalise(channel.get("caller", {}).get("number"), area_code),
        called=safe_number(channel.get("dialplan", {}).get("exten")),
        linkedid=channel.get("linkedid"),
        kind=kind.value,
        enterprise_id=int(enterprise) if enterprise.isdigit() else None,
        name=display_safe(str(variables.get("HOTLINE_ENTERPRISE_NAME") or "")),
        tier=tier,
        queue_prio=int(prio) if prio.isdigit() else 0,
        answered_by_front_door=channel.get("state") == "Up",
        dialplan_music=music,
    )


def _arrival(value: object) -> tuple[float, bool]:
    """When the caller first arrived (noted on the channel by the front door, or by the app
    when the front door was away, so a restart or a move keeps it), and whether the channel
    carries it; now if it is missing or not believable."""
    now = clock.time()
    try:
        arrived = float(str(value))
    except ValueError:
        return now, False
    return (arrived, True) if now - 86400 < arrived <= now else (now, False)
