"""The return visits in SQL: planned when an order is answered, handed out to the
application processes when due (one claim each, atomic), and made by hand.

A claim is one conditional ``UPDATE`` (pending and due → calling), so two processes never
make the same call; a visit left ``calling`` by a process that died is taken back after
:data:`STALE_AFTER`. What a call found is written by ``return_visit.recorder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.site import Site
from redlist.models import EnterprisePhone
from redlist.numbers import normalise
from return_visit.models import ReturnVisit, ReturnVisitCall
from return_visit.rules import QUESTIONS, Question, Satisfaction, VisitRules, VisitState
from transfer.models import WorkOrder

STALE_AFTER = timedelta(minutes=15)
"""A call under way this long belongs to a process that died: the visit is due again."""
ANSWERED_ORDERS = frozenset({"replied", "closed"})


class VisitError(ValueError):
    """A visit that cannot be recorded now; the message says why."""


class AnswerError(VisitError):
    """Answers that are not answers to the visit's questions; the message says which."""


@dataclass(frozen=True)
class Claimed:
    """A visit's call handed to one process."""

    visit_id: int
    attempt: int
    number: str
    due_by: datetime


class ReturnVisits:
    """The return visits of one installation."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        rules: VisitRules,
        area_code: str | None,
        calls: bool = True,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.area_code = area_code
        self.calls = calls
        """Whether the hotline calls (the site's ``[visits].enabled``)."""

    @classmethod
    def for_site(cls, site: Site, sessions: sessionmaker[Session]) -> ReturnVisits:
        return cls(sessions, VisitRules.for_site(site), site.site.area_code, site.visits.enabled)

    # --- planned ---------------------------------------------------------------------------

    def plan(self, session: Session, order: WorkOrder, at: datetime) -> ReturnVisit:
        """The visit of an order answered at ``at`` (in the answer's own transaction): due
        after ``after`` of the visit hours, by the close of ``within_days`` working days."""
        known = session.execute(
            select(ReturnVisit).where(ReturnVisit.order_number == order.number)
        ).scalar_one_or_none()
        if known is not None:
            return known
        number = self._number_of(session, order)
        visit = ReturnVisit(
            order_number=order.number,
            department_code=order.department_code,
            matter_code=order.matter_code,
            enterprise_id=order.enterprise_id,
            number=number,
            state=VisitState.PENDING if number and self.calls else VisitState.BY_HAND,
            created_at=at,
            due_at=self.rules.first_call(at),
            due_by=self.rules.due_by(at),
            attempts=0,
        )
        session.add(visit)
        session.flush()
        return visit

    def _number_of(self, session: Session, order: WorkOrder) -> str | None:
        """The number the order came from, else the company's first registered one."""
        number = normalise(order.caller_number or "", self.area_code)
        if number is None and order.enterprise_id is not None:
            number = session.execute(
                select(EnterprisePhone.number)
                .where(EnterprisePhone.enterprise_id == order.enterprise_id)
                .order_by(EnterprisePhone.number)
                .limit(1)
            ).scalar_one_or_none()
        return number if number and number.isdigit() else None

    # --- handed out ------------------------------------------------------------------------

    def tidy(self, now: datetime) -> None:
        """Give up the visits past their last moment; take back the calls of processes
        that died."""
        with self.sessions.begin() as session:
            session.execute(
                update(ReturnVisit)
                .where(ReturnVisit.state == VisitState.CALLING)
                .where(ReturnVisit.claimed_at < now - STALE_AFTER)
                .values(state=VisitState.PENDING, due_at=now, channel=None, claimed_at=None)
            )
            session.execute(
                update(ReturnVisit)
                .where(ReturnVisit.state == VisitState.PENDING, ReturnVisit.due_by < now)
                .values(state=VisitState.GIVEN_UP)
            )

    def due(self, now: datetime, limit: int = 10) -> list[int]:
        """Visits whose call is due, the longest due first."""
        with self.sessions() as session:
            return list(
                session.execute(
                    select(ReturnVisit.id)
                    .where(ReturnVisit.state == VisitState.PENDING, ReturnVisit.due_at <= now)
                    .order_by(ReturnVisit.due_at)
                    .limit(limit)
                ).scalars()
            )

    def claim(self, visit_id: int, channel: str, now: datetime) -> Claimed | None:
        """Take the visit's call for ``channel``; None if another process has it."""
        with self.sessions.begin() as session:
            taken = session.execute(
                update(ReturnVisit)
                .where(ReturnVisit.id == visit_id, ReturnVisit.state == VisitState.PENDING)
                .where(ReturnVisit.due_at <= now)
                .values(state=VisitState.CALLING, channel=channel, claimed_at=now)
            )
            if getattr(taken, "rowcount", 0) != 1:
                return None
            visit = session.get_one(ReturnVisit, visit_id)
            assert visit.number is not None
            return Claimed(visit.id, visit.attempts + 1, visit.number, visit.due_by)

    # --- by hand ---------------------------------------------------------------------------

    def by_hand(
        self,
        order_number: str,
        answers: dict[str, Any],
        who: str,
        at: datetime,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Record a visit a seat or a supervisor made (``answers``: ``responded`` and
        ``resolved`` yes/no, ``satisfaction``; at least one)."""
        responded, resolved, satisfaction = _checked(answers)
        with self.sessions.begin() as session:
            order = session.execute(
                select(WorkOrder).where(WorkOrder.number == order_number)
            ).scalar_one_or_none()
            if order is None:
                raise LookupError(f"no work order {order_number}")
            if order.state not in ANSWERED_ORDERS:
                raise VisitError(
                    f"order {order_number} is {order.state}: a visit follows its answer"
                )
            visit = self.plan(session, order, order.replied_at or at)
            if visit.state == VisitState.CALLING:
                raise VisitError(f"the hotline is calling about {order_number} now; try later")
            if visit.state == VisitState.DONE:
                raise VisitError(f"order {order_number} was visited already ({visit.visited_by})")
            visit.state, visit.visited_at, visit.visited_by = VisitState.DONE, at, who
            visit.responded, visit.resolved, visit.satisfaction = responded, resolved, satisfaction
            visit.note = note
            return self._view(session, visit)

    # --- read ------------------------------------------------------------------------------

    def of_order(self, session: Session, order_number: str) -> dict[str, Any] | None:
        """The order's visit, with its calls (for the order's page)."""
        visit = session.execute(
            select(ReturnVisit).where(ReturnVisit.order_number == order_number)
        ).scalar_one_or_none()
        return self._view(session, visit) if visit is not None else None

    def _view(self, session: Session, visit: ReturnVisit) -> dict[str, Any]:
        calls = session.execute(
            select(ReturnVisitCall)
            .where(ReturnVisitCall.visit_id == visit.id)
            .order_by(ReturnVisitCall.started_at, ReturnVisitCall.id)
        ).scalars()
        return {
            **{key: value for key, value in visit.as_dict().items() if key != "claimed_at"},
            "calls": [
                {"attempt": c.attempt, "started_at": c.started_at, "ended_at": c.ended_at,
                 "outcome": c.outcome, "cause": c.cause}
                for c in calls
            ],
        }  # fmt: skip


def _checked(answers: dict[str, Any]) -> tuple[bool | None, bool | None, str | None]:
    """The answers of a visit by hand, checked: each known question, the right kind of value."""
    unknown = set(answers) - {question.value for question, _, _ in QUESTIONS}
    if unknown:
        raise AnswerError(f"unknown question(s): {', '.join(sorted(unknown))}")
    yes_no = []
    for question in (Question.RESPONDED, Question.RESOLVED):
        value = answers.get(question.value)
        if value is not None and not isinstance(value, bool):
            raise AnswerError(f"{question.value} is true or false")
        yes_no.append(value)
    satisfaction = answers.get(Question.SATISFACTION.value)
    if satisfaction is not None and satisfaction not in {s.value for s in Satisfaction}:
        choices = ", ".join(s.value for s in Satisfaction)
        raise AnswerError(f"satisfaction is one of {choices}")
    if all(value is None for value in (*yes_no, satisfaction)):
        raise AnswerError("a visit records at least one answer")
    return yes_no[0], yes_no[1], satisfaction
