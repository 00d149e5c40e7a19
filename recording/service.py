"""The recordings as people reach them: a call's recordings, one recording's file for
someone allowed to hear it (each access written to the audit log), and the deletion of
those past the site's retention."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallLeg
from recording.files import file_of
from recording.models import Recording, RecordingAccess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingFile:
    """One recording as the API hands it out."""

    id: int
    caller_channel: str
    seat_id: str | None
    """The seat that took the call: its console may hear it."""
    path: Path | None
    """None once deleted (or never recorded)."""
    state: str


class Recordings:
    """The recordings of one installation (its database and its recordings directory)."""

    def __init__(self, session_factory: sessionmaker[Session], root: Path) -> None:
        self.session_factory = session_factory
        self.root = root

    def find(self, recording_id: int) -> RecordingFile | None:
        """A recording with the call's seat; None if there is no such recording."""
        with self.session_factory() as session:
            found = session.execute(
                select(Recording, CallLeg.seat_id)
                .outerjoin(CallLeg, CallLeg.caller_channel == Recording.caller_channel)
                .where(Recording.id == recording_id)
            ).first()
        if found is None:
            return None
        row, seat = found
        path = file_of(self.root, row.name) if row.name and row.state == "recorded" else None
        return RecordingFile(row.id, row.caller_channel, seat, path, row.state)

    def note_access(self, recording_id: int, who: str, action: str, at: datetime) -> None:
        """Write one access to the audit log (before the file is handed out)."""
        with self.session_factory.begin() as session:
            session.add(RecordingAccess(recording=recording_id, who=who, action=action, at=at))

    def accesses(self, recording_id: int) -> list[dict[str, object]]:
        """Who played or downloaded a recording, oldest first."""
        with self.session_factory() as session:
            rows = session.execute(
                select(RecordingAccess)
                .where(RecordingAccess.recording == recording_id)
                .order_by(RecordingAccess.id)
            ).scalars()
            return [{"who": r.who, "action": r.action, "at": r.at.isoformat()} for r in rows]

    def delete_expired(self, now: datetime, days: int) -> int:
        """Delete the files of recordings older than ``days`` and mark them deleted (the
        journey says so); how many were deleted."""
        cutoff = now - timedelta(days=days)
        deleted = 0
        with self.session_factory.begin() as session:
            rows = session.execute(
                select(Recording).where(
                    Recording.state == "recorded", Recording.started_at < cutoff
                )
            ).scalars()
            for row in rows:
                if row.name:
                    file_of(self.root, row.name).unlink(missing_ok=True)
                row.state, row.deleted_at = "deleted", now
                deleted += 1
        if deleted:
            log.info("deleted %d recordings older than %d days", deleted, days)
        return deleted
