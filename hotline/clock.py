"""The time the hotline believes it is: real UTC, or an injected moment for tests and
rehearsals (``HOTLINE_CLOCK=2026-10-01T03:00:00+08:00`` makes a process start at that moment
and run on from it)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta


def _offset() -> timedelta:
    pretend = os.environ.get("HOTLINE_CLOCK")
    if not pretend:
        return timedelta(0)
    moment = datetime.fromisoformat(pretend)
    if moment.tzinfo is None:
        raise ValueError("HOTLINE_CLOCK needs a time zone, e.g. 2026-10-01T03:00:00+08:00")
    return moment - datetime.now(UTC)


_OFFSET = _offset()


def now() -> datetime:
    """The current moment (UTC, aware)."""
    return datetime.now(UTC) + _OFFSET
