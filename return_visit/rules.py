"""When a return visit is made, and what its answers mean: pure, read by the table and the
book alike.

A visit's first call comes ``after`` of the visit hours after the order's answer; a call
that found nobody (busy, no answer, unreachable, or answered without a key) is made again
``retry_after`` of those hours later, up to ``attempts`` calls; and none is made after the
close of the ``within_days``-th working day after the answer — then the visit is given up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.outcomes import unreached_because
from core.site import Site
from core.worktime import Schedule


class Question(StrEnum):
    """What the company is asked, in order."""

    RESPONDED = "responded"
    RESOLVED = "resolved"
    SATISFACTION = "satisfaction"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically-satisfied"
    DISSATISFIED = "dissatisfied"


Answer = bool | Satisfaction

QUESTIONS: tuple[tuple[Question, str, dict[str, Answer]], ...] = (
    # question               prompt               key → answer
    (Question.RESPONDED,     "visit-responded",   {"1": True, "2": False}),
    (Question.RESOLVED,      "visit-resolved",    {"1": True, "2": False}),
    (Question.SATISFACTION,  "visit-satisfied",   {"1": Satisfaction.SATISFIED,
                                                   "2": Satisfaction.BASICALLY_SATISFIED,
                                                   "3": Satisfaction.DISSATISFIED}),
)  # fmt: skip
"""The three questions, each with its prompt (Mandarin then English) and its keys."""


class VisitState(StrEnum):
    """Where a visit stands."""

    PENDING = "pending"
    """Waiting for its next call."""
    CALLING = "calling"
    """A call is under way (claimed by one application process)."""
    DONE = "done"
    """The company answered at least one question, by phone or to a person."""
    GIVEN_UP = "given-up"
    """Every call found nobody, or the time ran out."""
    BY_HAND = "by-hand"
    """Nobody will call: the order has no number to call, or the site's calls are off; a
    seat or a supervisor makes it and records the answers."""


class AttemptOutcome(StrEnum):
    """How one call of a visit ended."""

    ANSWERED = "answered"
    """The company keyed at least one answer."""
    NO_KEY = "no-key"
    """It picked up and hung up, or keyed nothing valid."""
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    UNREACHABLE = "unreachable"
    INTERRUPTED = "interrupted"
    """The hotline cut the call (Asterisk or the process went): made again, not counted."""


def missed_outcome(cause: int | None) -> AttemptOutcome:
    """What the company's leg's Q.850 cause says about a call that was never answered."""
    return AttemptOutcome(unreached_because(cause).value)


@dataclass(frozen=True)
class VisitRules:
    """The site's ``[visits]`` as the decisions read them."""

    hours: Schedule
    after: timedelta = timedelta(minutes=60)
    within_days: int = 3
    attempts: int = 3
    retry_after: timedelta = timedelta(minutes=120)
    ring_timeout: int = 30
    key_wait: float = 8.0

    @classmethod
    def for_site(cls, site: Site) -> VisitRules:
        """The site's ``[visits]`` as the decisions read them."""
        settings = site.visits
        return cls(
            hours=settings.hours.schedule(site.timezone),
            after=timedelta(minutes=settings.after_minutes),
            within_days=settings.within_days,
            attempts=settings.attempts,
            retry_after=timedelta(minutes=settings.retry_after),
            ring_timeout=settings.ring_timeout,
            key_wait=float(settings.key_wait),
        )

    def first_call(self, answered_at: datetime) -> datetime:
        """When the first call of the visit of an order answered at ``answered_at`` is due."""
        return self._open_at(self.hours.add_open_time(answered_at, self.after))

    def due_by(self, answered_at: datetime) -> datetime:
        """The last moment a call of that visit may be made."""
        return self.hours.add_open_days(answered_at, self.within_days)

    def next_call(self, attempt: int, now: datetime, due_by: datetime) -> datetime | None:
        """When the call after attempt ``attempt`` (ended ``now``) is due; None: no more."""
        if attempt >= self.attempts:
            return None
        due = self._open_at(self.hours.add_open_time(now, self.retry_after))
        return due if due <= due_by else None

    def _open_at(self, moment: datetime) -> datetime:
        """``moment``, or the next opening if the hours close just then."""
        return self.hours.add_open_time(moment, timedelta(0))
