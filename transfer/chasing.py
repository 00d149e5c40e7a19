"""Work orders chased: when an unanswered order's department is reminded, and when its
supervisors are told — one table, read in one screen (:data:`STAGES`).

An order nobody has replied to yet is chased in three stages: its department is reminded
once ``remind_at`` of its time has gone (near the deadline) and again when the deadline has
passed (overdue); ``escalate_after`` hours later the supervisors are told. A stage that came
while nobody looked is sent when it is seen, except the reminder near the deadline once the
deadline itself has passed (the overdue reminder says it all). Where each goes and whether
it arrived is ``transfer.reminders``'s business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Stage(StrEnum):
    NEAR = "near-deadline"
    OVERDUE = "overdue"
    ESCALATED = "escalated"


class Audience(StrEnum):
    DEPARTMENT = "department"
    SUPERVISORS = "supervisors"


@dataclass(frozen=True)
class OrderView:
    """An order as the chase reads it."""

    number: str
    department: str
    state: str
    created: datetime
    deadline: datetime


@dataclass(frozen=True)
class ChaseRules:
    """The site's ``[orders]`` as the chase reads them."""

    remind_at: float = 0.8
    escalate_after: timedelta = timedelta(hours=4)


Moment = Callable[[OrderView, ChaseRules], datetime]


def _near(order: OrderView, rules: ChaseRules) -> datetime:
    return order.created + (order.deadline - order.created) * rules.remind_at


STAGES: tuple[tuple[Stage, Audience, Moment], ...] = (
    # stage            who is told            from when
    (Stage.NEAR,       Audience.DEPARTMENT,   _near),
    (Stage.OVERDUE,    Audience.DEPARTMENT,   lambda order, _: order.deadline),
    (Stage.ESCALATED,  Audience.SUPERVISORS,  lambda order, r: order.deadline + r.escalate_after),
)  # fmt: skip
ANSWERED = frozenset({"replied", "closed"})
"""An order in these states is chased no more."""


def due(
    order: OrderView, done: set[Stage], now: datetime, rules: ChaseRules
) -> list[tuple[Stage, Audience]]:
    """The stages of ``order`` to send now (``done``: those sent already)."""
    if order.state in ANSWERED:
        return []
    stages = []
    for stage, audience, moment in STAGES:
        if stage in done or now < moment(order, rules):
            continue
        if stage is Stage.NEAR and now >= order.deadline:
            continue  # the overdue reminder says it all
        stages.append((stage, audience))
    return stages
