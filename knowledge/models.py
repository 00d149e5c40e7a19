"""The knowledge base's tables: the entries, and every change made to one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class KnowledgeEntry(Base):
    """One answer a seat may give: what it is about, what it says, and while it holds."""

    __tablename__ = "knowledge_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    """The office's own number for the entry: importing it again changes that entry."""
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    matter_code: Mapped[str | None] = mapped_column(String(6), index=True)
    department_code: Mapped[str | None] = mapped_column(String(40))
    keywords: Mapped[str] = mapped_column(String(500), default="")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def as_dict(self) -> dict[str, Any]:
        return {column.name: getattr(self, column.key) for column in self.__table__.columns}


class KnowledgeChange(Base):
    """An entry added, changed or deleted (the audit log), with what it said before and after."""

    __tablename__ = "knowledge_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(12))
    """``added``, ``changed`` or ``deleted``."""
    who: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    before: Mapped[str | None] = mapped_column(Text)
    """The entry as JSON before the change (none: it was added)."""
    after: Mapped[str | None] = mapped_column(Text)
