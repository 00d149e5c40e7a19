"""Writes what happens to calls into SQL the moment it happens."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallbackRequest, CallLeg
from redlist.directory import CallerIdentity


class CallRecorder:
    """Records call legs. SQL runs in a worker thread so the event loop never blocks on it."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

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

        await asyncio.to_thread(write)

    async def answered(
        self, caller_channel: str, seat_id: str, seat_channel: str, at: datetime
    ) -> None:
        """A seat answered the call."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                leg.seat_id, leg.seat_channel, leg.answered_at = seat_id, seat_channel, at
                leg.wait_seconds = (at - leg.entered_at).total_seconds()

        await asyncio.to_thread(write)

    async def ended(self, caller_channel: str, outcome: str, at: datetime) -> None:
        """The call is over; ``outcome`` says how."""

        def write() -> None:
            with self._sessions.begin() as session:
                leg = self._leg(session, caller_channel)
                leg.ended_at, leg.outcome = at, outcome
                if leg.answered_at is not None:
                    leg.talk_seconds = (at - leg.answered_at).total_seconds()
                else:
                    leg.wait_seconds = (at - leg.entered_at).total_seconds()

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
    def _find(session: Session, caller_channel: str) -> CallLeg | None:
        return session.execute(
            select(CallLeg).where(CallLeg.caller_channel == caller_channel)
        ).scalar_one_or_none()

    @staticmethod
    def _leg(session: Session, caller_channel: str) -> CallLeg:
        return session.execute(
            select(CallLeg).where(CallLeg.caller_channel == caller_channel)
        ).scalar_one()
