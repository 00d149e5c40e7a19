"""Writes the transfer records (``transfer.records``) into SQL, bumping the rollups in the
transaction that decides an outcome. Applying a record twice changes nothing."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdr.rollups import Rollups
from core.calendar import StoredDays
from core.outcomes import TransferOutcome
from transfer.models import TransferAttempt, TransferRequest
from transfer.orders import make_order
from transfer.records import (
    DialEnded,
    DialStarted,
    SpecialistLeft,
    TransferDecided,
    TransferRequested,
    WorkOrderMade,
)


class TransferRecords:
    """Applies the transfer records (see :class:`core.writer.Applier`)."""

    kinds: tuple[type, ...] = (
        TransferRequested,
        DialStarted,
        DialEnded,
        TransferDecided,
        SpecialistLeft,
        WorkOrderMade,
    )

    def __init__(
        self, rollups: Rollups, timezone: ZoneInfo, calendar: StoredDays | None = None
    ) -> None:
        self.rollups = rollups
        self.timezone = timezone
        self.calendar = calendar
        """Kept current before a deadline is counted (None: the process keeps it current)."""

    def apply(self, session: Session, record: object) -> None:
        match record:
            case TransferRequested():
                self._requested(session, record)
            case DialStarted():
                self._dial_started(session, record)
            case DialEnded():
                self._dial_ended(session, record)
            case TransferDecided():
                self._decided(session, record)
            case SpecialistLeft():
                request = _request(session, record.request)
                if request is not None and request.ended_at is None:
                    request.ended_at = record.at
            case WorkOrderMade():
                self._order(session, record)
            case _:
                raise TypeError(f"not a transfer record: {record!r}")

    def _requested(self, session: Session, record: TransferRequested) -> None:
        if _request(session, record.request) is not None:
            return
        session.add(
            TransferRequest(
                key=record.request,
                caller_channel=record.caller_channel,
                linkedid=record.linkedid,
                seat_id=record.seat_id,
                matter_code=record.matter,
                department_code=record.department,
                requested_at=record.at,
                in_hours=record.in_hours,
                via=record.via,
            )
        )
        session.flush()

    def _dial_started(self, session: Session, record: DialStarted) -> None:
        request = _request(session, record.request)
        if request is None or _attempt(session, record.channel) is not None:
            return
        session.add(
            TransferAttempt(
                request_id=request.id,
                position=record.position,
                number=record.number,
                channel=record.channel,
                started_at=record.at,
            )
        )
        session.flush()

    def _dial_ended(self, session: Session, record: DialEnded) -> None:
        attempt = _attempt(session, record.channel)
        if attempt is None or attempt.outcome is not None:
            return
        attempt.outcome, attempt.cause = record.outcome.value, record.cause
        attempt.sip_code, attempt.cancelled_by = record.sip_code, record.cancelled_by
        attempt.rang_seconds = (record.at - attempt.started_at).total_seconds()
        request = session.get(TransferRequest, attempt.request_id)
        if request is not None:
            self.rollups.attempt_ended(session, attempt, request.department_code)

    def _decided(self, session: Session, record: TransferDecided) -> None:
        request = _request(session, record.request)
        if request is None or request.outcome is not None:
            return
        request.outcome = record.outcome.value
        if record.outcome is TransferOutcome.ANSWERED:
            request.answered_number, request.answered_at = record.answered_number, record.at
        else:
            request.ended_at = record.at
        session.flush()
        self.rollups.transfer_finished(session, request)

    def _order(self, session: Session, record: WorkOrderMade) -> None:
        request = _request(session, record.request)
        if request is not None and request.work_order_id is not None:
            return
        if self.calendar is not None:
            self.calendar.refresh(session)
        order = make_order(
            session,
            self.timezone,
            record.department,
            record.level,
            record.reason,
            record.at,
            matter=record.matter,
            enterprise_id=record.enterprise_id,
            caller_number=record.caller_number,
            caller_channel=record.caller_channel,
            transfer_request_id=request.id if request is not None else None,
        )
        if request is not None:
            request.work_order_id = order.id


def _request(session: Session, key: str) -> TransferRequest | None:
    return session.execute(
        select(TransferRequest).where(TransferRequest.key == key)
    ).scalar_one_or_none()


def _attempt(session: Session, channel: str) -> TransferAttempt | None:
    return session.execute(
        select(TransferAttempt).where(TransferAttempt.channel == channel)
    ).scalar_one_or_none()
