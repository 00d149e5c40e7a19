"""Writes each transfer request and each attempt into SQL the moment it happens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.live import LiveRates
from cdr.rollups import Rollups
from transfer.models import TransferAttempt, TransferRequest
from transfer.plan import Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedRequest:
    """What the live connect rate counts of a request whose outcome was just decided."""

    department_code: str
    matter_code: str
    in_hours: bool
    outcome: str
    requested_at: datetime


class TransferRecorder:
    """SQL runs in a worker thread so the event loop never blocks on it."""

    def __init__(
        self, sessions: sessionmaker[Session], rollups: Rollups, live: LiveRates | None = None
    ) -> None:
        self.sessions = sessions
        self.rollups = rollups
        self.live = live

    async def _count_live(self, step: Awaitable[None]) -> None:
        """Bump the live counters; Redis being away costs the live figure, not the call."""
        try:
            await step
        except Exception:
            log.exception("could not count a transfer in the live connect rate")

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

        def write() -> tuple[str, bool] | None:
            with self.sessions.begin() as session:
                attempt = session.execute(
                    select(TransferAttempt).where(TransferAttempt.channel == channel)
                ).scalar_one_or_none()
                if attempt is None or attempt.outcome is not None:
                    return None
                attempt.outcome, attempt.cause, attempt.sip_code = outcome, cause, sip_code
                attempt.cancelled_by = cancelled_by
                attempt.rang_seconds = (at - attempt.started_at).total_seconds()
                request = session.get(TransferRequest, attempt.request_id)
                if request is None:
                    return None
                self.rollups.attempt_ended(session, attempt, request.department_code)
                return attempt.number, request.in_hours

        dialled = await asyncio.to_thread(write)
        if dialled is not None and self.live is not None:
            await self._count_live(self.live.dial_ended(*dialled, outcome))

    async def finished(
        self,
        request_id: int,
        outcome: str,
        at: datetime,
        answered_number: str | None = None,
        work_order_id: int | None = None,
    ) -> FinishedRequest | None:
        """The request's outcome: ``answered`` (when the specialist answered), or how it
        ended without one. What was decided (None if it had been already)."""

        def write() -> FinishedRequest | None:
            with self.sessions.begin() as session:
                request = session.get(TransferRequest, request_id)
                if request is None or request.outcome is not None:
                    return None
                request.outcome, request.work_order_id = outcome, work_order_id
                if outcome == "answered":
                    request.answered_number, request.answered_at = answered_number, at
                else:
                    request.ended_at = at
                self.rollups.transfer_finished(session, request)
                return FinishedRequest(
                    request.department_code,
                    request.matter_code,
                    request.in_hours,
                    outcome,
                    request.requested_at,
                )

        decided = await asyncio.to_thread(write)
        if decided is not None and self.live is not None:
            await self._count_live(
                self.live.request_decided(
                    decided.department_code, decided.matter_code, decided.in_hours, outcome
                )
            )
        return decided

    async def ended(self, request_id: int, at: datetime) -> None:
        """The specialist's part of the call is over."""

        def write() -> None:
            with self.sessions.begin() as session:
                request = session.get(TransferRequest, request_id)
                if request is not None and request.ended_at is None:
                    request.ended_at = at

        await asyncio.to_thread(write)
