"""Names of the legs the app dials for a call: ``seat-<caller>-<random>`` for a seat,
``spec-<caller>-<random>`` for a specialist. The caller's channel id in the name lets a
process that takes calls over find legs still ringing for them (such a leg is in no
application until it answers, so nothing else points to it)."""

from __future__ import annotations

import uuid

from core.actions import LegKind

_KINDS = frozenset(kind.value for kind in LegKind)


def leg_id(kind: LegKind, caller: str) -> str:
    """A new channel id for a leg dialled for ``caller``."""
    return f"{kind.value}-{caller}-{uuid.uuid4().hex[:12]}"


def kind_of(channel_id: str) -> LegKind | None:
    """What a leg dialled for a caller is to its call (None: not such a leg)."""
    if caller_of(channel_id) is None:
        return None
    return LegKind(channel_id.partition("-")[0])


def caller_of(channel_id: str) -> str | None:
    """The caller a leg was dialled for; None for a channel that is not such a leg."""
    kind, _, rest = channel_id.partition("-")
    caller, _, suffix = rest.rpartition("-")
    return caller if kind in _KINDS and caller and suffix else None
