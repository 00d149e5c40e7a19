"""The desk's routes beside the console's (``/api/console/{seat}/...``), for the seat's own
console token: the company pane, the calls to classify, and the classification.

(No ``from __future__ import annotations``: FastAPI must see the dependencies.)
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from callback.book import CallbackBook, is_attempt
from core import clock
from desk.rules import CallKind, Resolution
from desk.service import (
    AlreadyClassified,
    Classification,
    ClassificationRefused,
    Desk,
    NotTheSeatsCall,
)
from queues.seats import SeatPool

CODE = r"^[A-Za-z0-9_.-]{1,40}$"
NO_BROWSER_PHONES = "this site has no browser phones: set wss_port in [sip] (or [edge])"


class ClassificationIn(BaseModel):
    kind: CallKind
    resolution: Resolution
    matter: str | None = Field(default=None, pattern=r"^[0-9]{1,6}$")
    knowledge: list[Annotated[str, Field(pattern=CODE)]] = Field(default=[], max_length=20)
    note: str = Field(default="", max_length=2000)
    complex: bool = False
    with_departments: list[Annotated[str, Field(pattern=CODE)]] = Field(default=[], max_length=10)


class PhoneIn(BaseModel):
    in_browser: bool


def router(
    desk: Desk,
    seats: SeatPool,
    book: CallbackBook,
    seat_of: Any,
    browser_phone: Callable[[str], dict[str, Any] | None],
) -> APIRouter:
    """The desk's routes; ``seat_of`` authenticates a request for a seat; ``browser_phone``
    gives a seat's browser-phone account (None: the site has no WSS)."""
    api = APIRouter(tags=["console"])
    SeatId = Annotated[str, Depends(seat_of)]

    @api.get("/api/console/{seat_id}/phone")
    async def phone(seat_id: SeatId) -> dict[str, Any]:
        """The console's browser phone: where it registers, its account, and whether the
        seat is rung there now (else at its desk phone)."""
        account = browser_phone(seat_id)
        if account is None:
            raise HTTPException(404, NO_BROWSER_PHONES)
        return {**account, "in_browser": await seats.in_browser(seat_id)}

    @api.put("/api/console/{seat_id}/phone")
    async def use_phone(seat_id: SeatId, body: PhoneIn) -> dict[str, Any]:
        """Ring the seat at its browser phone from now on, or at its desk phone again."""
        if body.in_browser and browser_phone(seat_id) is None:
            raise HTTPException(404, NO_BROWSER_PHONES)
        await seats.use_browser(seat_id, body.in_browser)
        return {"in_browser": body.in_browser}

    async def caller(seat_id: str, call: str | None) -> tuple[int | None, str]:
        """The company and number of the seat's current call, or of a call it took."""
        current = await seats.busy_with(seat_id)
        call = call or current
        if not call:
            raise HTTPException(404, "the seat has no call; name one of its calls (?call=)")
        if call == current and is_attempt(call):  # a call-back ringing: the company it calls
            request = await book.request_of(call)
            booked = await book.peek(request) if request else None
            if booked is not None:
                return booked.enterprise_id, booked.number
        found = await asyncio.to_thread(desk.caller_of, call)
        if found is None or (call != current and found[2] != seat_id):
            raise HTTPException(404, f"seat {seat_id} has no call {call}")
        return found[0], found[1]

    @api.get("/api/console/{seat_id}/company")
    async def company(seat_id: SeatId, call: str | None = None) -> dict[str, Any]:
        """Who is calling (or called) and what the line has done for them."""
        enterprise_id, number = await caller(seat_id, call)
        return await asyncio.to_thread(desk.company, enterprise_id, number, seat_id, clock.now())

    @api.get("/api/console/{seat_id}/wrap-up")
    async def to_classify(seat_id: SeatId) -> dict[str, Any]:
        """The seat's calls still to classify; ``late`` once a wrap-up is over."""
        calls = await asyncio.to_thread(desk.to_classify, seat_id, clock.now())
        return {"calls": calls, "late": sum(call["phase"] == "late" for call in calls)}

    @api.post("/api/console/{seat_id}/calls/{call}/classification", status_code=201)
    async def classify(seat_id: SeatId, call: str, body: ClassificationIn) -> dict[str, Any]:
        """Classify a call the seat answered: its kind, matter and how it ended."""
        said = Classification(
            kind=body.kind,
            resolution=body.resolution,
            matter=body.matter,
            knowledge=tuple(dict.fromkeys(body.knowledge)),
            note=body.note,
            complex_case=body.complex,
            with_departments=tuple(body.with_departments),
        )
        try:
            return await asyncio.to_thread(desk.classify, seat_id, call, said, clock.now())
        except NotTheSeatsCall as error:
            raise HTTPException(404, str(error)) from None
        except AlreadyClassified as error:
            raise HTTPException(409, str(error)) from None
        except ClassificationRefused as error:
            raise HTTPException(422, str(error)) from None

    return api
