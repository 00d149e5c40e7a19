"""The admins' reports, for any period of the site's local days.

Every figure is given with its numerator and denominator (each report's ``definitions``; the
README's "Figures" section), every row with the address of the calls behind it (the
drill-down), and every report reads the
rollups (``cdr.rollups``), so a year answers as fast as a day. The connect rate can also be
computed from the details, to check the rollups and to measure the difference.

A period is cut at local midnight in the site's time zone: ``2026-11-23`` in Shanghai is
2026-11-22 16:00 to 2026-11-23 16:00 UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import astuple, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from cdr.models import CallbackRequest, CallLeg, QueueVisit
from cdr.rollups import AttemptHour, QueueHour, SeatDay, TransferDay, TransferHour, local_slot
from core import clock
from desk.models import CallClassification
from return_visit.models import ReturnVisit
from transfer.models import TransferRequest, WorkOrder


class ReportError(ValueError):
    """A report asked for in a way that cannot be answered (said why)."""


@dataclass(frozen=True)
class Period:
    """Local days ``first`` to ``last``, both included, in ``zone``."""

    first: date
    last: date
    zone: ZoneInfo

    @classmethod
    def parse(cls, first: str | None, last: str | None, zone: ZoneInfo, today: date) -> Period:
        """From ``YYYY-MM-DD`` strings; either may be missing (today)."""
        try:
            start = date.fromisoformat(first) if first else today
            end = date.fromisoformat(last) if last else (start if first else today)
        except ValueError as error:
            raise ReportError(f"dates are YYYY-MM-DD: {error}") from error
        if end < start:
            raise ReportError(f"the period ends ({end}) before it begins ({start})")
        return cls(start, end, zone)

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The UTC moments of local midnight at the start and just after the end."""
        start = datetime.combine(self.first, time(0), self.zone)
        end = datetime.combine(self.last + timedelta(days=1), time(0), self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def as_query(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def rate(numerator: float, denominator: float) -> float | None:
    """A rate, or None when there is nothing to divide by (never a misleading 0%)."""
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class Report:
    """A table: its columns (in order), its rows, a total row, and where each row's calls
    are listed."""

    name: str
    title: str
    period: Period
    columns: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    definitions: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "title": self.title,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "timezone": self.period.zone.key,
            "columns": self.columns,
            "rows": self.rows,
            "total": self.total,
            "definitions": self.definitions,
        }


def _drill(figure: str, period: Period, **filters: object) -> str:
    query = {"figure": figure, **period.as_query()}
    query |= {key: str(value) for key, value in filters.items() if value is not None}
    return "/api/reports/calls?" + urlencode(query)


CONNECT_RATE = (
    "requests in which a specialist answered (first number or a busy-forward number) "
    "÷ requests, in the department's working hours; off-hours requests apart"
)
CLOSED = (
    "requests made while the department was closed (a work order each); they are off-hours "
    "requests, counted here and in off_hours_requests, not in requests"
)
GROUPINGS = {
    "department": (TransferDay.department_code,),
    "matter": (TransferDay.department_code, TransferDay.matter_code),
    "hour": (TransferHour.hour,),
    "day": (TransferDay.day,),
    "day-hour": (TransferHour.day, TransferHour.hour),
}
"""What each grouping is read from: the daily rollup unless it needs the hour."""


@dataclass
class TransferFigures:
    """One row's counts of transfer requests: in the department's hours by outcome, and
    the requests made out of its hours apart."""

    requests: int = 0
    answered: int = 0
    answered_forward: int = 0
    failed: int = 0
    closed: int = 0
    cancelled: int = 0
    abandoned: int = 0
    off_hours_requests: int = 0
    off_hours_answered: int = 0

    @classmethod
    def of(cls, values: Iterable[float | None]) -> TransferFigures:
        """From a row's sums, in the order of the fields (a missing sum is 0)."""
        return cls(*(int(value or 0) for value in values))

    def __add__(self, other: TransferFigures) -> TransferFigures:
        return TransferFigures(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def any(self) -> bool:
        """Whether a request was made at all, in hours or out of them."""
        return bool(self.requests or self.off_hours_requests)

    def count(self, in_hours: bool, outcome: str | None) -> None:
        """Count one decided request."""
        if not in_hours:
            self.off_hours_requests += 1
            self.off_hours_answered += outcome == "answered"
            self.closed += outcome == "closed"
            return
        self.requests += 1
        if outcome in IN_HOURS_OUTCOMES:
            setattr(self, outcome, getattr(self, outcome) + 1)


IN_HOURS_OUTCOMES = ("answered", "failed", "closed", "cancelled", "abandoned")
"""The outcomes a request in hours is counted by (``answered_forward`` is an answer too)."""
_ROLLED_UP = tuple(f.name for f in fields(TransferFigures))[:7]
"""The figures the rollups keep per row, in hours (the off-hours ones are summed apart)."""
_ANY_HOURS = ("closed",)
"""Figures counted in and out of hours alike: a department is closed only out of its hours,
so a request it was closed for is always an off-hours request."""


def _count_if(condition: Any) -> Any:
    """SQL: how many rows meet ``condition``."""
    return func.sum(case((condition, 1), else_=0))


def connect_rate(session: Session, period: Period, by: str = "department") -> Report:
    """The transfer connect rate per department, matter, hour of day or day, from the
    rollups: in-hours requests and answers, the rate, and off-hours requests apart."""
    if by not in GROUPINGS:
        raise ReportError(f"by is one of {', '.join(GROUPINGS)}, not {by!r}")
    keys = GROUPINGS[by]
    table: Any = TransferHour if by in ("hour", "day-hour") else TransferDay
    sums = [
        func.sum(
            getattr(table, name)
            if name in _ANY_HOURS
            else case((table.in_hours, getattr(table, name)), else_=0)
        )
        for name in _ROLLED_UP
    ]
    off = [
        func.sum(case((table.in_hours, 0), else_=table.requests)),
        func.sum(case((table.in_hours, 0), else_=table.answered)),
    ]
    statement = (
        select(*keys, *sums, *off)
        .where(table.day.between(period.first, period.last))
        .group_by(*keys)
        .order_by(*keys)
    )
    return _connect_rate_report(period, by, _figures_by_key(session, statement, len(keys)))


def connect_rate_from_details(session: Session, period: Period, by: str = "department") -> Report:
    """The same report computed from every transfer request of the period (the baseline
    the rollups are checked and measured against)."""
    if by not in GROUPINGS:
        raise ReportError(f"by is one of {', '.join(GROUPINGS)}, not {by!r}")
    start, end = period.utc_bounds()
    requests = select(
        TransferRequest.department_code,
        TransferRequest.matter_code,
        TransferRequest.requested_at,
        TransferRequest.in_hours,
        TransferRequest.outcome,
        TransferRequest.answered_number,
    ).where(
        TransferRequest.requested_at >= start,
        TransferRequest.requested_at < end,
        TransferRequest.outcome.is_not(None),
    )
    if by in ("department", "matter"):
        return _connect_rate_sql(session, period, by, start, end)
    grouped: dict[tuple[object, ...], TransferFigures] = defaultdict(TransferFigures)
    for _, _, at, in_hours, outcome, _ in session.execute(requests):
        day, hour = local_slot(at, period.zone)
        key: tuple[object, ...] = {"hour": (hour,), "day": (day,)}.get(by, (day, hour))
        grouped[key].count(in_hours, outcome)
    return _connect_rate_report(period, by, dict(sorted(grouped.items())), forward_known=False)


def _connect_rate_sql(
    session: Session, period: Period, by: str, start: datetime, end: datetime
) -> Report:
    keys = (
        (TransferRequest.department_code,)
        if by == "department"
        else (TransferRequest.department_code, TransferRequest.matter_code)
    )

    inside = TransferRequest.in_hours.is_(True)
    outcome = TransferRequest.outcome
    statement = (
        select(
            *keys,
            _count_if(inside),
            _count_if(inside & (outcome == "answered")),
            literal(0),  # answered_forward: which dial answered needs a join (the rollup has it)
            *(
                _count_if((outcome == name) if name in _ANY_HOURS else inside & (outcome == name))
                for name in IN_HOURS_OUTCOMES[1:]
            ),
            _count_if(~inside),
            _count_if(~inside & (outcome == "answered")),
        )
        .where(
            TransferRequest.requested_at >= start,
            TransferRequest.requested_at < end,
            outcome.is_not(None),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    grouped = _figures_by_key(session, statement, len(keys))
    return _connect_rate_report(period, by, grouped, forward_known=False)


def _figures_by_key(
    session: Session, statement: Any, width: int
) -> dict[tuple[object, ...], TransferFigures]:
    """Rows of (key columns..., the figures in :class:`TransferFigures`' order) by key."""
    return {
        tuple(row[:width]): TransferFigures.of(row[width:]) for row in session.execute(statement)
    }


def _connect_figures(f: TransferFigures, forward_known: bool) -> dict[str, Any]:
    """One row's figures with their rates."""
    return {
        "answered": f.answered,
        "requests": f.requests,
        "connect_rate": rate(f.answered, f.requests),
        "answered_forward": f.answered_forward if forward_known else None,
        "failed": f.failed,
        "closed": f.closed,
        "cancelled": f.cancelled,
        "abandoned": f.abandoned,
        "off_hours_answered": f.off_hours_answered,
        "off_hours_requests": f.off_hours_requests,
        "off_hours_rate": rate(f.off_hours_answered, f.off_hours_requests),
    }


def _connect_rate_report(
    period: Period,
    by: str,
    grouped: Mapping[tuple[object, ...], TransferFigures],
    forward_known: bool = True,
) -> Report:
    names = {"matter": ["department", "matter"], "day-hour": ["day", "hour"]}.get(by, [by])
    columns = [*names, "answered", "requests", "connect_rate", "answered_forward", "failed",
               "closed", "cancelled", "abandoned", "off_hours_answered", "off_hours_requests",
               "off_hours_rate"]  # fmt: skip
    rows = []
    totals = TransferFigures()
    for key, figures in grouped.items():
        if not figures.any:
            continue
        totals += figures
        labels = {
            name: (value.isoformat() if isinstance(value, date) else value)
            for name, value in zip(names, key, strict=True)
        }
        filters: dict[str, object] = {"department": labels.get("department"),
                                      "matter": labels.get("matter")}  # fmt: skip
        if by in ("hour", "day", "day-hour"):
            filters = {name: labels[name] for name in names}
        rows.append(
            {**labels, **_connect_figures(figures, forward_known)}
            | {"calls": _drill("transfers", period, **filters)}
        )
    total = {names[0]: "all", **_connect_figures(totals, forward_known)}
    total["calls"] = _drill("transfers", period)
    return Report(
        "connect-rate",
        f"Transfer connect rate by {by}",
        period,
        columns,
        rows,
        total,
        {"connect_rate": CONNECT_RATE, "closed": CLOSED},
    )


def numbers(session: Session, period: Period) -> Report:
    """Every specialist number dialled: attempts by outcome and the share answered."""
    statement = (
        select(
            AttemptHour.department_code,
            AttemptHour.number,
            AttemptHour.outcome,
            func.sum(AttemptHour.attempts),
        )
        .where(AttemptHour.day.between(period.first, period.last))
        .group_by(AttemptHour.department_code, AttemptHour.number, AttemptHour.outcome)
    )
    per_number: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for department, number, outcome, attempts in session.execute(statement):
        per_number[(department, number)][outcome] = int(attempts or 0)
    rows = []
    for (department, number), outcomes in sorted(per_number.items()):
        attempts = sum(outcomes.values())
        answered = outcomes.get("answered", 0)
        rows.append(
            {
                "department": department,
                "number": number,
                "answered": answered,
                "attempts": attempts,
                "answer_rate": rate(answered, attempts),
                **{_key(name): outcomes.get(name, 0) for name in ATTEMPT_OUTCOMES[1:]},
                "calls": _drill("attempts", period, number=number),
            }
        )
    columns = ["department", "number", "answered", "attempts", "answer_rate",
               *(_key(name) for name in ATTEMPT_OUTCOMES[1:])]  # fmt: skip
    return Report(
        "numbers",
        "Specialists' numbers: dials and answers",
        period,
        columns,
        rows,
        definitions={"answer_rate": "dials of the number answered ÷ dials of the number"},
    )


ATTEMPT_OUTCOMES = ("answered", "busy", "no-answer", "rejected", "unavailable", "failed",
                    "cancelled", "abandoned")  # fmt: skip


def _key(name: str) -> str:
    return name.replace("-", "_")


def failed_attempts(session: Session, period: Period, department: str | None = None) -> Report:
    """Dials that did not reach a specialist, by reason (of one department, or all)."""
    statement = (
        select(AttemptHour.outcome, func.sum(AttemptHour.attempts))
        .where(AttemptHour.day.between(period.first, period.last))
        .group_by(AttemptHour.outcome)
    )
    if department is not None:
        statement = statement.where(AttemptHour.department_code == department)
    counts = {outcome: int(n or 0) for outcome, n in session.execute(statement)}
    failed = {name: n for name, n in counts.items() if name != "answered"}
    total = sum(failed.values())
    rows = [
        {
            "reason": name,
            "attempts": failed.get(name, 0),
            "share": rate(failed.get(name, 0), total),
            "calls": _drill("attempts", period, outcome=name, department=department),
        }
        for name in ATTEMPT_OUTCOMES[1:]
    ]
    rows += [  # reasons a newer dialler added, never dropped from the count
        {"reason": name, "attempts": n, "share": rate(n, total),
         "calls": _drill("attempts", period, outcome=name, department=department)}
        for name, n in sorted(failed.items()) if name not in ATTEMPT_OUTCOMES
    ]  # fmt: skip
    return Report(
        "failed-attempts",
        f"Failed dials by reason ({department or 'all departments'})",
        period,
        ["reason", "attempts", "share"],
        rows,
        {"reason": "all", "attempts": total, "share": rate(total, total)},
        {"share": "dials failed for this reason ÷ all failed dials"},
    )


WORK_ORDER_STATES = ("open", "accepted", "replied", "closed", "overdue")


def work_orders(session: Session, period: Period, now: datetime | None = None) -> Report:
    """Work orders created in the period, by department: how many in each state, and how
    many of those due were answered in time."""
    return _orders_by(session, period, now, "department")


def order_levels(session: Session, period: Period, now: datetime | None = None) -> Report:
    """Work orders created in the period, by level (immediate, 3, 7, 15 working days, second
    urgent): how many in each state, and how many of those due were answered in time."""
    return _orders_by(session, period, now, "level")


ORDER_GROUPS = {"department": WorkOrder.department_code, "level": WorkOrder.level}


def _orders_by(session: Session, period: Period, now: datetime | None, by: str) -> Report:
    start, end = period.utc_bounds()
    moment = now or clock.now()
    orders = session.execute(
        select(
            ORDER_GROUPS[by],
            WorkOrder.state,
            WorkOrder.deadline_at,
            WorkOrder.replied_at,
            WorkOrder.closed_at,
        ).where(WorkOrder.created_at >= start, WorkOrder.created_at < end)
    )
    grouped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, state, deadline, replied, closed in orders:
        figures = grouped[key]
        figures[state] += 1
        figures["orders"] += 1
        answered_at = replied or closed
        if answered_at is not None or deadline <= moment:
            figures["due"] += 1
            if answered_at is not None and answered_at <= deadline:
                figures["on_time"] += 1
    rows = []
    totals: dict[str, int] = defaultdict(int)
    for key, figures in sorted(grouped.items()):
        for name, value in figures.items():
            totals[name] += value
        rows.append(_order_row(period, by, key, figures))
    columns = [by, "orders", *WORK_ORDER_STATES, "on_time", "due", "on_time_rate"]
    return Report(
        "work-orders" if by == "department" else "order-levels",
        f"Work orders by {by} and state, and answered on time",
        period,
        columns,
        rows,
        _order_row(period, by, "all", totals),
        {
            "on_time_rate": "orders replied or closed by their deadline ÷ orders answered or "
            "past their deadline (working time, the department's calendar)"
        },
    )


def _order_row(period: Period, by: str, key: str, figures: Mapping[str, int]) -> dict[str, Any]:
    drill = {by: None if key == "all" else key}
    return {
        by: key,
        "orders": figures.get("orders", 0),
        **{state: figures.get(state, 0) for state in WORK_ORDER_STATES},
        "on_time": figures.get("on_time", 0),
        "due": figures.get("due", 0),
        "on_time_rate": rate(figures.get("on_time", 0), figures.get("due", 0)),
        "calls": _drill("work-orders", period, **drill),
    }


_QUEUE_FIGURES = ("offered", "answered", "answered_in_sl", "wait_answered", "abandoned",
                  "short_abandoned", "max_wait", "closed", "failed", "moved",
                  "callback")  # fmt: skip


def queues(session: Session, period: Period, service_level: int = 15) -> Report:
    """Each queue, red-list firms and the others apart: offered, answered, abandoned (short
    abandons apart), service level, average speed of answer, answer rate."""
    sums = [func.sum(getattr(QueueHour, name)) for name in _QUEUE_FIGURES]
    statement = (
        select(QueueHour.queue, QueueHour.red_list, *sums)
        .where(QueueHour.day.between(period.first, period.last))
        .group_by(QueueHour.queue, QueueHour.red_list)
        .order_by(QueueHour.queue, QueueHour.red_list.desc())
    )
    rows = []
    per_queue: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(_QUEUE_FIGURES))
    for queue, red_list, *values in session.execute(statement):
        figures = [float(v or 0) for v in values]
        rows.append(_queue_row(period, queue, "red-list" if red_list else "others", figures))
        per_queue[queue] = [a + b for a, b in zip(per_queue[queue], figures, strict=True)]
    rows += [_queue_row(period, queue, "all", figures) for queue, figures in per_queue.items()]
    rows.sort(key=lambda row: (row["queue"], ["red-list", "others", "all"].index(row["firms"])))
    columns = ["queue", "firms", "offered", "answered", "answer_rate", "abandoned",
               "short_abandoned", "abandon_rate", "answered_in_sl", "sl_base", "service_level",
               "asa_seconds", "max_wait", "callback", "closed", "moved"]  # fmt: skip
    return Report(
        "queues",
        "Queues: red-list firms and the others",
        period,
        columns,
        rows,
        definitions={
            "answer_rate": "answered by a seat ÷ offered (callers who waited while it was open)",
            "abandon_rate": "abandoned ÷ offered (short abandons apart)",
            "service_level": f"answered within {service_level} s ÷ (answered + abandoned "
            "after the short-abandon threshold)",
            "asa_seconds": "total wait of answered calls ÷ answered calls",
            "callback": "callers who left their place to be called back (keyed 1): offered, "
            "neither answered nor abandoned here; the callbacks report follows them",
        },
    )


def queues_from_details(
    session: Session, period: Period, service_level: int = 15, short_abandon: int = 5
) -> Report:
    """The same report from every stay in a queue of the period (the baseline)."""
    start, end = period.utc_bounds()
    visit = QueueVisit
    wait, outcome = visit.wait_seconds, visit.outcome
    answered = outcome.in_(("answered", "moved"))

    red = visit.tier.is_not(None)
    statement = (
        select(
            visit.queue,
            red,
            _count_if(outcome != "closed"),
            _count_if(answered),
            _count_if(answered & (wait <= service_level)),
            func.sum(case((answered, wait), else_=0.0)),
            _count_if((outcome == "abandoned") & (wait >= short_abandon)),
            _count_if((outcome == "abandoned") & (wait < short_abandon)),
            _count_if(outcome == "max-wait"),
            _count_if(outcome == "closed"),
            _count_if(outcome == "failed"),
            _count_if(outcome == "moved"),
            _count_if(outcome == "callback"),
        )
        .where(visit.entered_at >= start, visit.entered_at < end, outcome.is_not(None))
        .group_by(visit.queue, red)
    )
    rows = [
        _queue_row(
            period, queue, "red-list" if is_red else "others", [float(v or 0) for v in values]
        )
        for queue, is_red, *values in session.execute(statement)
    ]
    rows.sort(key=lambda row: (row["queue"], ["red-list", "others"].index(row["firms"])))
    return Report("queues", "Queues (from the details)", period, [], rows)


def _queue_row(period: Period, queue: str, firms: str, figures: list[float]) -> dict[str, Any]:
    f = dict(zip(_QUEUE_FIGURES, figures, strict=True))
    answered, offered, abandoned = int(f["answered"]), int(f["offered"]), int(f["abandoned"])
    sl_base = answered + abandoned
    red = {"red-list": "true", "others": "false"}.get(firms)
    return {
        "queue": queue,
        "firms": firms,
        "offered": offered,
        "answered": answered,
        "answer_rate": rate(answered, offered),
        "abandoned": abandoned,
        "short_abandoned": int(f["short_abandoned"]),
        "abandon_rate": rate(abandoned, offered),
        "answered_in_sl": int(f["answered_in_sl"]),
        "sl_base": sl_base,
        "service_level": rate(f["answered_in_sl"], sl_base),
        "asa_seconds": round(f["wait_answered"] / answered, 1) if answered else None,
        "max_wait": int(f["max_wait"]),
        "closed": int(f["closed"]),
        "moved": int(f["moved"]),
        "callback": int(f["callback"]),
        "calls": _drill("queue", period, queue=queue, red_list=red),
    }


_SEAT_FIGURES = ("rung", "answered", "no_answer", "declined", "unreachable", "caller_left",
                 "interrupted", "talk_seconds", "satisfied", "basically_satisfied",
                 "dissatisfied", "no_answer_rating")  # fmt: skip

SATISFACTION = (
    "callers who pressed satisfied or basically satisfied ÷ callers who pressed a rating "
    "(callers asked who pressed nothing are shown apart)"
)


def seats(session: Session, period: Period) -> Report:
    """Each seat: rung, answered, not answered by reason, talk time, the callers' ratings."""
    sums = [func.sum(getattr(SeatDay, name)) for name in _SEAT_FIGURES]
    statement = (
        select(SeatDay.queue, SeatDay.seat_id, *sums)
        .where(SeatDay.day.between(period.first, period.last))
        .group_by(SeatDay.queue, SeatDay.seat_id)
        .order_by(SeatDay.queue, SeatDay.seat_id)
    )
    rows = []
    for queue, seat, *values in session.execute(statement):
        f = dict(zip(_SEAT_FIGURES, (float(v or 0) for v in values), strict=True))
        rated = f["satisfied"] + f["basically_satisfied"] + f["dissatisfied"]
        rows.append(
            {
                "queue": queue,
                "seat": seat,
                **{name: int(f[name]) for name in _SEAT_FIGURES if name != "talk_seconds"},
                "answer_rate": rate(f["answered"], f["rung"]),
                "talk_seconds": round(f["talk_seconds"]),
                "average_talk": round(f["talk_seconds"] / f["answered"], 1)
                if f["answered"]
                else None,
                "satisfaction": rate(f["satisfied"] + f["basically_satisfied"], rated),
                "calls": _drill("seat", period, seat=seat),
            }
        )
    columns = ["queue", "seat", "rung", "answered", "answer_rate", "no_answer", "declined",
               "unreachable", "caller_left", "interrupted", "talk_seconds", "average_talk",
               "satisfied", "basically_satisfied", "dissatisfied", "no_answer_rating",
               "satisfaction"]  # fmt: skip
    return Report(
        "seats",
        "Seats",
        period,
        columns,
        rows,
        definitions={"answer_rate": "rings answered ÷ rings", "satisfaction": SATISFACTION},
    )


def satisfaction(session: Session, period: Period) -> Report:
    """The callers' ratings over the period: the satisfaction rate."""
    names = ("satisfied", "basically_satisfied", "dissatisfied", "no_answer_rating")
    statement = select(*(func.sum(getattr(SeatDay, name)) for name in names)).where(
        SeatDay.day.between(period.first, period.last)
    )
    values = [int(v or 0) for v in session.execute(statement).one()]
    f = dict(zip(names, values, strict=True))
    rated = f["satisfied"] + f["basically_satisfied"] + f["dissatisfied"]
    row = {
        **f,
        "rated": rated,
        "satisfaction": rate(f["satisfied"] + f["basically_satisfied"], rated),
        "calls": _drill("rated", period),
    }
    return Report(
        "satisfaction",
        "Satisfaction (return visit)",
        period,
        [
            "satisfied",
            "basically_satisfied",
            "dissatisfied",
            "rated",
            "satisfaction",
            "no_answer_rating",
        ],
        [row],
        definitions={"satisfaction": SATISFACTION},
    )


@dataclass(frozen=True)
class Options:
    """What a report may be asked for besides its period (each reads what it needs)."""

    by: str = "department"
    """connect-rate: department, matter, hour, day or day-hour."""
    department: str | None = None
    """failed-attempts: one department's dials."""
    service_level: int = 15
    """queues: the service level's threshold in seconds (the site's)."""


CALLBACK_STATES = ("reached", "given-up", "cancelled", "pending")


def callbacks(session: Session, period: Period) -> Report:
    """Call-backs promised in the period, by queue and tier: reached, given up, cancelled
    (the company called again) and pending, and the time from the promise to the talk."""
    start, end = period.utc_bounds()
    promised = session.execute(
        select(
            CallbackRequest.queue,
            CallbackRequest.tier,
            CallbackRequest.state,
            CallbackRequest.attempts,
            CallbackRequest.requested_at,
            CallbackRequest.reached_at,
        ).where(CallbackRequest.requested_at >= start, CallbackRequest.requested_at < end)
    )
    grouped: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for queue, tier, state, attempts, requested_at, reached_at in promised:
        for key in ((queue, tier or "-"), ("all", "")):
            figures = grouped[key]
            figures["requested"] += 1
            figures[state if state in CALLBACK_STATES else "pending"] += 1
            figures["attempts"] += attempts
            if reached_at is not None:
                waited = (reached_at - requested_at).total_seconds()
                figures["to_talk"] += waited
                figures["longest"] = max(figures["longest"], waited)
    total = grouped.pop(("all", ""), None)
    columns = [
        *("queue", "tier", "requested"),
        *(state.replace("-", "_") for state in CALLBACK_STATES),
        *("reach_rate", "attempts_failed", "mean_seconds_to_talk", "longest_seconds_to_talk"),
    ]
    return Report(
        "callbacks",
        "Call-backs promised, kept and given up",
        period,
        columns,
        [_callback_row(queue, tier, f) for (queue, tier), f in sorted(grouped.items())],
        _callback_row("all", "", total) if total else None,
        {
            "reach_rate": "call-backs that reached the company ÷ call-backs promised",
            "mean_seconds_to_talk": "from the promise to the company's answer, over those reached",
            "attempts_failed": "calls to the company that were busy, not answered or unreachable",
        },
    )


def _callback_row(queue: str, tier: str, f: Mapping[str, float]) -> dict[str, Any]:
    reached = int(f["reached"])
    return {
        "queue": queue,
        "tier": tier,
        "requested": int(f["requested"]),
        **{state.replace("-", "_"): int(f[state]) for state in CALLBACK_STATES},
        "reach_rate": rate(reached, f["requested"]),
        "attempts_failed": int(f["attempts"]),
        "mean_seconds_to_talk": round(f["to_talk"] / reached, 1) if reached else None,
        "longest_seconds_to_talk": round(f["longest"], 1) if reached else None,
    }


VISIT_COUNTS = ("visits", "visited", "by_phone", "given_up", "not_yet",
                "responded", "responded_answers", "resolved", "resolved_answers", "satisfied",
                "basically_satisfied", "dissatisfied")  # fmt: skip
VISIT_RATES = {
    "response_rate": "companies that said the department answered them ÷ companies asked",
    "resolution_rate": "companies that said the problem was resolved ÷ companies asked",
    "satisfaction_rate": "satisfied or basically satisfied ÷ companies that rated",
    "visit_rate": "visits made (by phone or by hand) ÷ orders answered in the period",
}


def return_visits(session: Session, period: Period) -> Report:
    """Return visits of the orders answered in the period, by department and matter: the
    response, resolution and satisfaction rates, each with its numerator and denominator."""
    start, end = period.utc_bounds()
    visits = session.execute(
        select(
            ReturnVisit.department_code,
            ReturnVisit.matter_code,
            ReturnVisit.state,
            ReturnVisit.visited_by,
            ReturnVisit.responded,
            ReturnVisit.resolved,
            ReturnVisit.satisfaction,
        ).where(ReturnVisit.created_at >= start, ReturnVisit.created_at < end)
    )
    grouped: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for department, matter, state, by, responded, resolved, satisfaction in visits:
        for key in ((department, matter or "-"), ("all", "")):
            f = grouped[key]
            f["visits"] += 1
            f["visited"] += state == "done"
            f["by_phone"] += by == "phone"
            f["given_up"] += state == "given-up"
            f["not_yet"] += state not in ("done", "given-up")
            for name, answer in (("responded", responded), ("resolved", resolved)):
                f[f"{name}_answers"] += answer is not None
                f[name] += answer is True
            if satisfaction:
                f[satisfaction.replace("-", "_")] += 1
    total = grouped.pop(("all", ""), None)
    return Report(
        "return-visits",
        "Return visits: responded, resolved, satisfied",
        period,
        ["department", "matter", *VISIT_COUNTS, "satisfaction_answers", *VISIT_RATES],
        [_visit_row(d, m, f) for (d, m), f in sorted(grouped.items())],
        _visit_row("all", "", total) if total else None,
        VISIT_RATES,
    )


def _visit_row(department: str, matter: str, f: Mapping[str, int]) -> dict[str, Any]:
    rated = f["satisfied"] + f["basically_satisfied"] + f["dissatisfied"]
    return {
        "department": department,
        "matter": matter,
        **{name: int(f[name]) for name in VISIT_COUNTS},
        "satisfaction_answers": rated,
        "response_rate": rate(f["responded"], f["responded_answers"]),
        "resolution_rate": rate(f["resolved"], f["resolved_answers"]),
        "satisfaction_rate": rate(f["satisfied"] + f["basically_satisfied"], rated),
        "visit_rate": rate(f["visited"], f["visits"]),
    }


UNCLASSIFIED = "unclassified"
"""The kind ``calls-by-kind`` gives calls a seat answered and nobody classified."""
KIND_COUNTS = ("calls", "direct", "from_knowledge", "transferred", "ordered", "late")


def calls_by_kind(session: Session, period: Period) -> Report:
    """Calls answered by a seat in the period, by the kind and matter the seat gave them at
    wrap-up: each kind's share of the calls, how each ended, and the direct-answer rate."""
    start, end = period.utc_bounds()
    calls = session.execute(
        select(
            CallClassification.kind,
            CallClassification.matter_code,
            CallClassification.resolution,
            CallClassification.knowledge,
            CallClassification.late,
            CallClassification.wrap_up_seconds,
        )
        .select_from(CallLeg)
        .outerjoin(CallClassification, CallClassification.caller_channel == CallLeg.caller_channel)
        .where(
            CallLeg.entered_at >= start,
            CallLeg.entered_at < end,
            CallLeg.seat_id.is_not(None),
            CallLeg.answered_at.is_not(None),
        )
    )
    grouped: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for kind, matter, resolution, knowledge, late, wrap_up in calls:
        keys = [("all", "")]
        keys += [(kind, ""), (kind, matter or "-")] if kind else [(UNCLASSIFIED, "")]
        for key in keys:
            f = grouped[key]
            f["calls"] += 1
            f["direct"] += resolution == "direct"
            f["from_knowledge"] += resolution == "direct" and bool(knowledge)
            f["transferred"] += resolution == "transferred"
            f["ordered"] += resolution == "order"
            f["late"] += bool(late)
            f["classified"] += kind is not None
            f["wrap_up"] += wrap_up or 0.0
    total = grouped.pop(("all", ""), None)
    answered = total["calls"] if total else 0
    return Report(
        "calls-by-kind",
        "Calls answered by a seat, by kind and matter",
        period,
        ["kind", "matter", *KIND_COUNTS, "share", "direct_answer_rate", "wrap_up_average"],
        [_kind_row(period, k, m, f, answered) for (k, m), f in sorted(grouped.items())],
        _kind_row(period, "all", "", total, answered) if total else None,
        {
            "share": "calls of the row ÷ calls answered by a seat in the period",
            "direct_answer_rate": "calls the seat answered directly (no transfer, no order) ÷ "
            "calls of the row; in the total, ÷ every call a seat answered (unclassified "
            "calls count as not answered directly)",
            "from_knowledge": "answered directly with knowledge-base entries the seat named",
            "late": "classified after the queue's wrap-up time was over",
            "wrap_up_average": "seconds from the call's end to its classification, average",
        },
    )


def _kind_row(
    period: Period, kind: str, matter: str, f: Mapping[str, float], answered: float
) -> dict[str, Any]:
    drill = {
        "kind": None if kind == "all" else kind,
        "matter": None if matter in ("", "-") else matter,
    }
    return {
        "kind": kind,
        "matter": matter,
        **{name: int(f[name]) for name in KIND_COUNTS},
        "share": rate(f["calls"], answered),
        "direct_answer_rate": rate(f["direct"], f["calls"]),
        "wrap_up_average": round(f["wrap_up"] / f["classified"], 1) if f["classified"] else None,
        "calls_behind": _drill("classified", period, **drill),
    }


@dataclass(frozen=True)
class ReportKind:
    """One report the API, the CSV and the terminal all offer, by name."""

    name: str
    make: Callable[[Session, Period, Options], Report]
    about: str


def _kind(name: str, function: Callable[..., Report], *asks: str) -> ReportKind:
    """A report made by ``function(session, period, <the options it asks for>)``."""

    def make(session: Session, period: Period, options: Options) -> Report:
        return function(session, period, *(getattr(options, ask) for ask in asks))

    about = " ".join((function.__doc__ or name).split("\n\n")[0].split())
    return ReportKind(name, make, about)


REPORTS: dict[str, ReportKind] = {
    kind.name: kind
    for kind in (
        _kind("connect-rate", connect_rate, "by"),
        _kind("numbers", numbers),
        _kind("failed-attempts", failed_attempts, "department"),
        _kind("work-orders", work_orders),
        _kind("order-levels", order_levels),
        _kind("calls-by-kind", calls_by_kind),
        _kind("queues", queues, "service_level"),
        _kind("seats", seats),
        _kind("satisfaction", satisfaction),
        _kind("callbacks", callbacks),
        _kind("return-visits", return_visits),
    )
}
"""Every report there is, by name: the one list the API, the CSV and the terminal read."""


def make_report(session: Session, name: str, period: Period, options: Options) -> Report:
    """The report ``name`` for ``period``."""
    kind = REPORTS.get(name)
    if kind is None:
        raise ReportError(f"no report {name!r}; there are: {', '.join(REPORTS)}")
    return kind.make(session, period, options)


def as_csv_rows(report: Report) -> Iterable[list[str]]:
    """The report as CSV rows: the header, each row, then the total."""
    yield report.columns
    for row in [*report.rows, *([report.total] if report.total else [])]:
        yield ["" if row.get(name) is None else str(row.get(name)) for name in report.columns]


def as_text(report: Report) -> str:
    """The report as a readable terminal table (rates as percentages)."""
    header = (
        f"{report.title}, {report.period.first} to {report.period.last} ({report.period.zone.key})"
    )
    table = [report.columns]
    for row in [*report.rows, *([report.total] if report.total else [])]:
        table.append([_cell(name, row.get(name)) for name in report.columns])
    widths = [max(len(line[i]) for line in table) for i in range(len(report.columns))]
    lines = [header, ""]
    for index, line in enumerate(table):
        lines.append("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    if not report.rows:
        lines.append("(nothing in this period)")
    for name, meaning in report.definitions.items():
        lines.append(f"{name}: {meaning}")
    return "\n".join(lines)


PERCENTAGES = ("service_level", "satisfaction", "share")


def _cell(name: str, value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (name.endswith("rate") or name in PERCENTAGES):
        return f"{value * 100:.1f}%"
    return str(value)
