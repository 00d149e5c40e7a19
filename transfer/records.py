"""Writes each transfer request and each attempt into SQL the moment it happens."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from transfer.models import TransferAttempt, TransferRequest
from transfer.plan import Route


class TransferRecorder:
    """SQL runs in a worker thread so the event loop never blocks on it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    async def requested(
        self,
        caller_channel: str,
        linkedid: str | None,
        seat_id: str | None,
        route: Route,
        in_hours: bool,
        via: str,
        at: datetime,
    ) -> int:
        """A transfer was asked for; its id."""

        def write() -> int:
            with self.sessions.begin() as session:
                request = TransferRequest(
                    caller_channel=caller_channel,
                    linkedid=linkedid,
                    seat_id=seat_id,
                    matter_code=route.matter,
                    department_code=route.department,
                    requested_at=at,
                    in_hours=in_hours,
                    via=via,
                )
                session.add(request)
                session.flush()
                return request.id

        return await asyncio.to_thread(write)

    async def attempt_started(
        self, request_id: int, position: int, number: str, channel: str, at: datetime
    ) -> None:
        def write() -> None:
            with self.sessions.begin() as session:
                session.add(
                    TransferAttempt(
                        request_id=request_id,
                        position=position,
                        number=number,
                        channel=channel,
                        started_at=at,
                    )
                )

        await asyncio.to_thread(write)

    async def attempt_ended(
        self,
        channel: str,
        outcome: str,
        at: datetime,
        cause: int | None = None,
        sip_code: int | None = None,
        cancelled_by: str | None = None,
    ) -> None:
        """How the dial on ``channel`` ended (once; later calls change nothing)."""

        def write() -> None:
            with self.sessions.begin() as session:
                attempt = session.execute(
                    select(TransferAttempt).where(TransferAttempt.channel == channel)
                ).scalar_one_or_none()
                if attempt is None or attempt.outcome is not None:
                    return
                attempt.outcome, attempt.cause, attempt.sip_code = outcome, cause, sip_code
                attempt.cancelled_by = cancelled_by
                attempt.rang_seconds = (at - attempt.started_at).total_seconds()

        await asyncio.to_thread(write)

    async def finished(
        self,
        request_id: int,
        outcome: str,
        at: datetime,
        answered_number: str | None = None,
        work_order_id: int | None = None,
    ) -> None:
        """The request's outcome: ``answered`` (when the specialist answered), or how it
        ended without one."""

        def write() -> None:
            with self.sessions.begin() as session:
                request = session.get(TransferRequest, request_id)
                if request is None or request.outcome is not None:
                    return
                request.outcome, request.work_order_id = outcome, work_order_id
                if outcome == "answered":
                    request.answered_number, request.answered_at = answered_number, at
                else:
                    request.ended_at = at

        await asyncio.to_thread(write)

    async def ended(self, request_id: int, at: datetime) -> None:
        """The specialist's part of the call is over."""

        def write() -> None:
            with self.sessions.begin() as session:
                request = session.get(TransferRequest, request_id)
                if request is not None and request.ended_at is None:
                    request.ended_at = at

        await asyncio.to_thread(write)
