"""The seat console: one web page per seat (``/console/{seat}``) and the API behind it.

The page is static; everything it shows comes from ``/api/console/{seat}/...``, which takes
the seat's own console token (``hotline seats accounts`` prints the console's address with
it) or the admin token. A seat's token opens its own console and no other route.

(No ``from __future__ import annotations``: FastAPI must see the dependencies.)
"""

from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callback.book import CallbackBook, is_attempt
from cdr.models import CallLeg
from core import clock
from core.site import Site
from queues.seats import LOGGED_OUT, SeatPool
from redlist.models import Enterprise
from transfer.api import request_cancel, request_transfer, transfer_status
from transfer.models import TransferRequest, WorkOrder
from transfer.plan import TransferPlan

PAGE = Path(__file__).with_name("static") / "console.html"


class TransferIn(BaseModel):
    matter: str = Field(pattern=r"^[0-9]{1,6}$")


class PauseIn(BaseModel):
    reason: str = Field(default="paused", min_length=1, max_length=40)


def router(
    site: Site,
    seats: SeatPool,
    redis: Redis,
    plan: TransferPlan,
    records: sessionmaker[Session],
    seat_of: Any,
) -> APIRouter:
    """The console's page and API; ``seat_of`` authenticates a request for a seat."""
    api = APIRouter(tags=["console"])
    SeatId = Annotated[str, Depends(seat_of)]
    names = {seat.id: seat.name for seat in site.seats}
    book = CallbackBook(redis)

    @api.get("/console/{seat_id}", response_class=HTMLResponse, include_in_schema=False)
    def page(seat_id: str) -> str:
        if seat_id not in names:
            raise HTTPException(404, f"no seat {seat_id} in the site file")
        return PAGE.read_text(encoding="utf-8")

    @api.get("/api/console/{seat_id}")
    async def state(seat_id: SeatId) -> dict[str, Any]:
        """The seat, its current caller and transfer, and its calls today."""
        seat_state = (await seats.states([seat_id]))[seat_id]
        call = str(seat_state.get("call") or "") or None
        caller = _caller(records, call) if call else None
        if caller is None and call and is_attempt(call):  # a call-back: the company it calls
            caller = await _called_back(book, call)
        transfer = await transfer_status(redis, call) if call else None
        if transfer is not None and transfer.get("state") == "ordered":
            transfer["order"] = _order_of(records, str(transfer.get("request")))
        return {
            "seat": {"id": seat_id, "name": names[seat_id], **seat_state},
            "caller": caller,
            "transfer": transfer,
            "today": _today(records, site, seat_id),
        }

    @api.get("/api/console/{seat_id}/matters")
    def matters(seat_id: SeatId, search: str = "") -> list[dict[str, object]]:
        return plan.matters(search)

    @api.post("/api/console/{seat_id}/transfer", status_code=202)
    async def transfer(seat_id: SeatId, body: TransferIn) -> dict[str, object]:
        call = (await seats.busy_with(seat_id)) or ""
        if not call:
            raise HTTPException(409, "the seat has no call to transfer")
        await request_transfer(redis, plan, call, body.matter, "console")
        return {"call": call, "matter": body.matter}

    @api.delete("/api/console/{seat_id}/transfer", status_code=202)
    async def cancel(seat_id: SeatId) -> dict[str, object]:
        call = (await seats.busy_with(seat_id)) or ""
        if not call:
            raise HTTPException(409, "the seat has no call")
        await request_cancel(redis, call)
        return {"call": call}

    @api.post("/api/console/{seat_id}/{action}")
    async def seat_action(
        seat_id: SeatId, action: str, body: PauseIn | None = None
    ) -> dict[str, Any]:
        if action == "pause":
            await seats.pause(seat_id, body.reason if body else "paused")
        elif action == "logout":
            await seats.pause(seat_id, LOGGED_OUT)
        elif action in ("resume", "login"):
            await seats.resume(seat_id)
        else:
            raise HTTPException(404, "the actions are pause, resume, login and logout")
        return (await seats.states([seat_id]))[seat_id]

    return api


def _order_of(records: sessionmaker[Session], request: str) -> str | None:
    """The number of the work order made for a transfer request (once it is written)."""
    with records() as session:
        number = session.execute(
            select(WorkOrder.number)
            .join(TransferRequest, TransferRequest.work_order_id == WorkOrder.id)
            .where(TransferRequest.key == request)
        ).scalar_one_or_none()
        return str(number) if number else None


def _caller(records: sessionmaker[Session], call: str) -> dict[str, Any] | None:
    with records() as session:
        leg = session.execute(
            select(CallLeg).where(CallLeg.caller_channel == call)
        ).scalar_one_or_none()
        if leg is None:
            return None
        company = session.get(Enterprise, leg.enterprise_id) if leg.enterprise_id else None
        return {
            "call": call,
            "number": leg.caller_number,
            "kind": leg.caller_kind,
            "company": company.name if company else None,
            "red_list": leg.tier is not None,
            "tier": leg.tier,
            "answered_at": leg.answered_at.isoformat() if leg.answered_at else None,
        }


async def _called_back(book: CallbackBook, attempt: str) -> dict[str, Any] | None:
    """The company a call-back attempt rings the seat for, before the company answers."""
    request = await book.request_of(attempt)
    booked = await book.peek(request) if request else None
    if booked is None:
        return None
    return {
        "call": attempt,
        "number": booked.number,
        "kind": booked.kind,
        "company": booked.name or None,
        "red_list": booked.tier is not None,
        "tier": booked.tier.value if booked.tier else None,
        "answered_at": None,
        "callback": True,
    }


def _today(records: sessionmaker[Session], site: Site, seat_id: str) -> list[dict[str, Any]]:
    """The seat's calls since local midnight, newest first."""
    local = clock.now().astimezone(site.timezone)
    midnight = datetime.combine(local.date(), time(), site.timezone)
    with records() as session:
        legs = session.execute(
            select(CallLeg)
            .where(CallLeg.seat_id == seat_id, CallLeg.entered_at >= midnight)
            .order_by(CallLeg.entered_at.desc())
            .limit(100)
        ).scalars()
        return [
            {
                "at": leg.entered_at.astimezone(site.timezone).strftime("%H:%M:%S"),
                "number": leg.caller_number,
                "talk": round(leg.talk_seconds or 0.0),
                "outcome": leg.outcome,
            }
            for leg in legs
        ]
