"""Transfer requests written the way a call's records are: for report tests without a PBX."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.outcomes import AttemptOutcome, TransferOutcome
from transfer.recorder import TransferRecords
from transfer.records import DialEnded, DialStarted, TransferDecided, TransferRequested
from transfer.state import Route


def record_transfer(
    factory: sessionmaker[Session],
    records: TransferRecords,
    at: datetime,
    route: Route,
    dials: list[tuple[str, str]],
    outcome: str,
    in_hours: bool = True,
    caller: str = "caller",
    linkedid: str = "linked",
) -> str:
    """One transfer request as a call records it: its dials, then its outcome (written twice:
    it counts once). Each record in its own transaction, as the writer may. Its key."""
    request = uuid.uuid4().hex
    steps: list[object] = [
        TransferRequested(
            request,
            caller,
            linkedid,
            "1001",
            route.matter,
            route.department,
            in_hours,
            "keypad",
            at,
        )
    ]
    answered = None
    for position, (number, dial) in enumerate(dials, start=1):
        channel = f"spec-{request}-{position}"
        steps += [
            DialStarted(request, position, number, channel, at),
            DialEnded(channel, AttemptOutcome(dial), at + timedelta(seconds=3)),
        ]
        answered = number if dial == "answered" else answered
    decided = TransferOutcome(outcome)
    steps += [
        TransferDecided(request, decided, at + timedelta(seconds=4), answered),
        TransferDecided(request, decided, at + timedelta(seconds=5), answered),
    ]
    for step in steps:
        with factory.begin() as session:
            records.apply(session, step)
    return request
