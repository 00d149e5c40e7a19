"""The recordings' tables: one row per recorded (or unrecordable) call, and who heard what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class Recording(Base):
    """A call's recording: its file (by name, under the recordings directory), or why
    there is none."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_channel: Mapped[str] = mapped_column(String(64), index=True)
    """The call (``call_legs.caller_channel``)."""
    name: Mapped[str | None] = mapped_column(String(160), unique=True)
    """The file's name without ``.ogg``; none: the call could not be recorded."""
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    state: Mapped[str] = mapped_column(String(16))
    """``recorded``, ``failed`` (``reason`` says why) or ``deleted`` (after the retention)."""
    reason: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RecordingAccess(Base):
    """Someone played or downloaded a recording (the audit log)."""

    __tablename__ = "recording_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording: Mapped[int] = mapped_column(Integer, index=True)
    who: Mapped[str] = mapped_column(String(64))
    """``admin``, ``supervisor`` or ``seat:<id>``."""
    action: Mapped[str] = mapped_column(String(16))
    """``play`` or ``download``."""
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
