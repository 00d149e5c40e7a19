"""Admin API for the transfer: the plan (departments, matters), transfers of live calls, and
work orders (mounted by hotline.web).

A transfer asked for through the API is sent to the application process that owns the call
on the Redis channel ``hotline:commands``; its progress is read back from Redis (the state
machine saves every step) at ``GET /api/calls/{call}/transfer``.

(No ``from __future__ import annotations``: FastAPI must see the ``Actor`` dependency.)
"""

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from core import clock, keys
from core.events import COMMANDS
from transfer.deadlines import Level
from transfer.orders import OrderError, WorkOrders
from transfer.plan import PlanError, TransferPlan
from transfer.routes import PLAN_CHANGED
from transfer.state import status_from_json

Number = Annotated[str, Field(pattern=r"^\+?[0-9]{3,20}$")]


class DepartmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    numbers: list[Number] = Field(min_length=1)
    days: str = "working-days"
    periods: list[str] = Field(min_length=1)


class MatterIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    department: str = Field(min_length=1, max_length=40)
    numbers: list[Number] = Field(default_factory=list)
    script: str = Field(default="", max_length=2000)


class TransferIn(BaseModel):
    matter: str = Field(pattern=r"^[0-9]{1,6}$")
    via: str = Field(default="api", pattern=r"^(api|console)$")


class OrderIn(BaseModel):
    department: str = Field(min_length=1, max_length=40)
    level: Level = Level.THREE_DAYS
    matter: str | None = Field(default=None, pattern=r"^[0-9]{1,6}$")
    caller_number: str | None = Field(default=None, max_length=40)


class ReplyIn(BaseModel):
    reply_to_company: str = Field(min_length=1, max_length=4000)
    report_to_hotline: str = Field(min_length=1, max_length=4000)


async def request_transfer(
    redis: Redis, plan: TransferPlan, call: str, matter: str, via: str
) -> None:
    """Ask the application process that owns ``call`` to start a transfer for ``matter``;
    an HTTP error that says what is wrong if it cannot be asked."""
    if plan.route(matter) is None:
        raise HTTPException(404, f"no matter {matter}")
    if call.encode() not in await redis.hvals(keys.SEATS_BUSY):
        raise HTTPException(
            404, f"no call {call} is with a seat now; GET /api/journeys finds calls that ended"
        )
    command = {"call": call, "action": "transfer", "matter": matter, "via": via}
    if not await redis.publish(COMMANDS, json.dumps(command)):
        raise HTTPException(503, "no application process is running; start it (hotline app)")


async def transfer_status(redis: Redis, call: str) -> dict[str, object] | None:
    """The latest transfer of a call as its machine saved it (None: none)."""
    return status_from_json(await redis.get(keys.transfer_status(call)))


async def request_cancel(redis: Redis, call: str) -> None:
    """Ask the process that owns ``call`` to cancel its transfer if it still rings."""
    await redis.publish(COMMANDS, json.dumps({"call": call, "action": "cancel"}))


def router(plan: TransferPlan, orders: WorkOrders, redis: Redis, actor_of: Any) -> APIRouter:
    """The transfer's routes; ``actor_of`` authenticates the request."""
    api = APIRouter(prefix="/api", tags=["transfer"])
    Actor = Annotated[str, Depends(actor_of)]

    # --- the plan ------------------------------------------------------------------------

    @api.get("/departments")
    def departments(_: Actor) -> list[dict[str, object]]:
        return plan.departments()

    async def changed() -> None:
        """Tell the application processes to read the plan again."""
        await redis.publish(COMMANDS, json.dumps({"action": PLAN_CHANGED}))

    @api.put("/departments/{code}")
    async def put_department(code: str, body: DepartmentIn, _: Actor) -> dict[str, object]:
        try:
            department = await asyncio.to_thread(
                plan.put_department, code, body.name, body.numbers, body.days, body.periods
            )
        except PlanError as error:
            raise HTTPException(422, str(error)) from None
        await changed()
        return department

    @api.delete("/departments/{code}", status_code=204)
    async def delete_department(code: str, _: Actor) -> None:
        try:
            removed = await asyncio.to_thread(plan.remove_department, code)
        except PlanError as error:
            raise HTTPException(409, str(error)) from None
        if not removed:
            raise HTTPException(404, f"no department {code}")
        await changed()

    @api.get("/matters")
    def matters(_: Actor, search: str = "") -> list[dict[str, object]]:
        return plan.matters(search)

    @api.put("/matters/{code}")
    async def put_matter(code: str, body: MatterIn, _: Actor) -> dict[str, object]:
        if not code.isdigit() or len(code) > 6:
            raise HTTPException(422, "a matter code is 1 to 6 digits (seats key it)")
        try:
            matter = await asyncio.to_thread(
                plan.put_matter, code, body.name, body.department, body.numbers, body.script
            )
        except PlanError as error:
            raise HTTPException(422, str(error)) from None
        await changed()
        return matter

    @api.delete("/matters/{code}", status_code=204)
    async def delete_matter(code: str, _: Actor) -> None:
        if not await asyncio.to_thread(plan.remove_matter, code):
            raise HTTPException(404, f"no matter {code}")
        await changed()

    # --- transfers of live calls -----------------------------------------------------------

    @api.post("/calls/{call}/transfer", status_code=202)
    async def start_transfer(call: str, body: TransferIn, _: Actor) -> dict[str, object]:
        await request_transfer(redis, plan, call, body.matter, body.via)
        return {"call": call, "matter": body.matter, "status": f"/api/calls/{call}/transfer"}

    @api.delete("/calls/{call}/transfer", status_code=202)
    async def cancel_transfer(call: str, _: Actor) -> dict[str, object]:
        await request_cancel(redis, call)
        return {"call": call, "status": f"/api/calls/{call}/transfer"}

    @api.get("/calls/{call}/transfer")
    async def current_transfer(call: str, _: Actor) -> dict[str, object]:
        status = await transfer_status(redis, call)
        if status is None:
            raise HTTPException(404, f"no transfer for call {call}")
        return status

    # --- work orders ---------------------------------------------------------------------

    @api.get("/orders")
    def list_orders(
        _: Actor, department: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        return orders.search(department, state)

    @api.post("/orders", status_code=201)
    def create_order(body: OrderIn, _: Actor) -> dict[str, Any]:
        """A work order made by hand (a seat's or supervisor's), due by its level."""
        try:
            return orders.create(
                body.department,
                body.level,
                "manual",
                clock.now(),
                matter=body.matter,
                caller_number=body.caller_number,
            )
        except OrderError as error:
            raise HTTPException(422, str(error)) from None

    @api.get("/orders/{number}")
    def get_order(number: str, _: Actor) -> dict[str, Any]:
        order = orders.get(number)
        if order is None:
            raise HTTPException(404, f"no work order {number}")
        return order

    def act(number: str, action: str, body: ReplyIn | None = None) -> dict[str, Any]:
        try:
            return orders.act(
                number,
                action,
                clock.now(),
                body.reply_to_company if body else None,
                body.report_to_hotline if body else None,
            )
        except OrderError as error:
            status = 404 if str(error).startswith("no work order") else 409
            raise HTTPException(status, str(error)) from None

    @api.post("/orders/{number}/accept")
    def accept(number: str, _: Actor) -> dict[str, Any]:
        return act(number, "accept")

    @api.post("/orders/{number}/reply")
    def reply(number: str, body: ReplyIn, _: Actor) -> dict[str, Any]:
        return act(number, "reply", body)

    @api.post("/orders/{number}/close")
    def close(number: str, _: Actor) -> dict[str, Any]:
        return act(number, "close")

    return api
