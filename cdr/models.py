"""What the hotline records about calls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class CallLeg(Base):
    """One inbound call and the seat that took it, as the Stasis application saw it."""

    __tablename__ = "call_legs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_channel: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_number: Mapped[str] = mapped_column(String(40))
    called_number: Mapped[str] = mapped_column(String(40))
    seat_id: Mapped[str | None] = mapped_column(String(16), index=True)
    seat_channel: Mapped[str | None] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    caller_kind: Mapped[str | None] = mapped_column(String(12))
    """What the front door decided: ``enterprise``, ``citizen`` or ``unknown``."""
    enterprise_id: Mapped[int | None] = mapped_column(Integer, index=True)
    tier: Mapped[str | None] = mapped_column(String(30))
    queue_prio: Mapped[int | None] = mapped_column(Integer)
    queue: Mapped[str | None] = mapped_column(String(40))
    node: Mapped[str | None] = mapped_column(String(40))
    """The PBX node the call was on (a line of several nodes behind an edge)."""
    outcome: Mapped[str | None] = mapped_column(String(32))
    """``caller-hangup``, ``seat-hangup``, ``abandoned``, ``no-seat`` or ``failed``."""
    callback_request: Mapped[str | None] = mapped_column(String(64))
    """A call the hotline made: the call-back request it kept (its key)."""
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    """The caller's rating after the call (return visit): ``satisfied``,
    ``basically-satisfied``, ``dissatisfied``, ``no-answer`` (asked, no key) or none."""


class CallbackRequest(Base):
    """A caller the line promised to call back (``callback``): they keyed 1 while waiting,
    reached the maximum wait, called out of hours, or Asterisk died under their call."""

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_channel: Mapped[str] = mapped_column(String(64), index=True)
    """The call that asked for it: the request's key everywhere."""
    caller_number: Mapped[str] = mapped_column(String(40))
    number: Mapped[str | None] = mapped_column(String(40))
    """The number called back (normalised)."""
    queue: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(40))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, then ``reached``, ``given-up`` or ``cancelled``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Attempts that used one up (busy, no answer, unreachable)."""
    reached_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When the company answered: a seat talked to it from then on."""
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CallbackAttempt(Base):
    """One attempt at a call-back: the seat rung first, then the company's number."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(64), unique=True)
    """The company's leg (the attempt's caller channel in the line)."""
    attempt: Mapped[int] = mapped_column(Integer)
    seat_id: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    """``reached``, ``busy``, ``no-answer``, ``unreachable``, ``seat-left``, ``interrupted``."""
    cause: Mapped[int | None] = mapped_column(Integer)


class QueueVisit(Base):
    """One stay of a caller in one queue: from joining it to being answered, giving up,
    being sent off (``closed``, ``max-wait``) or moved to another queue. A call moved from
    the citizen queue to the enterprise queue has two."""

    __tablename__ = "queue_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_channel: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(30))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(32))
    """``answered``, ``abandoned``, ``closed``, ``max-wait``, ``failed``, or ``moved`` (the
    seat that answered moved the caller on to another queue)."""
    seat_id: Mapped[str | None] = mapped_column(String(16))
    """The seat that answered."""
    served_by: Mapped[str | None] = mapped_column(String(16))
    """``asterisk-queue`` when Asterisk's own queue held the caller (the fallback, while no
    application process served): its queue log says how the stay ended."""


class SeatAttempt(Base):
    """One seat rung for one caller, and what came of it."""

    __tablename__ = "seat_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_channel: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(40))
    seat_id: Mapped[str] = mapped_column(String(16), index=True)
    seat_channel: Mapped[str] = mapped_column(String(64), unique=True)
    rung_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    rang_seconds: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(32))
    """``answered``, ``no-answer`` (rang out), ``declined`` (busy or rejected),
    ``unreachable`` (no phone to ring) or ``caller-left`` (the caller hung up first)."""
    cause: Mapped[int | None] = mapped_column(Integer)
    """The Q.850 hangup cause Asterisk gave for the seat's leg, when it did not answer."""


class AsteriskCdr(Base):
    """One of Asterisk's own call detail records: one per pair of parties, the records of
    one call sharing its ``linkedid``. Stored once, whichever way it arrived (the AMI
    listener or the reconciliation from Asterisk's CDR file)."""

    __tablename__ = "asterisk_cdrs"
    __table_args__ = (UniqueConstraint("uniqueid", "sequence", name="uq_asterisk_cdrs_record"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    dst_channel: Mapped[str] = mapped_column(String(128))
    src: Mapped[str] = mapped_column(String(80))
    dst: Mapped[str] = mapped_column(String(80))
    dcontext: Mapped[str] = mapped_column(String(80))
    clid: Mapped[str] = mapped_column(String(160))
    last_app: Mapped[str] = mapped_column(String(80))
    last_data: Mapped[str] = mapped_column(String(255))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answer_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration: Mapped[int] = mapped_column(Integer)
    billsec: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(20))
    accountcode: Mapped[str] = mapped_column(String(80))
    userfield: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(8))
    """How it arrived: ``ami`` (live) or ``file`` (filled in by the reconciliation)."""


class CdrFileMark(Base):
    """How far the reconciliation has read Asterisk's CDR file."""

    __tablename__ = "cdr_file_marks"

    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    inode: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
