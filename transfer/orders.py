"""Work orders: what a department must answer, and by when, counted in its working time.

**Levels and deadlines**: :mod:`transfer.deadlines`.

**States.** ``open`` → ``accepted`` (the department took it) → ``replied`` (it answered the
company and reported back to the hotline: both texts are kept, the dual feedback) →
``closed`` (the hotline closes it). An open or accepted order past its deadline becomes
``overdue`` (it can still be accepted and replied to) and a reminder event is published once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.events import publish
from transfer.deadlines import Level, deadline
from transfer.models import Department, OrderReminder, WorkOrder
from transfer.plan import schedule_of

if TYPE_CHECKING:
    from return_visit.book import ReturnVisits


class State(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REPLIED = "replied"
    CLOSED = "closed"
    OVERDUE = "overdue"


_MOVES: dict[str, set[State]] = {
    "accept": {State.OPEN, State.OVERDUE},
    "reply": {State.OPEN, State.ACCEPTED, State.OVERDUE},
    "close": {State.REPLIED},
}
"""Which states each action may start from."""


class OrderError(ValueError):
    """An order action that cannot be taken; the message says why."""


def make_order(
    session: Session,
    timezone: ZoneInfo,
    department: str,
    level: Level,
    reason: str,
    at: datetime,
    *,
    matter: str | None = None,
    enterprise_id: int | None = None,
    caller_number: str | None = None,
    caller_channel: str | None = None,
    transfer_request_id: int | None = None,
    request: str | None = None,
) -> WorkOrder:
    """Add a new order to ``session``, numbered ``WO<local day>-<n>`` and due by its level in
    the department's working time."""
    owner = session.get(Department, department)
    if owner is None:
        raise OrderError(f"unknown department '{department}'")
    local_day = at.astimezone(timezone).strftime("%Y%m%d")
    made_today = session.execute(
        select(func.count()).where(WorkOrder.number.like(f"WO{local_day}-%"))
    ).scalar_one()
    order = WorkOrder(
        number=f"WO{local_day}-{made_today + 1:04d}",
        department_code=department,
        matter_code=matter,
        level=level.value,
        reason=reason,
        state=State.OPEN.value,
        enterprise_id=enterprise_id,
        caller_number=caller_number,
        caller_channel=caller_channel,
        transfer_request_id=transfer_request_id,
        request=request,
        created_at=at,
        deadline_at=deadline(level, at, schedule_of(owner, timezone)),
    )
    session.add(order)
    session.flush()
    return order


class WorkOrders:
    """Creates work orders and moves them through their states."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        timezone: ZoneInfo,
        redis: Redis | None = None,
        visits: ReturnVisits | None = None,
    ) -> None:
        self.sessions = sessions
        self.timezone = timezone
        self.redis = redis
        self.visits = visits
        """Plans each answered order's return visit, and shows it on the order."""

    def create(
        self,
        department: str,
        level: Level,
        reason: str,
        at: datetime,
        *,
        matter: str | None = None,
        enterprise_id: int | None = None,
        caller_number: str | None = None,
        caller_channel: str | None = None,
        transfer_request_id: int | None = None,
    ) -> dict[str, Any]:
        """Make an order for a department, due by its level in the department's time."""
        with self.sessions.begin() as session:
            order = make_order(
                session,
                self.timezone,
                department,
                level,
                reason,
                at,
                matter=matter,
                enterprise_id=enterprise_id,
                caller_number=caller_number,
                caller_channel=caller_channel,
                transfer_request_id=transfer_request_id,
            )
            return order.as_dict()

    def get(self, number: str) -> dict[str, Any] | None:
        """One order, with its timeline: made, accepted, replied, closed, every reminder
        sent about it (where it went, whether it arrived), and its return visit."""
        with self.sessions() as session:
            order = session.execute(
                select(WorkOrder).where(WorkOrder.number == number)
            ).scalar_one_or_none()
            if order is None:
                return None
            reminders = session.execute(
                select(OrderReminder)
                .where(OrderReminder.order_number == number)
                .order_by(OrderReminder.at, OrderReminder.id)
            ).scalars()
            steps: list[tuple[datetime, dict[str, Any]]] = [
                (at, {"what": what})
                for at, what in (
                    (order.created_at, "made"),
                    (order.accepted_at, "accepted"),
                    (order.replied_at, "replied"),
                    (order.closed_at, "closed"),
                )
                if at is not None
            ]
            steps += [
                (r.at, {"what": f"reminder: {r.stage}", "channel": r.channel, "to": r.target,
                        "delivered": r.delivered, "detail": r.detail})
                for r in reminders
            ]  # fmt: skip
            visit = self.visits.of_order(session, number) if self.visits else None
            if visit is not None:
                steps += _visit_steps(visit)
            steps.sort(key=lambda step: step[0])
            timeline = [{"at": at.astimezone(self.timezone).isoformat(), **s} for at, s in steps]
            return {**order.as_dict(), "timeline": timeline, "visit": visit}

    def search(
        self, department: str | None = None, state: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        with self.sessions() as session:
            query = select(WorkOrder).order_by(WorkOrder.created_at.desc()).limit(limit)
            if department:
                query = query.where(WorkOrder.department_code == department)
            if state:
                query = query.where(WorkOrder.state == state)
            return [order.as_dict() for order in session.execute(query).scalars()]

    def act(
        self,
        number: str,
        action: str,
        at: datetime,
        reply_to_company: str | None = None,
        report_to_hotline: str | None = None,
    ) -> dict[str, Any]:
        """``accept``, ``reply`` (both texts required: the dual feedback) or ``close``."""
        if action not in _MOVES:
            raise OrderError(f"unknown action '{action}' (accept, reply or close)")
        with self.sessions.begin() as session:
            order = session.execute(
                select(WorkOrder).where(WorkOrder.number == number)
            ).scalar_one_or_none()
            if order is None:
                raise OrderError(f"no work order {number}")
            if State(order.state) not in _MOVES[action]:
                done = {"accept": "accepted", "reply": "replied to", "close": "closed"}[action]
                raise OrderError(f"order {number} is {order.state}; it cannot be {done} now")
            if action == "accept":
                order.state, order.accepted_at = State.ACCEPTED.value, at
            elif action == "reply":
                if not (reply_to_company or "").strip() or not (report_to_hotline or "").strip():
                    raise OrderError(
                        "a reply needs both the answer given to the company and the report to "
                        "the hotline"
                    )
                order.state, order.replied_at = State.REPLIED.value, at
                order.reply_to_company, order.report_to_hotline = (
                    reply_to_company,
                    report_to_hotline,
                )
                if self.visits is not None:
                    self.visits.plan(session, order, at)
            else:
                order.state, order.closed_at = State.CLOSED.value, at
            return order.as_dict()

    async def mark_overdue(self, at: datetime | None = None) -> list[str]:
        """Mark open and accepted orders past their deadline overdue; publish a reminder for
        each (once). Returns the numbers marked."""
        now = at or clock.now()

        def write() -> list[dict[str, Any]]:
            with self.sessions.begin() as session:
                late = session.execute(
                    select(WorkOrder).where(
                        WorkOrder.state.in_([State.OPEN.value, State.ACCEPTED.value]),
                        WorkOrder.deadline_at < now,
                    )
                ).scalars()
                marked = []
                for order in late:
                    order.state, order.reminded_at = State.OVERDUE.value, now
                    marked.append(order.as_dict())
                return marked

        marked = await asyncio.to_thread(write)
        if self.redis is not None:
            for order in marked:
                await publish(
                    self.redis,
                    "order-overdue",
                    order=order["number"],
                    department=order["department_code"],
                    deadline=order["deadline_at"].isoformat(),
                )
        return [order["number"] for order in marked]


def _visit_steps(visit: dict[str, Any]) -> list[tuple[datetime, dict[str, Any]]]:
    """The return visit on the order's timeline: each call, then the answers."""
    steps: list[tuple[datetime, dict[str, Any]]] = [
        (call["ended_at"], {"what": f"return visit: call {call['attempt']} {call['outcome']}"})
        for call in visit["calls"]
    ]
    if visit["visited_at"] is not None:
        said = {key: visit[key] for key in ("responded", "resolved", "satisfaction")}
        steps.append((visit["visited_at"], {"what": "return visit: answered",
                                             "by": visit["visited_by"], **said}))  # fmt: skip
    elif visit["state"] == "given-up":
        steps.append((visit["due_by"], {"what": "return visit: given up"}))
    return steps
