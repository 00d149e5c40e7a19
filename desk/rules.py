"""What a seat says about a call at wrap-up, the level a desk-made order gets, and when a
seat is reminded to classify. Pure: no I/O, every rule a table.

**Kinds** follow the cities' statistics: a consultation (咨询), an appeal (求助: the company
asks the government to act), a complaint or report (投诉举报), or other. **Resolutions**:
answered directly (from the seat's knowledge or the knowledge base: the entries used are
kept), transferred to a department, or a work order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from transfer.deadlines import Level


class CallKind(StrEnum):
    CONSULTATION = "consultation"
    APPEAL = "appeal"
    COMPLAINT = "complaint"
    """A complaint or a report (投诉举报)."""
    OTHER = "other"


class Resolution(StrEnum):
    DIRECT = "direct"
    """Answered by the seat itself (directly answered, 直接答复)."""
    TRANSFERRED = "transferred"
    ORDER = "order"


ORDER_LEVELS: dict[tuple[CallKind, bool, bool], Level] = {
    # kind                    complex  several departments    level
    (CallKind.CONSULTATION,   False,   False):                Level.IMMEDIATE,
    (CallKind.CONSULTATION,   True,    False):                Level.THREE_DAYS,
    (CallKind.CONSULTATION,   False,   True):                 Level.SEVEN_DAYS,
    (CallKind.CONSULTATION,   True,    True):                 Level.SEVEN_DAYS,
    (CallKind.APPEAL,         False,   False):                Level.SEVEN_DAYS,
    (CallKind.APPEAL,         False,   True):                 Level.SEVEN_DAYS,
    (CallKind.APPEAL,         True,    False):                Level.FIFTEEN_DAYS,
    (CallKind.APPEAL,         True,    True):                 Level.FIFTEEN_DAYS,
    (CallKind.COMPLAINT,      False,   False):                Level.SEVEN_DAYS,
    (CallKind.COMPLAINT,      False,   True):                 Level.SEVEN_DAYS,
    (CallKind.COMPLAINT,      True,    False):                Level.FIFTEEN_DAYS,
    (CallKind.COMPLAINT,      True,    True):                 Level.FIFTEEN_DAYS,
    (CallKind.OTHER,          False,   False):                Level.IMMEDIATE,
    (CallKind.OTHER,          True,    False):                Level.THREE_DAYS,
    (CallKind.OTHER,          False,   True):                 Level.SEVEN_DAYS,
    (CallKind.OTHER,          True,    True):                 Level.SEVEN_DAYS,
}  # fmt: skip
"""The level of an order made from the desk: a simple consultation is answered at once; a
complex one for one department within 3 working days; several departments, an appeal or a
complaint within 7; a complex appeal or complaint within 15."""


def order_level(kind: CallKind, complex_case: bool, several_departments: bool) -> Level:
    """The level the rules give an order of this kind."""
    return ORDER_LEVELS[kind, complex_case, several_departments]


class WrapUpPhase(StrEnum):
    TALKING = "talking"
    """The call goes on: the seat may classify already."""
    WRAP_UP = "wrap-up"
    """The call ended and the queue's wrap-up time is not over."""
    LATE = "late"
    """The wrap-up is over and the call is not classified: the seat is reminded."""
    CLASSIFIED = "classified"


@dataclass(frozen=True)
class WrapUp:
    """Where a seat's call stands with its classification."""

    phase: WrapUpPhase
    seconds_left: float
    """Of the wrap-up (0 once it is over; the whole wrap-up while the call goes on)."""


def wrap_up(
    ended_at: datetime | None, wrap_up_seconds: float, now: datetime, classified: bool
) -> WrapUp:
    """Whether a call still needs its classification, and whether the seat is late with it."""
    if classified:
        return WrapUp(WrapUpPhase.CLASSIFIED, 0.0)
    if ended_at is None:
        return WrapUp(WrapUpPhase.TALKING, float(wrap_up_seconds))
    left = wrap_up_seconds - (now - ended_at).total_seconds()
    if left > 0:
        return WrapUp(WrapUpPhase.WRAP_UP, left)
    return WrapUp(WrapUpPhase.LATE, 0.0)


def wrap_up_seconds(ended_at: datetime | None, classified_at: datetime) -> float:
    """The wrap-up a classification took: from the call's end (none while it went on)."""
    if ended_at is None:
        return 0.0
    return max(0.0, (classified_at - ended_at).total_seconds())
