"""Admin API for seats: their state, pause and resume, log in and out (mounted by hotline.web).

(No ``from __future__ import annotations``: FastAPI must see the ``Actor`` dependency.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from core.site import Site
from queues.seats import LOGGED_OUT, SeatPool


class PauseIn(BaseModel):
    reason: str = Field(default="paused", min_length=1, max_length=40)


def router(site: Site, seats: SeatPool, actor_of: Any) -> APIRouter:
    """Seat routes for one site; ``actor_of`` authenticates the request."""
    api = APIRouter(prefix="/api/seats", tags=["seats"])
    Actor = Annotated[str, Depends(actor_of)]
    known = {seat.id: seat for seat in site.seats}

    def seat_or_404(seat_id: str) -> str:
        if seat_id not in known:
            raise HTTPException(404, f"no seat {seat_id} in the site file")
        return seat_id

    @api.get("")
    async def list_seats(_: Actor) -> list[dict[str, Any]]:
        states = await seats.states(known)
        return [
            {"id": seat.id, "name": seat.name, "queues": seat.queues, **states[seat.id]}
            for seat in site.seats
        ]

    @api.post("/{seat_id}/pause")
    async def pause(seat_id: str, body: PauseIn, _: Actor) -> dict[str, Any]:
        await seats.pause(seat_or_404(seat_id), body.reason)
        return (await seats.states([seat_id]))[seat_id]

    @api.post("/{seat_id}/resume")
    async def resume(seat_id: str, _: Actor) -> dict[str, Any]:
        await seats.resume(seat_or_404(seat_id))
        return (await seats.states([seat_id]))[seat_id]

    @api.post("/{seat_id}/logout")
    async def logout(seat_id: str, _: Actor) -> dict[str, Any]:
        await seats.pause(seat_or_404(seat_id), LOGGED_OUT)
        return (await seats.states([seat_id]))[seat_id]

    @api.post("/{seat_id}/login")
    async def login(seat_id: str, _: Actor) -> dict[str, Any]:
        await seats.resume(seat_or_404(seat_id))
        return (await seats.states([seat_id]))[seat_id]

    return api
