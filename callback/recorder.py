"""Writes the call-back records (``callback.records``) into SQL.

Applying a record twice changes nothing (the writer may try a batch again): a request is
made once per call, an attempt ends once, a reached call-back enters one call.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from callback.records import (
    CallbackAttemptEnded,
    CallbackClosed,
    CallbackReached,
    CallbackRequested,
)
from callback.ticket import COUNTED, CallbackOutcome
from cdr.models import CallbackAttempt, CallbackRequest, CallLeg


class CallbackRecords:
    """Applies the call-back records (see :class:`core.writer.Applier`)."""

    kinds: tuple[type, ...] = (
        CallbackRequested,
        CallbackAttemptEnded,
        CallbackReached,
        CallbackClosed,
    )

    def apply(self, session: Session, record: object) -> None:
        match record:
            case CallbackRequested():
                self._requested(session, record)
            case CallbackAttemptEnded():
                self._attempt_ended(session, record)
            case CallbackReached():
                self._reached(session, record)
            case CallbackClosed():
                self._closed(session, record)
            case _:
                raise TypeError(f"not a call-back record: {record!r}")

    def _requested(self, session: Session, record: CallbackRequested) -> None:
        if _request(session, record.caller_channel) is not None:
            return
        leg = session.execute(
            select(CallLeg).where(CallLeg.caller_channel == record.caller_channel)
        ).scalar_one_or_none()
        session.add(
            CallbackRequest(
                caller_channel=record.caller_channel,
                caller_number=leg.caller_number if leg is not None else record.number or "",
                number=record.number,
                queue=record.queue,
                tier=record.tier,
                reason=record.reason,
                requested_at=record.at,
                state="pending",
                attempts=0,
            )
        )
        session.flush()

    def _attempt_ended(self, session: Session, record: CallbackAttemptEnded) -> None:
        known = session.execute(
            select(CallbackAttempt.id).where(CallbackAttempt.channel == record.channel)
        ).first()
        if known is not None:
            return
        request = _request(session, record.request)
        attempt = record.attempt or (request.attempts + 1 if request is not None else 1)
        session.add(
            CallbackAttempt(
                request=record.request,
                channel=record.channel,
                attempt=attempt,
                seat_id=record.seat_id,
                started_at=record.started_at,
                ended_at=record.at,
                outcome=record.outcome,
                cause=record.cause,
            )
        )
        if request is not None and CallbackOutcome(record.outcome) in COUNTED:
            request.attempts += 1
        session.flush()

    def _reached(self, session: Session, record: CallbackReached) -> None:
        exists = session.execute(
            select(CallLeg.id).where(CallLeg.caller_channel == record.caller_channel)
        ).first()
        if exists is None:
            session.add(
                CallLeg(
                    caller_channel=record.caller_channel,
                    linkedid=record.linkedid,
                    caller_number=record.number,
                    called_number=record.called_number,
                    entered_at=record.at,
                    caller_kind=record.caller_kind,
                    enterprise_id=record.enterprise_id,
                    tier=record.tier,
                    queue_prio=0,
                    queue=record.queue,
                    node=record.node,
                    callback_request=record.request,
                )
            )
        request = _request(session, record.request)
        if request is not None and request.reached_at is None:
            request.reached_at = record.at
        session.flush()

    def _closed(self, session: Session, record: CallbackClosed) -> None:
        request = _request(session, record.request)
        if request is None or request.done_at is not None:
            return
        request.state, request.done_at = record.outcome, record.at


def _request(session: Session, key: str) -> CallbackRequest | None:
    return session.execute(
        select(CallbackRequest).where(CallbackRequest.caller_channel == key)
    ).scalar_one_or_none()
