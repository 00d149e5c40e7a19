"""What the transfer keeps in SQL: the plan (departments and matters), every transfer
request with each attempt, and the work orders created when nobody could be reached."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class Department(Base):
    """A department whose specialists are brought into calls; seeded from the site file,
    then edited through the admin API."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    numbers: Mapped[list[str]] = mapped_column(JSON)
    """The specialists' numbers in forwarding order."""
    days: Mapped[str] = mapped_column(String(20))
    """``working-days`` (Chinese working days) or ``every-day``."""
    periods: Mapped[str] = mapped_column(String(200))
    """Opening periods, comma-separated: ``09:00-12:00,13:30-17:30``."""


class Matter(Base):
    """A high-frequency enterprise matter: the code a seat keys, the department it goes to."""

    __tablename__ = "matters"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Numbers of its own, tried before the department's (none: the department's only)."""
    script: Mapped[str] = mapped_column(Text, default="")


class TransferRequest(Base):
    """A seat asked to bring a department's specialist into a call."""

    __tablename__ = "transfer_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    """The request's own name, made up by the call (its records refer to it by that)."""
    caller_channel: Mapped[str] = mapped_column(String(64), index=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    seat_id: Mapped[str | None] = mapped_column(String(16), index=True)
    matter_code: Mapped[str] = mapped_column(String(6), index=True)
    department_code: Mapped[str] = mapped_column(String(40), index=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    in_hours: Mapped[bool] = mapped_column(Boolean)
    """Whether the department was open: the connect rate counts these apart."""
    via: Mapped[str] = mapped_column(String(12))
    """``keypad`` (the seat's phone), ``api`` or ``console``."""
    outcome: Mapped[str | None] = mapped_column(String(20))
    """``answered``, ``failed`` (nobody answered), ``closed`` (department closed),
    ``cancelled`` (by the seat) or ``abandoned`` (the caller hung up first)."""
    answered_number: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    work_order_id: Mapped[int | None] = mapped_column(Integer)


class TransferAttempt(Base):
    """One dial of one number for a transfer request."""

    __tablename__ = "transfer_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("transfer_requests.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    """1 for the first number, 2 for the first forward, ..."""
    number: Mapped[str] = mapped_column(String(40), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    rang_seconds: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(20))
    """``answered``, ``busy``, ``no-answer``, ``rejected``, ``unavailable`` (not
    registered or unreachable), ``failed`` (congestion and the rest), ``cancelled`` (by the
    seat) or ``abandoned`` (the caller hung up while it rang)."""
    cause: Mapped[int | None] = mapped_column(Integer)
    """The Q.850 cause Asterisk gave."""
    sip_code: Mapped[int | None] = mapped_column(Integer)
    """The SIP response that ended it, when there was one."""
    cancelled_by: Mapped[str | None] = mapped_column(String(16))


class WorkOrder(Base):
    """A request a department must answer by a deadline counted in its working time."""

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    department_code: Mapped[str] = mapped_column(String(40), index=True)
    matter_code: Mapped[str | None] = mapped_column(String(6))
    level: Mapped[str] = mapped_column(String(20))
    """``immediate``, ``3-days``, ``7-days``, ``15-days`` or ``second-urgent`` (24 h)."""
    reason: Mapped[str] = mapped_column(String(20))
    """Why it exists: ``unanswered`` (no specialist answered), ``closed`` (department
    closed), ``manual`` (the admin API) or ``desk`` (a seat, at wrap-up)."""
    request: Mapped[str | None] = mapped_column(Text)
    """What the company asked, as the seat wrote it (orders made from the desk)."""
    state: Mapped[str] = mapped_column(String(12), index=True)
    """``open``, ``accepted``, ``replied``, ``closed`` or ``overdue``."""
    enterprise_id: Mapped[int | None] = mapped_column(Integer, index=True)
    caller_number: Mapped[str | None] = mapped_column(String(40))
    caller_channel: Mapped[str | None] = mapped_column(String(64))
    transfer_request_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reply_to_company: Mapped[str | None] = mapped_column(Text)
    """What the department told the company (the first of the dual feedback)."""
    report_to_hotline: Mapped[str | None] = mapped_column(Text)
    """What the department reported back to the hotline (the second)."""

    def as_dict(self) -> dict[str, Any]:
        return {column.name: getattr(self, column.key) for column in self.__table__.columns}


class OrderReminder(Base):
    """One reminder of a work order: its stage, where it went, and whether it arrived."""

    __tablename__ = "order_reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(String(24), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    """``near-deadline``, ``overdue`` (to the department) or ``escalated`` (supervisors)."""
    channel: Mapped[str] = mapped_column(String(8))
    """``webhook``, ``email`` or ``event`` (the hotline's own bus)."""
    target: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(String(300), default="")
    """Why it did not arrive (the error), or what took it (the HTTP status)."""
