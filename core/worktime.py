"""Working time: opening schedules in the site's time zone, aware of Chinese holidays.

A schedule says on which days (every day, or Chinese working days, which follow the State
Council's holidays and make-up working days) and in which periods of the day a queue or a
department is open.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


def is_chinese_working_day(day: date) -> bool:
    """True on a Chinese working day: Monday to Friday except holidays, plus make-up days.

    Outside the years the calendar package knows, fall back to Monday to Friday (logged),
    because a queue must keep answering rather than fail on an unknown year.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        log.warning("no Chinese holiday data for %s; treating Monday-Friday as working days", day)
        return day.weekday() < 5


@dataclass(frozen=True)
class Schedule:
    """When something is open, in a given time zone."""

    days: DayRule
    periods: tuple[Period, ...]
    timezone: ZoneInfo

    def is_open(self, at: datetime) -> bool:
        """Whether the schedule is open at the (time-zone aware) moment ``at``."""
        if at.tzinfo is None:
            raise ValueError("is_open needs an aware datetime (store and pass UTC)")
        local = at.astimezone(self.timezone)
        if self.days is DayRule.WORKING_DAYS and not is_chinese_working_day(local.date()):
            return False
        return any(period.contains(local.time()) for period in self.periods)

    def is_open_day(self, day: date) -> bool:
        """Whether the schedule opens at all on this (local) day."""
        return self.days is DayRule.EVERY_DAY or is_chinese_working_day(day)

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
