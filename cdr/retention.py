"""Deleting call details past their retention; the hourly and daily rollups are kept, so
the reports over old periods stay whole (their drill-down lists end where details do)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import AsteriskCdr, CallLeg, QueueVisit, SeatAttempt
from core import clock
from transfer.models import TransferAttempt, TransferRequest


def delete_old_details(
    sessions: sessionmaker[Session], days: int, now: datetime | None = None
) -> dict[str, int]:
    """Delete details older than ``days`` days; how many rows went from each table. Work
    orders are not details: they stay until someone deletes them."""
    cutoff = (now or clock.now()) - timedelta(days=days)
    old_requests = select(TransferRequest.id).where(TransferRequest.requested_at < cutoff)
    ended = CallLeg.ended_at.is_not(None)
    of_old_requests = TransferAttempt.request_id.in_(old_requests)
    steps = (
        ("transfer_attempts", delete(TransferAttempt).where(of_old_requests)),
        ("transfer_requests", delete(TransferRequest).where(TransferRequest.requested_at < cutoff)),
        ("seat_attempts", delete(SeatAttempt).where(SeatAttempt.rung_at < cutoff)),
        ("queue_visits", delete(QueueVisit).where(QueueVisit.entered_at < cutoff)),
        ("call_legs", delete(CallLeg).where(CallLeg.entered_at < cutoff, ended)),
        ("asterisk_cdrs", delete(AsteriskCdr).where(AsteriskCdr.start_at < cutoff)),
    )  # fmt: skip
    deleted: dict[str, int] = {}
    with sessions.begin() as session:
        for table, statement in steps:
            deleted[table] = session.execute(statement).rowcount  # type: ignore[attr-defined]
    return deleted
