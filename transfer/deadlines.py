"""Work-order levels and their deadlines, counted in the department's working time.

``second-urgent`` (a transfer nobody answered, or a department that was closed): 24 hours of
the department's working time. ``immediate``: 2 hours of working time. ``3-days``,
``7-days``, ``15-days``: the close of the 3rd, 7th, 15th working day after the day the order
was made. Working time follows the department's schedule, Chinese public holidays and
make-up working days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from core.worktime import Schedule


class Level(StrEnum):
    IMMEDIATE = "immediate"
    THREE_DAYS = "3-days"
    SEVEN_DAYS = "7-days"
    FIFTEEN_DAYS = "15-days"
    SECOND_URGENT = "second-urgent"


def deadline(level: Level, created: datetime, hours: Schedule) -> datetime:
    """When an order of ``level`` made at ``created`` is due, in the department's time."""
    if level is Level.SECOND_URGENT:
        return hours.add_open_time(created, timedelta(hours=24))
    if level is Level.IMMEDIATE:
        return hours.add_open_time(created, timedelta(hours=2))
    days = {Level.THREE_DAYS: 3, Level.SEVEN_DAYS: 7, Level.FIFTEEN_DAYS: 15}[level]
    return hours.add_open_days(created, days)
