"""Writes the call records (``cdr.records``) into SQL, bumping the rollups in the same
transaction (``cdr.rollups``).

Applying a record twice changes nothing: every step checks what is already there (a call
entered once, a seat attempt ended once, a call ended once), so the writer may always try a
batch again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdr.models import CallLeg, QueueVisit, SeatAttempt
from cdr.records import (
    AttemptsInterrupted,
    CallAnswered,
    CallEnded,
    CallEntered,
    CallMoved,
    CallRated,
    SeatAttemptEnded,
    SeatRung,
    UnobservedCallsClosed,
)
from cdr.rollups import Rollups
from core.outcomes import CallOutcome, SeatOutcome, VisitOutcome

log = logging.getLogger(__name__)

_LEFT_WAITING = {
    CallOutcome.ABANDONED: VisitOutcome.ABANDONED,
    CallOutcome.CLOSED: VisitOutcome.CLOSED,
    CallOutcome.MAX_WAIT: VisitOutcome.MAX_WAIT,
    CallOutcome.CALLBACK: VisitOutcome.CALLBACK,
}
"""Call outcomes that end a stay in a queue before any seat answered."""


class CallRecords:
    """Applies the call records (see :class:`core.writer.Applier`)."""

    kinds: tuple[type, ...] = (
        CallEntered,
        SeatRung,
        SeatAttemptEnded,
        AttemptsInterrupted,
        CallAnswered,
        CallEnded,
        CallMoved,
        CallRated,
        UnobservedCallsClosed,
    )

    def __init__(self, rollups: Rollups) -> None:
        self.rollups = rollups

    def apply(self, session: Session, record: object) -> None:
        match record:
            case CallEntered():
                self._entered(session, record)
            case SeatRung():
                self._seat_rung(session, record)
            case SeatAttemptEnded():
                self._seat_attempt_ended(session, record)
            case AttemptsInterrupted():
                self._interrupted(session, record)
            case CallAnswered():
                self._answered(session, record)
            case CallEnded():
                self._ended(session, record)
            case CallMoved():
                self._moved(session, record)
            case CallRated():
                self._rated(session, record)
            case UnobservedCallsClosed():
                self._close_unobserved(session, record)
            case _:
                raise TypeError(f"not a call record: {record!r}")

    def _entered(self, session: Session, record: CallEntered) -> None:
        if _find(session, record.caller_channel) is not None:
            return  # a call resumed after a restart keeps its first record
        session.add(
            CallLeg(
                caller_channel=record.caller_channel,
                linkedid=record.linkedid,
                caller_number=record.caller_number,
                called_number=record.called_number,
                entered_at=record.at,
                caller_kind=record.caller_kind,
                enterprise_id=record.enterprise_id,
                tier=record.tier,
                queue_prio=record.queue_prio,
                queue=record.queue,
                node=record.node,
            )
        )
        session.add(
            QueueVisit(
                caller_channel=record.caller_channel,
                queue=record.queue,
                tier=record.tier,
                entered_at=record.at,
            )
        )
        session.flush()

    def _seat_rung(self, session: Session, record: SeatRung) -> None:
        if _attempt(session, record.seat_channel) is not None:
            return
        session.add(
            SeatAttempt(
                caller_channel=record.caller_channel,
                queue=record.queue,
                seat_id=record.seat_id,
                seat_channel=record.seat_channel,
                rung_at=record.at,
            )
        )
        session.flush()

    def _seat_attempt_ended(self, session: Session, record: SeatAttemptEnded) -> None:
        attempt = _attempt(session, record.seat_channel)
        if attempt is None or attempt.outcome is not None:
            return
        attempt.outcome, attempt.cause = record.outcome.value, record.cause
        attempt.rang_seconds = (record.at - attempt.rung_at).total_seconds()
        self.rollups.seat_attempt_ended(
            session, attempt.queue, attempt.seat_id, attempt.rung_at, record.outcome
        )

    def _interrupted(self, session: Session, record: AttemptsInterrupted) -> None:
        open_attempts = session.execute(
            select(SeatAttempt).where(
                SeatAttempt.caller_channel == record.caller_channel,
                SeatAttempt.outcome.is_(None),
            )
        ).scalars()
        for attempt in open_attempts:
            attempt.outcome = SeatOutcome.INTERRUPTED.value
            attempt.rang_seconds = (record.at - attempt.rung_at).total_seconds()
            self.rollups.seat_attempt_ended(
                session, attempt.queue, attempt.seat_id, attempt.rung_at, SeatOutcome.INTERRUPTED
            )

    def _answered(self, session: Session, record: CallAnswered) -> None:
        leg = _find(session, record.caller_channel)
        if leg is None:
            return
        self._leave_queue(
            session, record.caller_channel, VisitOutcome.ANSWERED, record.at, record.seat_id
        )
        leg.seat_id, leg.seat_channel, leg.answered_at = (
            record.seat_id,
            record.seat_channel,
            record.at,
        )
        leg.wait_seconds = _waited(session, record.caller_channel)

    def _ended(self, session: Session, record: CallEnded) -> None:
        leg = _find(session, record.caller_channel)
        if leg is None or leg.ended_at is not None:
            return
        leg.ended_at, leg.outcome = record.at, record.outcome.value
        visit_outcome = _LEFT_WAITING.get(record.outcome, VisitOutcome.FAILED)
        self._leave_queue(session, record.caller_channel, visit_outcome, record.at)
        if leg.answered_at is not None:
            leg.talk_seconds = (record.at - leg.answered_at).total_seconds()
            if leg.seat_id is not None and leg.queue is not None:
                self.rollups.talked(
                    session, leg.queue, leg.seat_id, leg.answered_at, leg.talk_seconds
                )
        else:
            leg.wait_seconds = _waited(session, record.caller_channel)

    def _moved(self, session: Session, record: CallMoved) -> None:
        leg = _find(session, record.caller_channel)
        if leg is None:
            return
        latest = (
            session.execute(
                select(QueueVisit)
                .where(QueueVisit.caller_channel == record.caller_channel)
                .order_by(QueueVisit.id.desc())
            )
            .scalars()
            .first()
        )
        if (
            latest is not None
            and latest.queue == record.to_queue
            and latest.entered_at == record.at
        ):
            return  # applied already
        if latest is not None and latest.outcome == VisitOutcome.ANSWERED:
            latest.outcome = VisitOutcome.MOVED.value
            self.rollups.visit_moved(session, latest.queue, latest.tier, latest.entered_at)
        session.add(
            QueueVisit(
                caller_channel=record.caller_channel,
                queue=record.to_queue,
                tier=leg.tier,
                entered_at=record.at,
            )
        )
        leg.queue, leg.seat_id, leg.seat_channel = record.to_queue, None, None
        leg.answered_at = None
        session.flush()

    def _rated(self, session: Session, record: CallRated) -> None:
        leg = _find(session, record.caller_channel)
        if leg is None or leg.satisfaction is not None:
            return
        leg.satisfaction = record.rating.value
        if leg.seat_id is not None and leg.queue is not None and leg.answered_at:
            self.rollups.rated(session, leg.queue, leg.seat_id, leg.answered_at, record.rating)

    def _close_unobserved(self, session: Session, record: UnobservedCallsClosed) -> None:
        # only calls that had entered when the channels were looked at: one that entered after
        # is not in that look and is not over
        looked_at = select(CallLeg).where(
            CallLeg.ended_at.is_(None), CallLeg.entered_at <= record.at
        )
        if record.node is not None:
            looked_at = looked_at.where(CallLeg.node == record.node)
        open_legs = session.execute(looked_at).scalars()
        closed = 0
        for leg in open_legs:
            if leg.caller_channel not in record.live_channels:
                leg.ended_at, leg.outcome = record.at, CallOutcome.ENDED_UNOBSERVED.value
                closed += 1
        if closed:
            log.info("%d call record(s) closed: those calls ended while no process watched", closed)

    def _leave_queue(
        self,
        session: Session,
        caller_channel: str,
        outcome: VisitOutcome,
        at: datetime,
        seat_id: str | None = None,
    ) -> None:
        visit = (
            session.execute(
                select(QueueVisit).where(
                    QueueVisit.caller_channel == caller_channel, QueueVisit.left_at.is_(None)
                )
            )
            .scalars()
            .first()
        )
        if visit is not None:  # the app ends it (if Asterisk's queue held it, the app took it back)
            visit.left_at, visit.outcome, visit.seat_id = at, outcome.value, seat_id
            visit.served_by = None
            visit.wait_seconds = (at - visit.entered_at).total_seconds()
            self.rollups.visit_ended(
                session, visit.queue, visit.tier, visit.entered_at, outcome, visit.wait_seconds
            )


def _waited(session: Session, caller_channel: str) -> float:
    """Seconds the caller spent waiting in queues, over all their stays."""
    visits = session.execute(
        select(QueueVisit).where(QueueVisit.caller_channel == caller_channel)
    ).scalars()
    return sum(visit.wait_seconds or 0.0 for visit in visits)


def _find(session: Session, caller_channel: str) -> CallLeg | None:
    return session.execute(
        select(CallLeg).where(CallLeg.caller_channel == caller_channel)
    ).scalar_one_or_none()


def _attempt(session: Session, seat_channel: str) -> SeatAttempt | None:
    return session.execute(
        select(SeatAttempt).where(SeatAttempt.seat_channel == seat_channel)
    ).scalar_one_or_none()
