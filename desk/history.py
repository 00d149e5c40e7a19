"""The company on the seat's screen: who it is and what the line has done for it.

One read, a handful of indexed queries (calls and orders by ``enterprise_id``, the rest by
the calls found): the company's registry entry and red-list tier, its latest calls (when,
which seat, what was asked, how it ended, the recording if the seat may hear it), its open
and recent work orders with their deadlines and return-visit answers, its transfers, and the
call-backs it is waiting for. A caller the line did not identify is shown by its number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdr.models import CallbackRequest, CallLeg
from desk.models import CallClassification
from recording.models import Recording
from redlist.models import Enterprise
from return_visit.models import ReturnVisit
from transfer.models import Matter, TransferRequest, WorkOrder

CALLS_SHOWN = 30
ORDERS_SHOWN = 30
RECENT = timedelta(days=180)
"""Closed orders older than this are not shown; open ones always are."""
OPEN_ORDERS = ("open", "accepted", "overdue")


def company_history(
    session: Session,
    enterprise_id: int | None,
    number: str,
    seat_id: str,
    timezone: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    """What the desk shows about the caller; ``seat_id`` is the seat looking (it may play
    the recordings of its own calls)."""
    company = session.get(Enterprise, enterprise_id) if enterprise_id else None
    whose_calls = (
        CallLeg.enterprise_id == enterprise_id if company else CallLeg.caller_number == number
    )
    calls_made = session.execute(select(func.count()).where(whose_calls)).scalar_one()
    legs = session.execute(
        select(CallLeg, CallClassification)
        .outerjoin(CallClassification, CallClassification.caller_channel == CallLeg.caller_channel)
        .where(whose_calls)
        .order_by(CallLeg.entered_at.desc())
        .limit(CALLS_SHOWN)
    ).all()
    channels = [leg.caller_channel for leg, _ in legs]
    matters = dict(session.execute(select(Matter.code, Matter.name)).tuples().all())
    recordings = {
        row.caller_channel: row.id
        for row in session.execute(
            select(Recording).where(
                Recording.caller_channel.in_(channels), Recording.state == "recorded"
            )
        ).scalars()
    }
    transfers = session.execute(
        select(TransferRequest)
        .where(TransferRequest.caller_channel.in_(channels))
        .order_by(TransferRequest.requested_at.desc())
    ).scalars()

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(timezone).isoformat(timespec="seconds") if moment else None

    calls = []
    for leg, said in legs:
        recording = recordings.get(leg.caller_channel)
        calls.append({
            "call": leg.caller_channel,
            "at": local(leg.entered_at),
            "seat": leg.seat_id,
            "talk": round(leg.talk_seconds or 0.0),
            "outcome": leg.outcome,
            "callback": leg.callback_request is not None,
            "kind": said.kind if said else None,
            "matter": said.matter_code if said else None,
            "matter_name": matters.get(said.matter_code or "") if said else None,
            "resolution": said.resolution if said else None,
            "order": said.order_number if said else None,
            "recording": recording,
            "playable": recording is not None and leg.seat_id == seat_id,
        })  # fmt: skip
    return {
        "company": _company(company),
        "number": number,
        "calls_made": calls_made,
        "calls": calls,
        "orders": _orders(session, enterprise_id, number, matters, now, local),
        "transfers": [
            {
                "call": request.caller_channel,
                "at": local(request.requested_at),
                "matter": request.matter_code,
                "matter_name": matters.get(request.matter_code),
                "department": request.department_code,
                "outcome": request.outcome,
                "answered_by": request.answered_number,
            }
            for request in transfers
        ],
        "callbacks": [
            {
                "at": local(row.requested_at),
                "reason": row.reason,
                "state": row.state,
                "attempts": row.attempts,
                "number": row.number,
            }
            for row in session.execute(
                select(CallbackRequest)
                .where(
                    CallbackRequest.caller_channel.in_(channels), CallbackRequest.state == "pending"
                )
                .order_by(CallbackRequest.requested_at)
            ).scalars()
        ],
    }


def _company(company: Enterprise | None) -> dict[str, Any] | None:
    if company is None:
        return None
    red = company.red_list
    return {
        "id": company.id,
        "uscc": company.uscc,
        "name": company.name,
        "district": company.district,
        "industry": company.industry,
        "tier": red.tier if red else None,
        "reason": red.reason if red else None,
        "phones": [phone.number for phone in company.phones],
    }


def _orders(
    session: Session,
    enterprise_id: int | None,
    number: str,
    matters: dict[str, str],
    now: datetime,
    local: Any,
) -> list[dict[str, Any]]:
    """Open orders, then the others of the last half year; newest first in each."""
    whose = (
        WorkOrder.enterprise_id == enterprise_id
        if enterprise_id
        else WorkOrder.caller_number == number
    )
    shown = (WorkOrder.state.in_(OPEN_ORDERS)) | (WorkOrder.created_at >= now - RECENT)
    rows = session.execute(
        select(WorkOrder, ReturnVisit)
        .outerjoin(ReturnVisit, ReturnVisit.order_number == WorkOrder.number)
        .where(whose, shown)
        .order_by(WorkOrder.created_at.desc())
        .limit(ORDERS_SHOWN)
    ).all()
    orders = [
        {
            "number": order.number,
            "at": local(order.created_at),
            "matter": order.matter_code,
            "matter_name": matters.get(order.matter_code or ""),
            "department": order.department_code,
            "level": order.level,
            "state": order.state,
            "open": order.state in OPEN_ORDERS,
            "deadline": local(order.deadline_at),
            "late": order.state in OPEN_ORDERS and order.deadline_at < now,
            "request": order.request,
            "reply": order.reply_to_company,
            "visit": _visit(visit),
        }
        for order, visit in rows
    ]
    orders.sort(key=lambda order: not order["open"])  # stable: newest first in each
    return orders


def _visit(visit: ReturnVisit | None) -> dict[str, Any] | None:
    if visit is None:
        return None
    return {
        "state": visit.state,
        "responded": visit.responded,
        "resolved": visit.resolved,
        "satisfaction": visit.satisfaction,
    }
