"""Caller numbers from the network, and opening hours that know Chinese holidays."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.worktime import DayRule, Period, Schedule, is_chinese_working_day
from redlist.numbers import normalise, safe_number

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 138-0013-8000", "+8613800138000"),
        ("", "anonymous"),
        (None, "anonymous"),
        ("anonymous", "anonymous"),
        ("9" * 200, "9" * 32),
        ("021'; DROP TABLE calls;--", "021"),
        ("电话", "anonymous"),
        (12345, "anonymous"),
    ],
)
def test_any_caller_id_becomes_a_safe_number(raw: object, expected: str) -> None:
    assert safe_number(raw) == expected


def _at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_working_days_follow_the_chinese_calendar() -> None:
    office = Schedule(DayRule.WORKING_DAYS, (Period.parse("09:00-17:00"),), SHANGHAI)
    assert office.is_open(_at(2026, 11, 23, 10))  # a Monday
    assert not office.is_open(_at(2026, 10, 1, 10))  # National Day
    assert office.is_open(_at(2026, 10, 10, 10))  # a Saturday made a working day
    assert not office.is_open(_at(2026, 11, 22, 10))  # an ordinary Sunday
    assert not office.is_open(_at(2026, 11, 23, 17))  # closes at 17:00 sharp


def test_hours_are_read_in_the_site_time_zone() -> None:
    line = Schedule(DayRule.EVERY_DAY, (Period.parse("06:00-24:00"),), SHANGHAI)
    assert line.is_open(datetime(2026, 11, 23, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    assert not line.is_open(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # midnight in Shanghai
    assert line.is_open(datetime(2026, 11, 23, 22, 0, tzinfo=UTC))  # 06:00 next day


def test_a_year_without_holiday_data_falls_back_to_monday_to_friday() -> None:
    assert is_chinese_working_day(datetime(2030, 1, 7).date())  # a Monday
    assert not is_chinese_working_day(datetime(2030, 1, 6).date())  # a Sunday


def test_naive_times_are_refused() -> None:
    line = Schedule(DayRule.EVERY_DAY, (Period.parse("00:00-24:00"),), SHANGHAI)
    with pytest.raises(ValueError, match="aware datetime"):
        line.is_open(datetime(2026, 1, 1, 12))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 21 6100 1001", "02161001001"),
        ("0086-21-61001001", "02161001001"),
        ("(021)61001001 转 123", "02161001001"),
        ("021-61001001-123", "02161001001"),
        ("02161001001,88", "02161001001"),
        ("6100 1001", "02161001001"),  # the site's area code is added
        ("+8613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("0755-8888 0000", "075588880000"),
        ("0571-8888888", "05718888888"),
        ("12345", "12345"),
        ("+1 415 555 0100", None),  # foreign: no Chinese firm is registered there
        ("abc", None),
        ("", None),
        ("9" * 200, None),
    ],
)
def test_numbers_are_normalised_however_they_were_written(raw: str, expected: str | None) -> None:
    assert normalise(raw, "21") == expected
