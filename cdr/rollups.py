"""Figures summed per hour (or day) of the site's local time, kept current as calls end.

Each row is bumped in the same transaction that writes the final outcome of what it counts
(a transfer request, an attempt, a stay in a queue, a seat rung, a rating), and that write
happens once, so a rollup counts everything exactly once. Reports over long periods read
these rows instead of the details; the details may be deleted after ``detail_days`` and the
rollups stay.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Date, Float, Integer, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base
from core.site import Site
from transfer.models import TransferAttempt, TransferRequest

TRANSFER_OUTCOMES = ("answered", "failed", "closed", "cancelled", "abandoned")
SEAT_OUTCOMES = (
    "answered",
    "no-answer",
    "declined",
    "unreachable",
    "caller-left",
    "interrupted",
)
RATINGS = ("satisfied", "basically-satisfied", "dissatisfied", "no-answer")


def _count() -> Mapped[int]:
    return mapped_column(Integer, default=0, nullable=False)


def _seconds() -> Mapped[float]:
    return mapped_column(Float, default=0.0, nullable=False)


class _TransferFigures:
    """What the transfer rollups count (by hour or by day)."""

    requests: Mapped[int] = _count()
    answered: Mapped[int] = _count()
    answered_forward: Mapped[int] = _count()
    """Answered by a busy-forward number (not the first one dialled)."""
    failed: Mapped[int] = _count()
    closed: Mapped[int] = _count()
    cancelled: Mapped[int] = _count()
    abandoned: Mapped[int] = _count()


class TransferHour(_TransferFigures, Base):
    """Transfer requests by the hour they were made, department, matter and whether the
    department was open."""

    __tablename__ = "transfer_hours"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    in_hours: Mapped[bool] = mapped_column(Boolean, primary_key=True)


class TransferDay(_TransferFigures, Base):
    """The same figures by local day: what reports over long periods read (a year is 365
    rows per matter, not 24 times as many)."""

    __tablename__ = "transfer_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    in_hours: Mapped[bool] = mapped_column(Boolean, primary_key=True)


class AttemptHour(Base):
    """Dials of specialists' numbers by the hour they started, number and outcome."""

    __tablename__ = "attempt_hours"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    attempts: Mapped[int] = _count()
    rang_seconds: Mapped[float] = _seconds()


class QueueHour(Base):
    """Stays in a queue by the hour the caller joined it, red-list firms apart."""

    __tablename__ = "queue_hours"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    red_list: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    offered: Mapped[int] = _count()
    """Callers who waited while the queue was open (everyone but ``closed``)."""
    answered: Mapped[int] = _count()
    """Answered by a seat (moved on afterwards or not)."""
    answered_in_sl: Mapped[int] = _count()
    wait_answered: Mapped[float] = _seconds()
    abandoned: Mapped[int] = _count()
    """Hung up while waiting, after the short-abandon threshold."""
    short_abandoned: Mapped[int] = _count()
    max_wait: Mapped[int] = _count()
    closed: Mapped[int] = _count()
    failed: Mapped[int] = _count()
    moved: Mapped[int] = _count()
    callback: Mapped[int] = _count()
    """Keyed 1 to hang up and be called back in their turn."""


class SeatDay(Base):
    """One seat's day in one queue: rung, answered, talk, and the callers' ratings."""

    __tablename__ = "seat_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    seat_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    rung: Mapped[int] = _count()
    answered: Mapped[int] = _count()
    no_answer: Mapped[int] = _count()
    declined: Mapped[int] = _count()
    unreachable: Mapped[int] = _count()
    caller_left: Mapped[int] = _count()
    interrupted: Mapped[int] = _count()
    talk_seconds: Mapped[float] = _seconds()
    satisfied: Mapped[int] = _count()
    basically_satisfied: Mapped[int] = _count()
    dissatisfied: Mapped[int] = _count()
    no_answer_rating: Mapped[int] = _count()
    """Callers asked to rate who pressed nothing."""


def local_slot(at: datetime, zone: ZoneInfo) -> tuple[date, int]:
    """The site's local day and hour of a UTC moment."""
    local = at.astimezone(zone)
    return local.date(), local.hour


def column(name: str) -> str:
    """A figure's column name (``no-answer`` → ``no_answer``)."""
    return name.replace("-", "_")


def bump(session: Session, model: type[Base], key: dict[str, Any], **added: float) -> None:
    """Add ``added`` to the figures of the row ``key`` (created at zero if missing), in one
    statement that concurrent writers cannot lose updates of."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**key, **added)
    statement = statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + statement.excluded[name] for name in added},
    )
    session.execute(statement)


class Rollups:
    """Bumps the rollups from within the recorders' transactions."""

    def __init__(self, zone: ZoneInfo, service_level: int = 15, short_abandon: int = 5) -> None:
        self.zone = zone
        self.service_level = service_level
        self.short_abandon = short_abandon

    @classmethod
    def for_site(cls, site: Site) -> Rollups:
        reports = site.reports
        return cls(site.timezone, reports.service_level_seconds, reports.short_abandon_seconds)

    def transfer_finished(self, session: Session, request: TransferRequest) -> None:
        """Count a transfer request whose outcome has just been decided."""
        outcome = request.outcome
        if outcome not in TRANSFER_OUTCOMES:
            return
        day, hour = local_slot(request.requested_at, self.zone)
        added: dict[str, float] = {"requests": 1, outcome: 1}
        if outcome == "answered" and _answered_on_forward(session, request):
            added["answered_forward"] = 1
        key = {
            "day": day,
            "department_code": request.department_code,
            "matter_code": request.matter_code,
            "in_hours": request.in_hours,
        }
        bump(session, TransferDay, key, **added)
        bump(session, TransferHour, {**key, "hour": hour}, **added)

    def attempt_ended(
        self, session: Session, attempt: TransferAttempt, department_code: str
    ) -> None:
        day, hour = local_slot(attempt.started_at, self.zone)
        key = {
            "day": day,
            "hour": hour,
            "department_code": department_code,
            "number": attempt.number,
            "outcome": attempt.outcome,
        }
        bump(session, AttemptHour, key, attempts=1, rang_seconds=attempt.rang_seconds or 0.0)

    def visit_ended(
        self,
        session: Session,
        queue: str,
        tier: str | None,
        entered_at: datetime,
        outcome: str,
        wait: float,
        sign: int = 1,
    ) -> None:
        """Count a stay in a queue that has just ended (``sign`` -1: take back a count that
        turned out wrong — a stay the app closed unseen that Asterisk's queue served)."""
        day, hour = local_slot(entered_at, self.zone)
        added: dict[str, float] = {}
        if outcome != "closed":
            added["offered"] = 1
        if outcome in ("answered", "moved"):
            added |= {"answered": 1, "wait_answered": wait}
            if wait <= self.service_level:
                added["answered_in_sl"] = 1
            if outcome == "moved":
                added["moved"] = 1
        elif outcome == "abandoned":
            added["abandoned" if wait >= self.short_abandon else "short_abandoned"] = 1
        elif outcome in ("max-wait", "closed", "failed", "callback"):
            added[column(outcome)] = 1
        key = {"day": day, "hour": hour, "queue": queue, "red_list": tier is not None}
        bump(session, QueueHour, key, **{name: sign * value for name, value in added.items()})

    def visit_moved(
        self, session: Session, queue: str, tier: str | None, entered_at: datetime
    ) -> None:
        """A stay already counted as answered ended with the seat moving the caller on."""
        day, hour = local_slot(entered_at, self.zone)
        key = {"day": day, "hour": hour, "queue": queue, "red_list": tier is not None}
        bump(session, QueueHour, key, moved=1)

    def seat_attempt_ended(
        self, session: Session, queue: str, seat_id: str, rung_at: datetime, outcome: str
    ) -> None:
        if outcome not in SEAT_OUTCOMES:
            return
        day, _ = local_slot(rung_at, self.zone)
        key = {"day": day, "queue": queue, "seat_id": seat_id}
        bump(session, SeatDay, key, rung=1, **{column(outcome): 1})

    def talked(
        self, session: Session, queue: str, seat_id: str, answered_at: datetime, seconds: float
    ) -> None:
        day, _ = local_slot(answered_at, self.zone)
        bump(
            session, SeatDay, {"day": day, "queue": queue, "seat_id": seat_id}, talk_seconds=seconds
        )

    def rated(
        self, session: Session, queue: str, seat_id: str, answered_at: datetime, rating: str
    ) -> None:
        if rating not in RATINGS:
            return
        day, _ = local_slot(answered_at, self.zone)
        name = "no_answer_rating" if rating == "no-answer" else column(rating)
        bump(session, SeatDay, {"day": day, "queue": queue, "seat_id": seat_id}, **{name: 1})


def _answered_on_forward(session: Session, request: TransferRequest) -> bool:
    """Whether the number that answered was not the first one dialled."""
    positions = session.execute(
        select(TransferAttempt.position).where(
            TransferAttempt.request_id == request.id,
            TransferAttempt.number == request.answered_number,
        )
    ).scalars()
    return any(position > 1 for position in positions)
