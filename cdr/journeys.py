"""Call journeys: one record per call, and the calls behind each figure of a report.

A journey gathers what the hotline and Asterisk recorded about one call (grouped by its
``linkedid``): who called (number, company, tier), the stays in queues, the seats rung,
the talk, each transfer request with its dials, the work order, the caller's rating, how it
ended, and Asterisk's own CDRs, with a timeline in the site's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cdr.models import AsteriskCdr, CallLeg, QueueVisit, SeatAttempt
from cdr.reports import UNCLASSIFIED, Period, ReportError
from desk.models import CallClassification
from recording.models import Recording
from redlist.models import Enterprise
from redlist.numbers import normalise, safe_number, written_forms
from transfer.models import TransferAttempt, TransferRequest, WorkOrder

LIMIT = 500
"""The most calls one list returns (``more`` says when there were more)."""
SEARCH_DAYS = 7
"""Days a search covers when no dates are given: today and the six before, so that a call
made just before midnight is still found after it."""


def search_period(
    first: str | None, last: str | None, zone: ZoneInfo, today: date
) -> tuple[Period, str | None]:
    """The local days a search covers, and a sentence when they were not asked for."""
    if first is None and last is None:
        note = f"the last {SEARCH_DAYS} days; give from and to for another period"
        return Period(today - timedelta(days=SEARCH_DAYS - 1), today, zone), note
    return Period.parse(first, last, zone, today), None


def _local(at: datetime | None, zone: ZoneInfo) -> str | None:
    return at.astimezone(zone).isoformat(timespec="seconds") if at else None


def _summary(leg: CallLeg, company: str | None, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "call": leg.linkedid or leg.caller_channel,
        "caller_channel": leg.caller_channel,
        "caller_number": leg.caller_number,
        "company": company,
        "tier": leg.tier,
        "kind": leg.caller_kind,
        "queue": leg.queue,
        "entered_at": _local(leg.entered_at, zone),
        "wait_seconds": leg.wait_seconds,
        "seat": leg.seat_id,
        "node": leg.node,
        "talk_seconds": leg.talk_seconds,
        "outcome": leg.outcome,
        "satisfaction": leg.satisfaction,
        "journey": f"/api/journeys/{leg.linkedid or leg.caller_channel}",
    }


def search(
    session: Session,
    period: Period,
    number: str | None = None,
    company: str | None = None,
    seat: str | None = None,
    outcome: str | None = None,
    limit: int = LIMIT,
    area_code: str | None = None,
) -> dict[str, Any]:
    """Calls of the period, newest first, by caller number (any written form of a whole
    number — ``+86 21 6234 5678``, ``0086-21-62345678``, ``6234 5678`` — or a part of one),
    company (name or a part of it, or its credit code), seat and outcome."""
    start, end = period.utc_bounds()
    statement = (
        select(CallLeg, Enterprise.name)
        .outerjoin(Enterprise, Enterprise.id == CallLeg.enterprise_id)
        .where(CallLeg.entered_at >= start, CallLeg.entered_at < end)
        .order_by(CallLeg.entered_at.desc())
    )
    if number:
        whole = normalise(number, area_code)
        statement = statement.where(
            CallLeg.caller_number.in_(written_forms(whole, area_code))
            if whole
            else CallLeg.caller_number.contains(safe_number(number).lstrip("+"))
        )
    if company:
        statement = statement.where(
            or_(Enterprise.name.contains(company), Enterprise.uscc == company.upper())
        )
    if seat:
        statement = statement.where(CallLeg.seat_id == seat)
    if outcome:
        statement = statement.where(CallLeg.outcome == outcome)
    return _listed(session, statement, limit, lambda row: _summary(row[0], row[1], period.zone))


def _listed(session: Session, statement: Any, limit: int, shape: Any) -> dict[str, Any]:
    rows = list(session.execute(statement.limit(limit + 1)))
    return {"calls": [shape(row) for row in rows[:limit]], "more": len(rows) > limit}


def journey(session: Session, call: str, zone: ZoneInfo) -> dict[str, Any] | None:
    """Everything about one call, by its linkedid or its caller channel; None if unknown."""
    found = session.execute(
        select(CallLeg, Enterprise.name)
        .outerjoin(Enterprise, Enterprise.id == CallLeg.enterprise_id)
        .where(or_(CallLeg.linkedid == call, CallLeg.caller_channel == call))
    ).first()
    if found is None:
        return None
    leg, company = found
    channel, linkedid = leg.caller_channel, leg.linkedid or leg.caller_channel
    visits = session.execute(
        select(QueueVisit).where(QueueVisit.caller_channel == channel).order_by(QueueVisit.id)
    ).scalars()
    rings = session.execute(
        select(SeatAttempt).where(SeatAttempt.caller_channel == channel).order_by(SeatAttempt.id)
    ).scalars()
    requests = list(
        session.execute(
            select(TransferRequest)
            .where(TransferRequest.caller_channel == channel)
            .order_by(TransferRequest.id)
        ).scalars()
    )
    dials = session.execute(
        select(TransferAttempt)
        .where(TransferAttempt.request_id.in_([r.id for r in requests]))
        .order_by(TransferAttempt.id)
    ).scalars()
    orders = session.execute(
        select(WorkOrder).where(WorkOrder.caller_channel == channel).order_by(WorkOrder.id)
    ).scalars()
    recorded = session.execute(
        select(Recording).where(Recording.caller_channel == channel).order_by(Recording.id)
    ).scalars()
    cdrs = session.execute(
        select(AsteriskCdr).where(AsteriskCdr.linkedid == linkedid).order_by(AsteriskCdr.sequence)
    ).scalars()

    timeline: list[tuple[datetime, str]] = [(leg.entered_at, "called the hotline")]
    stays = []
    for visit in visits:
        stays.append(
            {
                "queue": visit.queue,
                "tier": visit.tier,
                "entered_at": _local(visit.entered_at, zone),
                "wait_seconds": visit.wait_seconds,
                "outcome": visit.outcome,
                "seat": visit.seat_id,
                "served_by": visit.served_by or "hotline",
            }
        )
        where = "" if visit.served_by is None else " (Asterisk's own queue: the app was away)"
        timeline.append((visit.entered_at, f"joined the {visit.queue} queue{where}"))
        if visit.left_at:
            seat = f" by seat {visit.seat_id}" if visit.seat_id else ""
            timeline.append(
                (visit.left_at, f"left the {visit.queue} queue: {visit.outcome}{seat}{where}")
            )
    seats = []
    for ring in rings:
        seats.append(
            {
                "seat": ring.seat_id,
                "rung_at": _local(ring.rung_at, zone),
                "rang_seconds": ring.rang_seconds,
                "outcome": ring.outcome,
                "cause": ring.cause,
            }
        )
        timeline.append((ring.rung_at, f"seat {ring.seat_id} rung: {ring.outcome}"))
    by_request: dict[int, list[dict[str, Any]]] = {r.id: [] for r in requests}
    for dial in dials:
        by_request[dial.request_id].append(
            {
                "position": dial.position,
                "number": dial.number,
                "started_at": _local(dial.started_at, zone),
                "rang_seconds": dial.rang_seconds,
                "outcome": dial.outcome,
                "cause": dial.cause,
                "sip_code": dial.sip_code,
            }
        )
        timeline.append((dial.started_at, f"dialled {dial.number}: {dial.outcome}"))
    transfers = []
    for request in requests:
        transfers.append(
            {
                "id": request.id,
                "matter": request.matter_code,
                "department": request.department_code,
                "requested_at": _local(request.requested_at, zone),
                "in_hours": request.in_hours,
                "via": request.via,
                "outcome": request.outcome,
                "answered_number": request.answered_number,
                "work_order": request.work_order_id,
                "attempts": by_request[request.id],
            }
        )
        timeline.append(
            (
                request.requested_at,
                f"seat asked for matter {request.matter_code}: {request.outcome}",
            )
        )
    work_orders = [
        {
            "number": order.number,
            "department": order.department_code,
            "level": order.level,
            "state": order.state,
            "deadline_at": _local(order.deadline_at, zone),
        }
        for order in orders
    ]
    for order in work_orders:
        timeline.append((leg.entered_at, f"work order {order['number']} ({order['level']})"))
    recordings = [_recording(row, zone, timeline) for row in recorded]
    if leg.answered_at:
        timeline.append((leg.answered_at, f"seat {leg.seat_id} answered"))
    if leg.ended_at:
        timeline.append((leg.ended_at, f"call ended: {leg.outcome}"))
    asterisk = [
        {
            "sequence": cdr.sequence,
            "channel": cdr.channel,
            "dst_channel": cdr.dst_channel,
            "last_app": cdr.last_app,
            "start_at": _local(cdr.start_at, zone),
            "answer_at": _local(cdr.answer_at, zone),
            "end_at": _local(cdr.end_at, zone),
            "billsec": cdr.billsec,
            "disposition": cdr.disposition,
        }
        for cdr in cdrs
    ]
    timeline.sort(key=lambda item: item[0])
    return {
        **_summary(leg, company, zone),
        "called_number": leg.called_number,
        "ended_at": _local(leg.ended_at, zone),
        "queue_stays": stays,
        "seats_rung": seats,
        "transfers": transfers,
        "work_orders": work_orders,
        "recordings": recordings,
        "asterisk_cdrs": asterisk,
        "timeline": [{"at": _local(at, zone), "what": what} for at, what in timeline],
    }


def _recording(
    row: Recording, zone: ZoneInfo, timeline: list[tuple[datetime, str]]
) -> dict[str, Any]:
    """A recording of the call as the journey lists it (and its lines in the timeline)."""
    if row.state == "failed":
        timeline.append((row.started_at, f"not recorded: {row.reason}"))
    else:
        timeline.append((row.started_at, "recording started"))
    if row.deleted_at is not None:
        timeline.append((row.deleted_at, "recording deleted after the retention"))
    return {
        "id": row.id,
        "started_at": _local(row.started_at, zone),
        "state": row.state,
        "reason": row.reason,
        "deleted_at": _local(row.deleted_at, zone),
        "audio": f"/api/recordings/{row.id}/audio" if row.state == "recorded" else None,
    }


FIGURES = ("transfers", "attempts", "queue", "seat", "rated", "work-orders", "classified")


def calls_behind(
    session: Session, figure: str, period: Period, filters: dict[str, str], limit: int = LIMIT
) -> dict[str, Any]:
    """The calls (or requests, dials, orders) a report's figure counts."""
    start, end = period.utc_bounds()
    zone = period.zone
    if figure == "transfers":
        statement = select(TransferRequest).where(
            TransferRequest.requested_at >= start, TransferRequest.requested_at < end
        )
        statement = _equal(statement, TransferRequest, filters, ("department", "matter", "outcome"))
        if "in_hours" in filters:
            statement = statement.where(TransferRequest.in_hours.is_(_yes(filters["in_hours"])))
        if "day" in filters:
            day = Period.parse(filters["day"], None, zone, period.first)
            first, last = day.utc_bounds()
            statement = statement.where(
                TransferRequest.requested_at >= first, TransferRequest.requested_at < last
            )
        rows = [
            row
            for row in session.execute(statement.order_by(TransferRequest.requested_at)).scalars()
            if "hour" not in filters
            or row.requested_at.astimezone(zone).hour == _int(filters["hour"])
        ]
        return {
            "calls": [
                {
                    "request": r.id,
                    "call": r.linkedid or r.caller_channel,
                    "requested_at": _local(r.requested_at, zone),
                    "department": r.department_code,
                    "matter": r.matter_code,
                    "in_hours": r.in_hours,
                    "outcome": r.outcome,
                    "answered_number": r.answered_number,
                    "seat": r.seat_id,
                    "journey": f"/api/journeys/{r.linkedid or r.caller_channel}",
                }
                for r in rows[:limit]
            ],
            "more": len(rows) > limit,
        }
    if figure == "attempts":
        dial = (
            select(TransferAttempt, TransferRequest)
            .join(TransferRequest, TransferRequest.id == TransferAttempt.request_id)
            .where(TransferAttempt.started_at >= start, TransferAttempt.started_at < end)
            .order_by(TransferAttempt.started_at)
        )
        dial = _equal(dial, TransferAttempt, filters, ("number", "outcome"))
        if "department" in filters:
            dial = dial.where(TransferRequest.department_code == filters["department"])
        return _listed(
            session,
            dial,
            limit,
            lambda row: {
                "request": row[1].id,
                "call": row[1].linkedid or row[1].caller_channel,
                "number": row[0].number,
                "started_at": _local(row[0].started_at, zone),
                "outcome": row[0].outcome,
                "cause": row[0].cause,
                "journey": f"/api/journeys/{row[1].linkedid or row[1].caller_channel}",
            },
        )
    if figure == "work-orders":
        orders = (
            select(WorkOrder)
            .where(WorkOrder.created_at >= start, WorkOrder.created_at < end)
            .order_by(WorkOrder.created_at)
        )
        orders = _equal(orders, WorkOrder, filters, ("department", "state", "level"))
        return _listed(session, orders, limit, lambda row: row[0].as_dict())
    legs = (
        select(CallLeg, Enterprise.name)
        .outerjoin(Enterprise, Enterprise.id == CallLeg.enterprise_id)
        .where(CallLeg.entered_at >= start, CallLeg.entered_at < end)
        .order_by(CallLeg.entered_at)
    )
    if figure == "queue":
        visits = select(QueueVisit.caller_channel).where(
            QueueVisit.entered_at >= start, QueueVisit.entered_at < end
        )
        visits = _equal(visits, QueueVisit, filters, ("queue", "outcome"))
        if "red_list" in filters:
            red = _yes(filters["red_list"])
            visits = visits.where(
                QueueVisit.tier.is_not(None) if red else QueueVisit.tier.is_(None)
            )
        legs = legs.where(CallLeg.caller_channel.in_(visits))
    elif figure == "seat":
        legs = legs.where(CallLeg.seat_id == filters.get("seat", ""))
    elif figure == "classified":  # answered by a seat; "unclassified" has no classification
        legs = legs.outerjoin(
            CallClassification, CallClassification.caller_channel == CallLeg.caller_channel
        ).where(CallLeg.seat_id.is_not(None), CallLeg.answered_at.is_not(None))
        if filters.get("kind") == UNCLASSIFIED:
            legs = legs.where(CallClassification.id.is_(None))
        else:
            legs = _equal(legs, CallClassification, filters, ("kind", "matter", "resolution"))
    elif figure == "rated":
        legs = legs.where(CallLeg.satisfaction.is_not(None))
        if "rating" in filters:
            legs = legs.where(CallLeg.satisfaction == filters["rating"])
    else:
        raise ReportError(f"figure is one of {', '.join(FIGURES)}, not {figure!r}")
    return _listed(session, legs, limit, lambda row: _summary(row[0], row[1], zone))


_COLUMNS = {"department": "department_code", "matter": "matter_code"}


def _equal(statement: Any, model: Any, filters: dict[str, str], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in filters:
            statement = statement.where(getattr(model, _COLUMNS.get(name, name)) == filters[name])
    return statement


def _yes(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError as error:
        raise ReportError(f"hour is a number from 0 to 23, not {text!r}") from error
