"""Writes what a return visit's call found (``return_visit.records``) into SQL.

Applying a record twice changes nothing (the writer may try a batch again): a call ends
once (its channel is unique), and a visit follows only the call it is waiting for.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from return_visit.models import ReturnVisit, ReturnVisitCall
from return_visit.records import VisitCallEnded
from return_visit.rules import AttemptOutcome, VisitState


class ReturnVisitRecords:
    """Applies the return-visit records (see :class:`core.writer.Applier`)."""

    kinds: tuple[type, ...] = (VisitCallEnded,)

    def apply(self, session: Session, record: object) -> None:
        if not isinstance(record, VisitCallEnded):
            raise TypeError(f"not a return-visit record: {record!r}")
        known = session.execute(
            select(ReturnVisitCall.id).where(ReturnVisitCall.channel == record.channel)
        ).first()
        if known is not None:
            return
        session.add(
            ReturnVisitCall(
                visit_id=record.visit_id,
                attempt=record.attempt,
                channel=record.channel,
                started_at=record.started_at,
                ended_at=record.at,
                outcome=record.outcome,
                cause=record.cause,
            )
        )
        visit = session.get(ReturnVisit, record.visit_id)
        if visit is None or visit.channel != record.channel:
            return  # taken back and made again meanwhile, or done by hand: the call is kept
        visit.channel, visit.claimed_at = None, None
        if record.counted:
            visit.attempts = record.attempt
        if record.outcome == AttemptOutcome.ANSWERED:
            answers = dict(record.answers)
            visit.state, visit.visited_at, visit.visited_by = VisitState.DONE, record.at, "phone"
            visit.responded = _yes_no(answers.get("responded"))
            visit.resolved = _yes_no(answers.get("resolved"))
            visit.satisfaction = answers.get("satisfaction")
        elif record.next_due is not None:
            visit.state, visit.due_at = VisitState.PENDING, record.next_due
        else:
            visit.state = VisitState.GIVEN_UP


def _yes_no(answer: str | None) -> bool | None:
    return None if answer is None else answer == "yes"
