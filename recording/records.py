"""What is recorded about recordings (written to SQL by ``recording.recorder``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RecordingStarted:
    """Asterisk records the call's bridge into ``name`` (under the recordings directory)."""

    caller_channel: str
    name: str
    at: datetime


@dataclass(frozen=True)
class RecordingFailed:
    """A call that should have been recorded is not: ``reason`` says why (the call went on)."""

    caller_channel: str
    at: datetime
    reason: str
