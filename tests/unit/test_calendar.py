"""A year without a calendar: holidays and make-up working days entered by hand (site file,
admin API) override ``chinese-calendar`` for every working-time rule — a queue's hours, a
department's hours, a work order's deadline — and a year nobody entered is reported. The
year here, 2031, is one the package does not know (made up for the test)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.calendar import StoredDays, enter_day, install
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site, SiteError, parse_site
from core.worktime import CALENDAR, Calendar, DayRule, Period, Schedule
from tests.conftest import EXAMPLE_SITE
from transfer.deadlines import Level, deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAY = date(2031, 3, 4)  # a Tuesday made a holiday
MAKE_UP = date(2031, 3, 8)  # a Saturday made a working day


def office(calendar: Calendar) -> Schedule:
    return Schedule(DayRule.WORKING_DAYS, (Period.parse("09:00-17:00"),), SHANGHAI, calendar)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def entered() -> Iterator[None]:
    """This process's calendar with the test's days entered, as it was afterwards."""
    before = CALENDAR.entered
    CALENDAR.enter({HOLIDAY: False, MAKE_UP: True})
    yield
    CALENDAR.enter(before)


def test_entered_days_close_and_open_a_schedule_in_a_year_the_package_does_not_know() -> None:
    plain, calendar = Calendar(), Calendar({HOLIDAY: False, MAKE_UP: True})
    assert plain.is_working_day(HOLIDAY) and not plain.is_working_day(MAKE_UP)  # Mon-Fri
    assert not office(calendar).is_open(at(HOLIDAY))
    assert office(calendar).is_open(at(MAKE_UP))
    assert office(plain).is_open(at(HOLIDAY)) and not office(plain).is_open(at(MAKE_UP))


def test_a_work_orders_deadline_skips_the_holiday_and_counts_the_make_up_day() -> None:
    made = at(date(2031, 3, 3), 16)  # Monday 16:00
    plain, calendar = Calendar(), Calendar({HOLIDAY: False, MAKE_UP: True})
    # 24 h of working time: one hour on Monday, then 8 h days
    assert deadline(Level.SECOND_URGENT, made, office(plain)) == at(date(2031, 3, 6), 16)
    assert deadline(Level.SECOND_URGENT, made, office(calendar)) == at(date(2031, 3, 7), 16)
    # the close of the 7th working day: Saturday counts, Tuesday does not
    assert deadline(Level.SEVEN_DAYS, made, office(plain)) == at(date(2031, 3, 12), 17)
    assert deadline(Level.SEVEN_DAYS, made, office(calendar)) == at(date(2031, 3, 12), 17)
    assert deadline(Level.THREE_DAYS, made, office(calendar)) == at(date(2031, 3, 7), 17)
    assert deadline(Level.THREE_DAYS, made, office(plain)) == at(date(2031, 3, 6), 17)


def test_a_year_is_reported_from_the_first_of_december_until_its_holidays_are_entered() -> None:
    calendar = Calendar()
    assert calendar.knows(2026) and not calendar.knows(2031)
    assert calendar.missing_years(date(2026, 11, 30)) == []
    assert calendar.missing_years(date(2026, 12, 1)) == [2027]
    assert calendar.missing_years(date(2031, 6, 1)) == [2031]
    calendar.enter({date(2031, 10, 1): False, date(2032, 1, 1): False})
    assert calendar.missing_years(date(2031, 12, 1)) == []
    calendar.enter({MAKE_UP: True})  # a make-up day alone does not make a year known
    assert calendar.missing_years(date(2031, 12, 1)) == [2031, 2032]


def test_the_site_files_calendar_is_read_and_every_bad_entry_is_named() -> None:
    data = tomllib.loads(EXAMPLE_SITE.read_text())
    data["calendar"] = {"holidays": ["2031-03-04", "2031-10-01..2031-10-07"], "workdays": []}
    days = parse_site(data).calendar.days()
    assert days[HOLIDAY] is False and len(days) == 8
    data["calendar"] = {
        "holidays": ["2031-02-30", "2031-10-07..2031-10-01", "2031-03-08"],
        "workdays": ["2031-03-08", "March 9"],
    }
    with pytest.raises(SiteError) as refused:
        parse_site(data)
    problems = "\n".join(refused.value.problems)
    assert "holidays[0]: '2031-02-30' is not a day" in problems
    assert "holidays[1]: '2031-10-07..2031-10-01' must run forward" in problems
    assert "workdays[0]: 2031-03-08 is also entered as one of the holidays" in problems
    assert "workdays[1]: 'March 9' is not a day" in problems


def test_stored_days_win_over_the_site_files_and_are_audited(
    factory: sessionmaker[Session], entered: None
) -> None:
    data = tomllib.loads(EXAMPLE_SITE.read_text())
    data["calendar"] = {"holidays": ["2031-03-05"]}
    site = parse_site(data)
    moment = at(HOLIDAY)
    with factory() as session:
        assert enter_day(session, date(2031, 3, 5), True, "make-up", "admin:alice", moment)
        assert not enter_day(session, date(2031, 3, 5), True, "make-up", "admin:alice", moment)
        session.commit()
        install(site, session)
    assert CALENDAR.is_working_day(date(2031, 3, 5)), "the API's entry wins"
    assert CALENDAR.is_working_day(HOLIDAY), "install replaces what was entered before"

    days = StoredDays(site, every=3600)
    with factory() as session:
        enter_day(session, date(2031, 3, 5), None, "", "admin:bob", moment)
        session.commit()
        days.refresh(session)
        assert not CALENDAR.is_working_day(date(2031, 3, 5)), "back to the site file's holiday"
        enter_day(session, date(2031, 3, 5), True, "", "admin:bob", moment)
        session.commit()
        days.refresh(session)  # read a moment ago: not again yet
        assert not CALENDAR.is_working_day(date(2031, 3, 5))


@pytest.fixture
def client(
    site: Site, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from hotline.web import create_app

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    paths = Paths(state=tmp_path / "state", cache=tmp_path / "cache")
    paths.ensure()
    before = CALENDAR.entered
    moment = clock.ManualClock(at(date(2031, 12, 2)).timestamp())
    with clock.use(moment), TestClient(create_app(site, paths)) as test_client:
        token = Secrets.load_or_create(paths.secrets_file).admin_token
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client
    CALENDAR.enter(before)


def test_an_admin_enters_a_year_through_the_api_and_the_dashboard_stops_warning(
    client: TestClient,
) -> None:
    assert client.get("/api/calendar", headers={"Authorization": ""}).status_code == 401
    year = client.get("/api/calendar", params={"year": 2031}).json()
    assert year["known"] is False and year["missing_years"] == [2031, 2032]
    assert client.get("/api/live").json()["calendar_missing"] == [2031, 2032]

    put = client.put(
        "/api/calendar/2031-03-04",
        json={"working": False, "name": "made-up holiday"},
        headers={"X-Actor": "alice"},
    )
    assert put.status_code == 200 and put.json()["changed"] is True
    assert client.put("/api/calendar/2032-01-01", json={"working": False}).status_code == 200
    assert client.put("/api/calendar/2031-03-08", json={"working": True}).status_code == 200
    assert not CALENDAR.is_working_day(HOLIDAY) and CALENDAR.is_working_day(MAKE_UP)

    year = client.get("/api/calendar", params={"year": 2031}).json()
    assert year["known"] is True and year["missing_years"] == []
    assert [(d["day"], d["working"], d["source"]) for d in year["days"]] == [
        ("2031-03-04", False, "api"),
        ("2031-03-08", True, "api"),
    ]
    assert client.get("/api/live").json()["calendar_missing"] == []

    assert client.delete("/api/calendar/2031-03-08").status_code == 200
    assert client.delete("/api/calendar/2031-03-08").status_code == 404
    assert client.put("/api/calendar/2031-02-30", json={"working": True}).status_code == 422
    bad_name = client.put("/api/calendar/2031-03-09", json={"working": True, "name": "a\nb"})
    assert bad_name.status_code == 422
    changes = client.get("/api/calendar/changes").json()
    assert [(c["day"], c["actor"], c["before"], c["after"]) for c in changes] == [
        ("2031-03-08", "admin", "working day", None),
        ("2031-03-08", "admin", None, "working day"),
        ("2032-01-01", "admin", None, "holiday"),
        ("2031-03-04", "admin:alice", None, "holiday: made-up holiday"),
    ]


def test_site_check_warns_of_a_year_with_no_holidays_from_the_first_of_december(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    state = tmp_path / "state"
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state)}

    def site_check(moment: datetime) -> str:
        clock.set_installation_time(moment, state)
        return subprocess.run(
            [sys.executable, "-m", "hotline", "--site", str(EXAMPLE_SITE), "site", "check"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout

    assert "warning" not in site_check(at(date(2026, 11, 30)))
    december = site_check(at(date(2031, 12, 1)))
    assert "no public holidays known for 2031" in december
    assert "no public holidays known for 2032" in december
