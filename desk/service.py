"""The seat's desk in SQL: the calls a seat has to classify, the classification itself (with
the work order it makes, in the same transaction), and the company pane's read.

A seat classifies only calls it answered, once. "Transferred" needs a transfer on the call;
"order" links the order a failed transfer already made, or makes one for the matter's
department at the level :func:`desk.rules.order_level` gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallLeg
from desk.history import company_history
from desk.models import CallClassification
from desk.rules import CallKind, Resolution, order_level, wrap_up, wrap_up_seconds
from knowledge.models import KnowledgeEntry
from transfer.models import Department, Matter, TransferRequest, WorkOrder
from transfer.orders import make_order

TO_CLASSIFY_WITHIN = timedelta(hours=24)
"""Older unclassified calls are no longer put to the seat (the report still counts them)."""


class NotTheSeatsCall(LookupError):
    """The seat did not answer this call."""


class AlreadyClassified(ValueError):
    """The call has its classification."""


class ClassificationRefused(ValueError):
    """The classification contradicts the call or the plan; the message says what to fix."""


@dataclass(frozen=True)
class Classification:
    """What the seat says about a call."""

    kind: CallKind
    resolution: Resolution
    matter: str | None = None
    knowledge: tuple[str, ...] = ()
    note: str = ""
    complex_case: bool = False
    """For an order: the case needs study (a longer level)."""
    with_departments: tuple[str, ...] = field(default=())
    """For an order: other departments that must act too (a longer level)."""


class Desk:
    """Classifications and the company pane, for the seats' console."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        timezone: ZoneInfo,
        wrap_up_of: Callable[[str | None], float],
    ) -> None:
        self.sessions = sessions
        self.timezone = timezone
        self.wrap_up_of = wrap_up_of
        """The wrap-up seconds of a queue (by name; None: a call that had none)."""

    def to_classify(self, seat_id: str, now: datetime) -> list[dict[str, Any]]:
        """The seat's answered calls of the last day it has not classified, newest first,
        each with its wrap-up phase (``talking``, ``wrap-up`` or ``late``)."""
        with self.sessions() as session:
            legs = session.execute(
                select(CallLeg)
                .outerjoin(
                    CallClassification,
                    CallClassification.caller_channel == CallLeg.caller_channel,
                )
                .where(
                    CallLeg.seat_id == seat_id,
                    CallLeg.answered_at.is_not(None),
                    CallLeg.entered_at >= now - TO_CLASSIFY_WITHIN,
                    CallClassification.id.is_(None),
                )
                .order_by(CallLeg.entered_at.desc())
                .limit(20)
            ).scalars()
            calls = []
            for leg in legs:
                state = wrap_up(leg.ended_at, self.wrap_up_of(leg.queue), now, classified=False)
                calls.append({
                    "call": leg.caller_channel,
                    "number": leg.caller_number,
                    "at": leg.entered_at.astimezone(self.timezone).strftime("%H:%M:%S"),
                    "phase": state.phase.value,
                    "seconds_left": round(state.seconds_left),
                    "transfer": _transfer_of(session, leg.caller_channel),
                })  # fmt: skip
            return calls

    def classify(
        self, seat_id: str, call: str, said: Classification, now: datetime
    ) -> dict[str, Any]:
        """Record the seat's classification of ``call`` (and make its order)."""
        with self.sessions.begin() as session:
            leg = session.execute(
                select(CallLeg).where(CallLeg.caller_channel == call)
            ).scalar_one_or_none()
            if leg is None or leg.seat_id != seat_id or leg.answered_at is None:
                raise NotTheSeatsCall(f"seat {seat_id} did not answer call {call}")
            earlier = session.execute(
                select(CallClassification).where(CallClassification.caller_channel == call)
            ).scalar_one_or_none()
            if earlier is not None:
                at = earlier.classified_at.astimezone(self.timezone).strftime("%H:%M:%S")
                raise AlreadyClassified(f"call {call} was classified at {at}")
            matter = _matter(session, said)
            _check_knowledge(session, said.knowledge)
            order = _order_for(session, self.timezone, leg, said, matter, now)
            taken = wrap_up_seconds(leg.ended_at, now)
            row = CallClassification(
                caller_channel=call,
                seat_id=seat_id,
                kind=said.kind.value,
                matter_code=matter.code if matter else None,
                resolution=said.resolution.value,
                knowledge=list(said.knowledge),
                order_number=order.number if order else None,
                note=said.note,
                classified_at=now,
                wrap_up_seconds=taken,
                late=leg.ended_at is not None and taken > self.wrap_up_of(leg.queue),
            )
            session.add(row)
            session.flush()
            return {
                "call": call,
                "kind": row.kind,
                "matter": row.matter_code,
                "resolution": row.resolution,
                "knowledge": row.knowledge,
                "order": order.as_dict() if order else None,
                "wrap_up_seconds": round(taken, 1),
                "late": row.late,
            }

    def company(
        self, enterprise_id: int | None, number: str, seat_id: str, now: datetime
    ) -> dict[str, Any]:
        """The company pane (:func:`desk.history.company_history`)."""
        with self.sessions() as session:
            return company_history(session, enterprise_id, number, seat_id, self.timezone, now)

    def caller_of(self, call: str) -> tuple[int | None, str, str | None] | None:
        """The company, number and seat of a call the line recorded; None if it did not."""
        with self.sessions() as session:
            leg = session.execute(
                select(CallLeg).where(CallLeg.caller_channel == call)
            ).scalar_one_or_none()
            return (leg.enterprise_id, leg.caller_number, leg.seat_id) if leg else None


def _transfer_of(session: Session, call: str) -> dict[str, Any] | None:
    """The latest transfer of a call: what the wrap-up form starts from."""
    request = session.execute(
        select(TransferRequest)
        .where(TransferRequest.caller_channel == call)
        .order_by(TransferRequest.requested_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if request is None:
        return None
    order = session.get(WorkOrder, request.work_order_id) if request.work_order_id else None
    return {
        "matter": request.matter_code,
        "outcome": request.outcome,
        "order": order.number if order else None,
    }


def _matter(session: Session, said: Classification) -> Matter | None:
    if said.matter is None:
        if said.resolution is not Resolution.DIRECT or said.kind is not CallKind.OTHER:
            raise ClassificationRefused("choose the call's matter (only 'other' may have none)")
        return None
    matter = session.get(Matter, said.matter)
    if matter is None:
        raise ClassificationRefused(f"there is no matter {said.matter}")
    return matter


def _check_knowledge(session: Session, codes: tuple[str, ...]) -> None:
    if not codes:
        return
    known = set(
        session.execute(select(KnowledgeEntry.code).where(KnowledgeEntry.code.in_(codes))).scalars()
    )
    missing = [code for code in codes if code not in known]
    if missing:
        raise ClassificationRefused(f"no knowledge entry {', '.join(missing)}")


def _order_for(
    session: Session,
    timezone: ZoneInfo,
    leg: CallLeg,
    said: Classification,
    matter: Matter | None,
    now: datetime,
) -> WorkOrder | None:
    """The call's order: the one its failed transfer made, or a new one from the desk."""
    transfers = session.execute(
        select(TransferRequest).where(TransferRequest.caller_channel == leg.caller_channel)
    ).scalars().all()  # fmt: skip
    if said.resolution is Resolution.TRANSFERRED:
        if not transfers:
            raise ClassificationRefused(
                "no transfer was made on this call: it was answered directly or needs an order"
            )
        return None
    if said.resolution is not Resolution.ORDER:
        return None
    made = [t.work_order_id for t in transfers if t.work_order_id is not None]
    if made:
        return session.get(WorkOrder, made[-1])
    assert matter is not None  # an order always has its matter (see _matter)
    if not said.note.strip():
        raise ClassificationRefused("an order needs the company's request, in the note")
    others = [code for code in said.with_departments if code != matter.department_code]
    unknown = [code for code in others if session.get(Department, code) is None]
    if unknown:
        raise ClassificationRefused(f"there is no department {', '.join(unknown)}")
    request = said.note.strip()
    if others:
        request += f"\n(with {', '.join(others)})"
    return make_order(
        session,
        timezone,
        matter.department_code,
        order_level(said.kind, said.complex_case, bool(others)),
        "desk",
        now,
        matter=matter.code,
        enterprise_id=leg.enterprise_id,
        caller_number=leg.caller_number,
        caller_channel=leg.caller_channel,
        request=request,
    )
