"""What is recorded about return visits (written to SQL by ``return_visit.recorder``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class VisitCallEnded:
    """One call of a return visit ended (``return_visit.rules.AttemptOutcome``)."""

    visit_id: int
    attempt: int
    channel: str
    started_at: datetime
    at: datetime
    outcome: str
    cause: int | None
    answers: tuple[tuple[str, str], ...]
    """(question, answer) for each question answered: ``yes``/``no``, or the satisfaction."""
    next_due: datetime | None
    """When the next call is due; None with no answer: the visit is given up."""
    counted: bool = True
    """Whether the call used one of the visit's attempts (not when the hotline cut it)."""
