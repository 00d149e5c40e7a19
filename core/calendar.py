"""The days an admin enters into the working-time calendar, and putting them to use.

Holidays and make-up working days come from two places: the site file's ``[calendar]``
(reviewed with the rest of the site) and the admin API (``/api/calendar``: entered while the
line runs, each change audited). Together they override ``chinese-calendar`` in this
process's :data:`core.worktime.CALENDAR`, which every schedule reads; a day entered through
the API wins over the site file's. Processes read the stored days when they start and then
now and then (:func:`keep_fresh`), never on a call's path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core.db import Base, UtcDateTime
from core.site import Site
from core.worktime import CALENDAR

log = logging.getLogger(__name__)

REFRESH = 60.0
"""Seconds between two readings of the stored days in a long-running process."""


class CalendarDay(Base):
    """A day entered through the admin API: a public holiday or a make-up working day."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(80), default="")
    entered_by: Mapped[str] = mapped_column(String(80))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CalendarChange(Base):
    """One change to the entered days: who, when, what the day was and what it became."""

    __tablename__ = "calendar_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    day: Mapped[date] = mapped_column(Date, index=True)
    before: Mapped[str | None] = mapped_column(String(100))
    after: Mapped[str | None] = mapped_column(String(100))


def _describe(row: CalendarDay | None) -> str | None:
    if row is None:
        return None
    kind = "working day" if row.working else "holiday"
    return f"{kind}: {row.name}" if row.name else kind


def stored_days(session: Session) -> dict[date, bool]:
    """The days entered through the admin API: working day (True) or holiday (False)."""
    rows = session.execute(select(CalendarDay.day, CalendarDay.working)).all()
    return {day: bool(working) for day, working in rows}


def enter_day(
    session: Session, day: date, working: bool | None, name: str, actor: str, at: datetime
) -> bool:
    """Enter a day as a working day or a holiday (``working`` None: remove what was entered,
    so the site file's or the package's answer applies again), audited. False when nothing
    changed."""
    row = session.get(CalendarDay, day)
    before = _describe(row)
    if working is None:
        if row is None:
            return False
        session.delete(row)
        after = None
    else:
        if row is not None and row.working == working and row.name == name:
            return False
        if row is None:
            row = CalendarDay(day=day)
            session.add(row)
        row.working, row.name, row.entered_by, row.entered_at = working, name, actor, at
        after = _describe(row)
    session.add(CalendarChange(at=at, actor=actor, day=day, before=before, after=after))
    return True


def install(site: Site, session: Session | None = None) -> None:
    """Put the site file's days, and the stored days when a session is given, into this
    process's calendar."""
    days = site.calendar.days()
    if session is not None:
        days |= stored_days(session)
    CALENDAR.enter(days)


class StoredDays:
    """Reads the stored days into the calendar at most every :data:`REFRESH` seconds, for a
    process that has a database session at hand anyway (the record writer)."""

    def __init__(self, site: Site, every: float = REFRESH) -> None:
        self.site = site
        self.every = every
        self._read_at = -every

    def refresh(self, session: Session) -> None:
        """Read them again if the last reading is older than ``every`` seconds."""
        if time.monotonic() - self._read_at < self.every:
            return
        install(self.site, session)
        self._read_at = time.monotonic()


async def keep_fresh(site: Site, sessions: sessionmaker[Session], every: float = REFRESH) -> None:
    """Read the stored days now and every ``every`` seconds, forever (an unreadable
    database keeps the days in memory)."""
    while True:
        try:
            await asyncio.to_thread(install_from, site, sessions)
        except Exception as error:
            log.warning("could not read the calendar's days (%s); keeping those in memory", error)
        await asyncio.sleep(every)


def install_from(site: Site, sessions: sessionmaker[Session]) -> None:
    """:func:`install` with a session of its own."""
    with sessions() as session:
        install(site, session)
