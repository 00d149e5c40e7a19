"""Working time: opening schedules in the site's time zone, aware of Chinese holidays.

A schedule says on which days (every day, or Chinese working days, which follow the State
Council's holidays and make-up working days) and in which periods of the day a queue or a
department is open.

**The calendar.** Which days are working days comes from the ``chinese-calendar`` package,
overridden by the days an admin entered (the site file's ``[calendar]``, the admin API):
the State Council publishes each year's holidays in November, often before a release of the
package carries them. A year neither source knows falls back to Monday to Friday — and is
reported (:meth:`Calendar.missing_years`) so that someone enters it in time. Each process
has one calendar, :data:`CALENDAR`, which every schedule reads (a test may give its own).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

_PERIOD = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class DayRule(StrEnum):
    """Which calendar days a schedule opens on."""

    EVERY_DAY = "every-day"
    WORKING_DAYS = "working-days"


@dataclass(frozen=True)
class Period:
    """One opening period within a day; ``end`` of 24:00 is midnight at the end of the day."""

    start: timedelta
    end: timedelta

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``"HH:MM-HH:MM"``; raise ValueError with a sentence on a bad period."""
        match = _PERIOD.match(text.strip())
        if not match:
            raise ValueError(f"'{text}' is not a period like '09:00-17:30'")
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(
                f"'{text}' has a time that does not exist (hours 00-24, minutes 00-59)"
            )
        start, end = timedelta(hours=h1, minutes=m1), timedelta(hours=h2, minutes=m2)
        if end <= start:
            raise ValueError(f"'{text}' ends before it starts (periods cannot cross midnight)")
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        offset = timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)
        return self.start <= offset < self.end


class Calendar:
    """Working days: the days entered (True: a working day, False: a holiday) over the
    ``chinese-calendar`` package, over Monday to Friday."""

    def __init__(self, entered: Mapping[date, bool] | None = None) -> None:
        self._entered: dict[date, bool] = dict(entered or {})
        self._warned: set[int] = set()

    @property
    def entered(self) -> dict[date, bool]:
        """The days entered by hand, each a working day (True) or a holiday (False)."""
        return dict(self._entered)

    def enter(self, days: Mapping[date, bool]) -> None:
        """Replace the days entered by hand (the site file's and the admin API's together)."""
        self._entered = dict(days)

    def is_working_day(self, day: date) -> bool:
        """True on a working day: an entered day as entered; otherwise the package's answer;
        outside the package's years Monday to Friday (logged once a year), because a queue
        must keep answering rather than fail on an unknown year."""
        entered = self._entered.get(day)
        if entered is not None:
            return entered
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned and not self.knows(day.year):
                self._warned.add(day.year)
                log.warning(
                    "no Chinese holidays known for %d: Monday to Friday are taken as working "
                    "days; enter the year's holidays ([calendar] in the site file)",
                    day.year,
                )
            return day.weekday() < 5

    def knows(self, year: int) -> bool:
        """Whether the year's holidays are known: the package has the year, or a holiday of
        the year was entered by hand."""
        if any(day.year == year and not working for day, working in self._entered.items()):
            return True
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def missing_years(self, today: date) -> list[int]:
        """Years that should be known by ``today`` and are not: this year, and from
        1 December the next one (the State Council publishes it in November)."""
        years = [today.year, today.year + 1] if today.month == 12 else [today.year]
        return [year for year in years if not self.knows(year)]


CALENDAR = Calendar()
"""This process's calendar: the schedules' default."""


def is_chinese_working_day(day: date) -> bool:
    """True on a Chinese working day by this process's calendar (:data:`CALENDAR`)."""
    return CALENDAR.is_working_day(day)


@dataclass(frozen=True)
class Schedule:
    """When something is open, in a given time zone."""

    days: DayRule
    periods: tuple[Period, ...]
    timezone: ZoneInfo
    calendar: Calendar = field(default=CALENDAR, compare=False, repr=False)

    def is_open(self, at: datetime) -> bool:
        """Whether the schedule is open at the (time-zone aware) moment ``at``."""
        if at.tzinfo is None:
            raise ValueError("is_open needs an aware datetime (store and pass UTC)")
        local = at.astimezone(self.timezone)
        if self.days is DayRule.WORKING_DAYS and not self.calendar.is_working_day(local.date()):
            return False
        return any(period.contains(local.time()) for period in self.periods)

    def is_open_day(self, day: date) -> bool:
        """Whether the schedule opens at all on this (local) day."""
        return self.days is DayRule.EVERY_DAY or self.calendar.is_working_day(day)

    def _open_spans(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open periods from ``after`` on, as aware (start, end) pairs, clipped to begin
        no earlier than ``after``. Gives up after ten years without an open period."""
        local = after.astimezone(self.timezone)
        day = local.date()
        for _ in range(3660):
            if self.is_open_day(day):
                midnight = datetime.combine(day, time(), self.timezone)
                for period in sorted(self.periods, key=lambda p: p.start):
                    start, end = midnight + period.start, midnight + period.end
                    if end > local:
                        yield max(start, local), end
            day += timedelta(days=1)

    def add_open_time(self, start: datetime, amount: timedelta) -> datetime:
        """The moment at which ``amount`` of open time has passed since ``start``: a
        deadline "within 24 hours of working time" counts only the open periods."""
        if start.tzinfo is None:
            raise ValueError("add_open_time needs an aware datetime (store and pass UTC)")
        left = amount
        for span_start, span_end in self._open_spans(start):
            if span_end - span_start >= left:
                return (span_start + left).astimezone(start.tzinfo)
            left -= span_end - span_start
        raise ValueError("the schedule never opens")

    def add_open_days(self, start: datetime, days: int) -> datetime:
        """The close of the ``days``-th open day after the day of ``start``: a deadline
        "within 3 working days"."""
        if start.tzinfo is None:
            raise ValueError("add_open_days needs an aware datetime (store and pass UTC)")
        day, counted = start.astimezone(self.timezone).date(), 0
        last = max(period.end for period in self.periods)
        for _ in range(3660):
            day += timedelta(days=1)
            if self.is_open_day(day):
                counted += 1
                if counted == days:
                    close = datetime.combine(day, time(), self.timezone) + last
                    return close.astimezone(start.tzinfo)
        raise ValueError("the schedule never opens")
