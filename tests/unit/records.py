"""Helpers for the tests of the record writer and its journal."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallLeg
from cdr.records import CallEntered

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def entered(channel: str, at: datetime = AT, node: str | None = None) -> CallEntered:
    """A caller entering the enterprise queue (on ``node``), as the app records it."""
    return CallEntered(
        channel, None, "02150000001", "12345", at, "enterprise", None, None, 0, "enterprise", node
    )


def legs(factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    """Every call's channel and outcome, in the order they were recorded."""
    with factory() as session:
        rows = session.execute(select(CallLeg.caller_channel, CallLeg.outcome).order_by(CallLeg.id))
        return [(channel, outcome) for channel, outcome in rows]
