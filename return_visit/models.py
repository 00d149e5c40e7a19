"""The return visits' tables: one visit per answered work order, and each call made for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class ReturnVisit(Base):
    """The hotline asks a company about its answered order: responded? resolved? satisfied?"""

    __tablename__ = "return_visits"
    __table_args__ = (Index("ix_return_visits_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(String(24), unique=True)
    department_code: Mapped[str] = mapped_column(String(40), index=True)
    matter_code: Mapped[str | None] = mapped_column(String(6))
    enterprise_id: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(40))
    """The company's number, normalised: what is dialled through the trunk."""
    state: Mapped[str] = mapped_column(String(12))
    """``pending``, ``calling``, ``done``, ``given-up`` or ``by-hand``
    (``return_visit.rules.VisitState``)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    """When the order was answered (the visit was planned)."""
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When the next call is due."""
    due_by: Mapped[datetime] = mapped_column(UtcDateTime())
    """No call after this: the visit is given up."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Calls made that found nobody, or the one that answered."""
    channel: Mapped[str | None] = mapped_column(String(64))
    """The call under way (state ``calling``)."""
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    responded: Mapped[bool | None] = mapped_column(Boolean)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    """``satisfied``, ``basically-satisfied`` or ``dissatisfied``."""
    visited_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    visited_by: Mapped[str | None] = mapped_column(String(64))
    """``phone`` (the keypad), or who recorded a visit made by hand."""
    note: Mapped[str | None] = mapped_column(Text)

    def as_dict(self) -> dict[str, Any]:
        return {column.name: getattr(self, column.key) for column in self.__table__.columns}


class ReturnVisitCall(Base):
    """One call made for a return visit, and how it ended."""

    __tablename__ = "return_visit_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(Integer, index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    """``answered``, ``no-key``, ``busy``, ``no-answer``, ``unreachable`` or ``interrupted``."""
    cause: Mapped[int | None] = mapped_column(Integer)
