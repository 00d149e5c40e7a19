"""Writes the recording records (``recording.records``) into SQL. Applying a record twice
changes nothing (the writer may try a batch again)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from recording.models import Recording
from recording.records import RecordingFailed, RecordingStarted


class RecordingRecords:
    """Applies the recording records (see :class:`core.writer.Applier`)."""

    kinds: tuple[type, ...] = (RecordingStarted, RecordingFailed)

    def apply(self, session: Session, record: object) -> None:
        match record:
            case RecordingStarted(caller_channel, name, at):
                known = select(Recording.id).where(Recording.name == name)
                if session.execute(known).first() is None:
                    session.add(Recording(caller_channel=caller_channel, name=name,
                                          started_at=at, state="recorded"))  # fmt: skip
            case RecordingFailed(caller_channel, at, reason):
                known = select(Recording.id).where(
                    Recording.caller_channel == caller_channel,
                    Recording.started_at == at,
                    Recording.state == "failed",
                )
                if session.execute(known).first() is None:
                    session.add(Recording(caller_channel=caller_channel, started_at=at,
                                          state="failed", reason=reason[:200]))  # fmt: skip
            case _:
                raise TypeError(f"not a recording record: {record!r}")
        session.flush()
