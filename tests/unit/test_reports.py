"""Reports without a PBX: the rollups count what the recorders decide exactly once, reports
from the rollups equal the same reports from the details, periods are cut at local midnight
in Asia/Shanghai, and every figure carries its numerator and denominator."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallbackRequest, QueueVisit
from cdr.reports import (
    Period,
    ReportError,
    as_csv_rows,
    as_text,
    callbacks,
    connect_rate,
    connect_rate_from_details,
    failed_attempts,
    numbers,
    queues,
    queues_from_details,
)
from cdr.retention import delete_old_details
from cdr.rollups import Rollups
from core.worktime import DayRule, Schedule
from core.worktime import Period as Opening
from tests.unit.transfers import record_transfer
from transfer.recorder import TransferRecords
from transfer.state import Route

SHANGHAI = ZoneInfo("Asia/Shanghai")
TAX = Route(
    "101",
    "Tax registration",
    "tax",
    "Tax bureau",
    ("02161001001", "02161001002"),
    Schedule(DayRule.EVERY_DAY, (Opening.parse("00:00-24:00"),), SHANGHAI),
    "",
)


def _request(
    recorder: tuple[sessionmaker[Session], TransferRecords],
    at: datetime,
    dials: list[tuple[str, str]],
    outcome: str,
    in_hours: bool = True,
    route: Route = TAX,
) -> None:
    """One transfer request as the call records it: its dials, then its outcome."""
    factory, records = recorder
    record_transfer(factory, records, at, route, dials, outcome, in_hours)


def test_the_connect_rate_counts_each_request_once_and_equals_the_details(
    factory: sessionmaker[Session],
) -> None:
    recorder = (factory, TransferRecords(Rollups(SHANGHAI), SHANGHAI))
    morning = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    first, second = "02161001001", "02161001002"

    for n in range(6):  # answered on the first number
        _request(recorder, morning + timedelta(minutes=n), [(first, "answered")], "answered")
    for n in range(2):  # busy, then the busy-forward number answered
        _request(
            recorder,
            morning + timedelta(hours=1, minutes=n),
            [(first, "busy"), (second, "answered")],
            "answered",
        )
    _request(recorder, morning, [(first, "no-answer"), (second, "busy")], "failed")
    _request(recorder, morning, [(first, "unavailable"), (second, "rejected")], "failed")
    _request(recorder, morning, [], "closed", in_hours=False)
    period = Period(date(2026, 11, 23), date(2026, 11, 23), SHANGHAI)
    with factory() as session:
        by_department = connect_rate(session, period, "department")
        from_details = connect_rate_from_details(session, period, "department")
        by_hour = connect_rate(session, period, "hour")
        dials = numbers(session, period)
        failures = failed_attempts(session, period)

    (tax,) = by_department.rows
    assert (tax["answered"], tax["requests"], tax["connect_rate"]) == (8, 10, 0.8)
    assert (tax["answered_forward"], tax["failed"]) == (2, 2)
    assert (tax["off_hours_requests"], tax["off_hours_answered"], tax["closed"]) == (1, 0, 1)
    assert "closed" in by_department.definitions
    details = from_details.rows[0]
    for figure in (
        "answered",
        "requests",
        "connect_rate",
        "failed",
        "closed",
        "off_hours_requests",
    ):
        assert details[figure] == tax[figure], figure
    assert [(row["hour"], row["requests"]) for row in by_hour.rows] == [(10, 8), (11, 2)]
    assert by_hour.total and by_hour.total["requests"] == 10
    by_number = {row["number"]: row for row in dials.rows}
    assert (by_number[first]["answered"], by_number[first]["attempts"]) == (6, 10)
    assert (by_number[second]["answered"], by_number[second]["attempts"]) == (2, 4)
    reasons = {row["reason"]: row["attempts"] for row in failures.rows}
    assert reasons == {
        "busy": 3,
        "no-answer": 1,
        "rejected": 1,
        "unavailable": 1,
        "failed": 0,
        "cancelled": 0,
        "abandoned": 0,
    }
    assert tax["calls"].startswith("/api/reports/calls?figure=transfers")


def test_report_days_are_cut_at_midnight_in_shanghai_not_utc(
    factory: sessionmaker[Session],
) -> None:
    recorder = (factory, TransferRecords(Rollups(SHANGHAI), SHANGHAI))
    before_midnight = datetime(2026, 11, 22, 15, 59, tzinfo=UTC)  # 23:59 on the 22nd there
    after_midnight = datetime(2026, 11, 22, 16, 1, tzinfo=UTC)  # 00:01 on the 23rd there

    _request(recorder, before_midnight, [("02161001001", "answered")], "answered")
    _request(recorder, after_midnight, [("02161001001", "busy")], "failed")
    _request(recorder, after_midnight, [("02161001001", "answered")], "answered")
    period = Period(date(2026, 11, 22), date(2026, 11, 23), SHANGHAI)
    assert period.utc_bounds() == (
        datetime(2026, 11, 21, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 16, 0, tzinfo=UTC),
    )
    with factory() as session:
        by_day = connect_rate(session, period, "day")
        from_details = connect_rate_from_details(session, period, "day")
        only_23rd = connect_rate(session, Period(date(2026, 11, 23), date(2026, 11, 23), SHANGHAI))
        by_hour = connect_rate(session, period, "hour")
    days = [(row["day"], row["answered"], row["requests"]) for row in by_day.rows]
    assert days == [("2026-11-22", 1, 1), ("2026-11-23", 1, 2)]
    assert [(r["day"], r["answered"], r["requests"]) for r in from_details.rows] == days
    assert only_23rd.total and only_23rd.total["requests"] == 2
    assert [row["hour"] for row in by_hour.rows] == [0, 23]


def test_a_report_is_the_same_in_csv_and_in_the_terminal(factory: sessionmaker[Session]) -> None:
    recorder = (factory, TransferRecords(Rollups(SHANGHAI), SHANGHAI))
    at = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)

    _request(recorder, at, [("02161001001", "answered")], "answered")
    _request(recorder, at, [("02161001001", "busy")], "failed")
    _request(recorder, at, [("02161001001", "busy")], "failed")
    period = Period(date(2026, 11, 23), date(2026, 11, 23), SHANGHAI)
    with factory() as session:
        report = connect_rate(session, period)
    table = list(csv.reader(io.StringIO("\n".join(",".join(r) for r in as_csv_rows(report)))))
    assert table[0][:4] == ["department", "answered", "requests", "connect_rate"]
    assert table[1][:4] == ["tax", "1", "3", "0.3333"]
    text = as_text(report)
    assert "33.3%" in text and "Asia/Shanghai" in text and "÷" in text


def test_queue_figures_follow_their_definitions(factory: sessionmaker[Session]) -> None:
    rollups = Rollups(SHANGHAI, service_level=15, short_abandon=5)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    stays = [
        ("key-firm", "answered", 4.0),
        ("key-firm", "answered", 20.0),
        (None, "answered", 10.0),
        (None, "abandoned", 30.0),
        (None, "abandoned", 2.0),  # a short abandon
        (None, "closed", 0.0),  # not offered: the queue was closed
        (None, "callback", 12.0),  # keyed 1: offered, to be called back
    ]
    with factory.begin() as session:
        for n, (tier, outcome, wait) in enumerate(stays):
            rollups.visit_ended(session, "enterprise", tier, at, outcome, wait)
            session.add(
                QueueVisit(
                    caller_channel=f"caller-{n}",
                    queue="enterprise",
                    tier=tier,
                    entered_at=at,
                    left_at=at + timedelta(seconds=wait),
                    wait_seconds=wait,
                    outcome=outcome,
                )
            )
    period = Period(date(2026, 11, 23), date(2026, 11, 23), SHANGHAI)
    with factory() as session:
        report = queues(session, period)
        from_details = queues_from_details(session, period)
    assert from_details.rows == [row for row in report.rows if row["firms"] != "all"]
    rows = {row["firms"]: row for row in report.rows}
    red, others, every = rows["red-list"], rows["others"], rows["all"]
    assert (red["offered"], red["answered"], red["service_level"]) == (2, 2, 0.5)
    assert red["asa_seconds"] == 12.0
    assert (others["offered"], others["answered"], others["abandoned"]) == (4, 1, 1)
    assert (others["short_abandoned"], others["closed"], others["callback"]) == (1, 1, 1)
    assert others["service_level"] == 0.5  # 1 in 15 s ÷ (1 answered + 1 abandoned)
    assert (every["offered"], every["answered"], every["answer_rate"]) == (6, 3, 0.5)
    assert "callback" in report.columns and "called back" in report.definitions["callback"]


def test_a_period_that_makes_no_sense_is_refused_with_a_reason() -> None:
    with pytest.raises(ReportError, match="YYYY-MM-DD"):
        Period.parse("23/11/2026", None, SHANGHAI, date(2026, 11, 23))
    with pytest.raises(ReportError, match="before it begins"):
        Period.parse("2026-11-23", "2026-11-01", SHANGHAI, date(2026, 11, 23))


def test_retention_deletes_old_details_and_keeps_the_figures(
    factory: sessionmaker[Session],
) -> None:
    recorder = (factory, TransferRecords(Rollups(SHANGHAI), SHANGHAI))
    old = datetime(2025, 3, 3, 10, 0, tzinfo=SHANGHAI)
    recent = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)

    _request(recorder, old, [("02161001001", "answered")], "answered")
    _request(recorder, old, [("02161001001", "busy")], "failed")
    _request(recorder, recent, [("02161001001", "answered")], "answered")
    year = Period(date(2025, 1, 1), date(2025, 12, 31), SHANGHAI)
    with factory() as session:
        before = connect_rate(session, year).total
    deleted = delete_old_details(factory, 400, now=datetime(2026, 11, 23, tzinfo=UTC))
    assert (deleted["transfer_requests"], deleted["transfer_attempts"]) == (2, 2)
    with factory() as session:
        assert connect_rate(session, year).total == before  # the rollups stay
        assert connect_rate_from_details(session, year).rows == []  # the details are gone
        recent_day = Period(recent.date(), recent.date(), SHANGHAI)
        assert connect_rate_from_details(session, recent_day).rows[0]["requests"] == 1


def test_call_backs_are_counted_by_queue_and_tier_with_the_time_to_the_talk(
    factory: sessionmaker[Session],
) -> None:
    morning = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    promised = [  # tier, state, failed attempts, seconds from the promise to the talk
        (None, "reached", 0, 120.0),
        (None, "given-up", 3, None),
        (None, "pending", 1, None),
        ("key-firm", "reached", 1, 30.0),
        ("key-firm", "cancelled", 0, None),
    ]
    with factory.begin() as session:
        for n, (tier, state, attempts, to_talk) in enumerate(promised):
            at = morning + timedelta(minutes=n)
            session.add(
                CallbackRequest(
                    caller_channel=f"c{n}", caller_number="62345678", number="02162345678",
                    queue="enterprise", tier=tier, reason="callback", requested_at=at,
                    state=state, attempts=attempts,
                    reached_at=at + timedelta(seconds=to_talk) if to_talk else None,
                )
            )  # fmt: skip
    with factory() as session:
        report = callbacks(session, Period(date(2026, 11, 23), date(2026, 11, 23), SHANGHAI))
    plain, red = report.rows
    assert (plain["tier"], plain["requested"], plain["reached"], plain["given_up"]) == (
        "-", 3, 1, 1
    )  # fmt: skip
    assert (plain["pending"], plain["reach_rate"], plain["mean_seconds_to_talk"]) == (
        1,
        0.3333,
        120.0,
    )
    assert (red["tier"], red["reached"], red["cancelled"], red["attempts_failed"]) == (
        "key-firm", 1, 1, 1
    )  # fmt: skip
    total = report.total
    assert total is not None
    assert (total["requested"], total["reached"], total["mean_seconds_to_talk"]) == (5, 2, 75.0)
    assert total["longest_seconds_to_talk"] == 120.0 and total["attempts_failed"] == 5
