"""The return visits API, mounted by hotline.web: the visits still to make, and a visit made
by hand (a seat or a supervisor asked the company and records what it said).

(No ``from __future__ import annotations``: FastAPI must see the dependencies.)
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from core import clock
from return_visit.book import AnswerError, ReturnVisits, VisitError
from return_visit.models import ReturnVisit
from return_visit.rules import VisitState

OPEN = (VisitState.PENDING, VisitState.CALLING, VisitState.BY_HAND)


class VisitIn(BaseModel):
    """What the company said (at least one answer)."""

    responded: bool | None = None
    resolved: bool | None = None
    satisfaction: str | None = Field(default=None, max_length=24)
    """``satisfied``, ``basically-satisfied`` or ``dissatisfied``."""
    note: str | None = Field(default=None, max_length=2000)


def router(visits: ReturnVisits, person_of: Any) -> APIRouter:
    """Visit routes, for anyone ``person_of`` admits (a seat's console token, the
    supervisor's or the admin's), named by it."""
    api = APIRouter(tags=["return visits"])
    Person = Annotated[str, Depends(person_of)]

    @api.get("/api/visits")
    def still_to_make(_: Person, state: str | None = None) -> list[dict[str, Any]]:
        """Visits not made yet (or in ``state``), the oldest first: ``by-hand`` ones wait for
        a person."""
        states = [state] if state else [s.value for s in OPEN]
        with visits.sessions() as session:
            rows = session.execute(
                select(ReturnVisit)
                .where(ReturnVisit.state.in_(states))
                .order_by(ReturnVisit.created_at)
                .limit(500)
            ).scalars()
            return [row.as_dict() for row in rows]

    @api.post("/api/orders/{number}/visit")
    async def by_hand(number: str, body: VisitIn, person: Person) -> dict[str, Any]:
        """Record a return visit made by hand: the order's answers, and who asked."""
        answers = body.model_dump(exclude={"note"}, exclude_none=True)
        try:
            return await asyncio.to_thread(
                visits.by_hand, number, answers, person, clock.now(), body.note
            )
        except LookupError as error:
            raise HTTPException(404, str(error)) from None
        except AnswerError as error:
            raise HTTPException(422, str(error)) from None
        except VisitError as error:
            raise HTTPException(409, str(error)) from None

    return api
