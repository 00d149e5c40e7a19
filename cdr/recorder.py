"""Writes what happens to calls into SQL the moment it happens."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallbackRequest, CallLeg, QueueVisit, SeatAttempt
from cdr.rollups import Rollups
from redlist.directory import CallerIdentity

_LEFT_WAITING = frozenset({"abandoned", "closed", "max-wait"})
"""Call outcomes that end a stay in a queue before any seat answered."""


class CallRecorder:
    """Records call legs. SQL runs in a worker thread so the event loop never blocks on it."""

    def __init__(self, session_factory: sessionmaker[Session], rollups: Rollups) -> None:
        self._sessions = session_factory
        self._rollups = rollups

    async def entered(
        self,
        caller_channel: str,
        linkedid: str | None,
        caller_number: str,
        called_number: str,
        at: datetime,
        caller: CallerIdentity,
        queue: str,
    ) -> None:
        """A caller reached the application, as the front door identified them."""

        def write() -> None:
            with self._sessions.begin() as session:
                if self._find(session, caller_channel) is not None:
                    return  # a call resumed after a restart keeps its first record
                session.add(
                    CallLeg(
                        caller_channel=caller_channel,
                        linkedid=linkedid,
                        caller_number=caller_number,
                        called_number=called_number,
                        entered_at=at,
                        caller_kind=caller.kind.value,
                        enterprise_id=caller.enterprise_id,
                        tier=caller.tier.value if caller.tier else None,
                        queue_prio=caller.queue_prio,
                        queue=queue,
                    )
                )
                session.add(
                    QueueVisit(
                        caller_channel=caller_channel,
                        queue=queue,
                        tier=caller.tier.value if caller.tier else None,
                        entered_at=at,
                    )
                )

        await asyncio.to_thread(write)

    async def seat_rung(
        self, caller_channel: str, queue: str, seat_id: str, seat_channel: str, at: datetime
    ) -> None:
        """A seat's phone is being rung for this caller."""

        def write() -> None:
            with self._sessions.begin() as session:
                session.add(
                    SeatAttempt(
                        caller_channel=caller_channel,
                        queue=queue,
                        seat_id=seat_id,
                        seat_channel=seat_channel,
                        rung_at=at,
                    )
                )

        await asyncio.to_thread(write)

    async def seat_attempt_ended(
        self, seat_channel: str, outcome: str, at: datetime, cause: int | None = None
    ) -> None:
        """The seat rung on ``seat_channel`` answered, or did not (``outcome``, ``cause``)."""

        def write() -> None:
            with self._sessions.begin() as session:
                attempt = session.execute(
                    select(SeatAttempt).where(SeatAttempt.seat_channel == seat_channel)
                ).scalar_one_or_none()
                if attempt is None or attempt.outcome is not None:
                    return
                attempt.outcome, attempt.cause = outcome, cause
                attempt.rang_seconds = (at - attempt.rung_at).total_seconds()
                self._rollups.seat_attempt_ended(
                    session, attempt.queue, attempt.seat_id, attempt.rung_at, outcome
                )

        await asyncio.to_thread(write)

    async def interrupt_attempts(self, caller_channel: str, at: datetime) -> int:
        """Close the seat attempts of a caller that were left open when the process ringing
        them died (``interrupted``); how many."""

        def write() -> int:
            with self._sessions.begin() as session:
                open_attempts = session.execute(
                    select(SeatAttempt).where(
                        SeatAttempt.caller_channel == caller_channel, SeatAttempt.outcome.is_(None)
                    )
                ).scalars()
                closed = 0
                for attempt in open_attempts:
                    attempt.outcome = "interrupted"
                    attempt.rang_seconds = (at - attempt.rung_at).total_seconds()
                    self._rollups.seat_attempt_ended(
                        session, attempt.queue, attempt.seat_id, attempt.rung_at, "interrupted"
                    )
                    closed += 1
                return closed

        return await asyncio.to_thread(write)

    async def answered(
        self, caller_channel: str, seat_id: str, seat_channel: str, at: datetime
    ) -> None:
        """A seat answered the call."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                self._leave_queue(session, caller_channel, "answered", at, seat_id)
                leg.seat_id, leg.seat_channel, leg.answered_at = seat_id, seat_channel, at
                leg.wait_seconds = self._waited(session, caller_channel)

        await asyncio.to_thread(write)

    async def ended(self, caller_channel: str, outcome: str, at: datetime) -> None:
        """The call is over; ``outcome`` says how."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                leg.ended_at, leg.outcome = at, outcome
                visit_outcome = outcome if outcome in _LEFT_WAITING else "failed"
                self._leave_queue(session, caller_channel, visit_outcome, at)
                if leg.answered_at is not None:
                    leg.talk_seconds = (at - leg.answered_at).total_seconds()
                    if leg.seat_id is not None and leg.queue is not None:
                        self._rollups.talked(
                            session, leg.queue, leg.seat_id, leg.answered_at, leg.talk_seconds
                        )
                else:
                    leg.wait_seconds = self._waited(session, caller_channel)

        await asyncio.to_thread(write)

    async def moved(self, caller_channel: str, to_queue: str, at: datetime) -> None:
        """The seat that answered moved the caller on to another queue: that stay is marked
        ``moved`` and a new one begins in ``to_queue``."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                answered = (
                    session.execute(
                        select(QueueVisit)
                        .where(QueueVisit.caller_channel == caller_channel)
                        .order_by(QueueVisit.id.desc())
                    )
                    .scalars()
                    .first()
                )
                if answered is not None and answered.outcome == "answered":
                    answered.outcome = "moved"
                    self._rollups.visit_moved(
                        session, answered.queue, answered.tier, answered.entered_at
                    )
                session.add(
                    QueueVisit(
                        caller_channel=caller_channel, queue=to_queue, tier=leg.tier, entered_at=at
                    )
                )
                leg.queue, leg.seat_id, leg.seat_channel = to_queue, None, None
                leg.answered_at = None

        await asyncio.to_thread(write)

    async def rated(self, caller_channel: str, rating: str) -> None:
        """The caller's answer to the satisfaction survey (``no-answer``: asked, no key)."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                if leg.satisfaction is not None:
                    return
                leg.satisfaction = rating
                if leg.seat_id is not None and leg.queue is not None and leg.answered_at:
                    self._rollups.rated(session, leg.queue, leg.seat_id, leg.answered_at, rating)

        await asyncio.to_thread(write)

    async def callback_requested(
        self, caller_channel: str, queue: str, reason: str, at: datetime
    ) -> None:
        """Note that this caller is to be called back."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                session.add(
                    CallbackRequest(
                        caller_channel=caller_channel,
                        caller_number=leg.caller_number,
                        queue=queue,
                        reason=reason,
                        requested_at=at,
                    )
                )

        await asyncio.to_thread(write)

    async def close_unobserved(self, live_channels: set[str], at: datetime) -> int:
        """Close the records of calls that ended while no application was watching."""

        def write() -> int:
            with self._sessions.begin() as session:
                open_legs = session.execute(
                    select(CallLeg).where(CallLeg.ended_at.is_(None))
                ).scalars()
                closed = 0
                for leg in open_legs:
                    if leg.caller_channel not in live_channels:
                        leg.ended_at, leg.outcome = at, "ended-unobserved"
                        closed += 1
                return closed

        return await asyncio.to_thread(write)

    @staticmethod
    def _open_visit(session: Session, caller_channel: str) -> QueueVisit | None:
        return (
            session.execute(
                select(QueueVisit).where(
                    QueueVisit.caller_channel == caller_channel, QueueVisit.left_at.is_(None)
                )
            )
            .scalars()
            .first()
        )

    def _leave_queue(
        self,
        session: Session,
        caller_channel: str,
        outcome: str,
        at: datetime,
        seat_id: str | None = None,
    ) -> None:
        visit = self._open_visit(session, caller_channel)
        if visit is not None:
            visit.left_at, visit.outcome, visit.seat_id = at, outcome, seat_id
            visit.wait_seconds = (at - visit.entered_at).total_seconds()
            self._rollups.visit_ended(
                session, visit.queue, visit.tier, visit.entered_at, outcome, visit.wait_seconds
            )

    @staticmethod
    def _waited(session: Session, caller_channel: str) -> float:
        """Seconds the caller spent waiting in queues, over all their stays."""
        visits = session.execute(
            select(QueueVisit).where(QueueVisit.caller_channel == caller_channel)
        ).scalars()
        return sum(visit.wait_seconds or 0.0 for visit in visits)

    @staticmethod
    def _find(session: Session, caller_channel: str) -> CallLeg | None:
        return session.execute(
            select(CallLeg).where(CallLeg.caller_channel == caller_channel)
        ).scalar_one_or_none()

    @staticmethod
    def _leg(session: Session, caller_channel: str) -> CallLeg:
        return session.execute(
            select(CallLeg).where(CallLeg.caller_channel == caller_channel)
        ).scalar_one()
