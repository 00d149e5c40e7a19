"""The transfer's table, row by row: a state and an event in, the next state, the move in the
history and the exact actions out. The expected rows are written here, not read from
``transfer.machine``: a wrong target, guard or effect in the table fails a row below."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.worktime import DayRule, Period, Schedule
from tests.unit.steps import describe
from transfer.machine import begin, handle, interrupted
from transfer.state import (
    CallerGone,
    Cancel,
    DialAccepted,
    DialRefused,
    MessageDone,
    RingbackStarted,
    Route,
    SeatGone,
    SpecialistAnswered,
    SpecialistHungUp,
    TransferContext,
    TransferEvent,
    TransferState,
    TransferStatus,
)

S = TransferState
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI).timestamp()
SATURDAY_10AM = datetime(2026, 11, 28, 10, tzinfo=SHANGHAI).timestamp()
OFFICE = Schedule(DayRule.WORKING_DAYS, (Period.parse("09:00-17:00"),), SHANGHAI)
UNREACHABLE = "02100000000"
"""A number with no way to dial it (``endpoint_for`` gives None)."""


def context(now: float = MONDAY_10AM) -> TransferContext:
    legs = (f"spec-{n}" for n in itertools.count(2))
    return TransferContext(
        now=now,
        bridge="call-bridge",
        caller_number="62345678",
        linkedid="L1",
        enterprise_id=7,
        caller_id="12345",
        ring_seconds=20,
        endpoint_for=lambda number: None if number == UNREACHABLE else f"PJSIP/{number}",
        new_leg=lambda: next(legs),
    )


@dataclass(frozen=True)
class Given:
    """A transfer in ``state`` with its first number (A) dialled as ``spec-1``."""

    state: TransferState
    attempt: int = 1
    ringback: str | None = None
    leg: str | None = "spec-1"
    numbers: tuple[str, ...] = ("A", "B")
    message_pending: bool = False

    def status(self) -> TransferStatus:
        return TransferStatus(
            "r1",
            "caller-1",
            "101",
            "tax",
            list(self.numbers),
            True,
            "1001",
            self.state,
            self.attempt,
            self.leg,
            self.ringback,
            message_pending=self.message_pending,
        )


@dataclass(frozen=True)
class Case:
    given: Given
    event: TransferEvent
    then: TransferState
    actions: list[str]
    moved: str | None = None
    """The history's new entry (None: the move is not one the history keeps)."""
    check: dict[str, object] = field(default_factory=dict)
    """Fields of the status afterwards."""


RINGING_TONE = Given(S.RINGING, ringback="tone-1")
LAST_RINGING = Given(S.RINGING, attempt=2, ringback="tone-1")

ROWS: dict[str, Case] = {
    "the phone rings: ringback and word of it": Case(
        Given(S.DIALING),
        DialAccepted("spec-1"),
        S.RINGING,
        ["ringback", "publish transfer-ringing", "save ringing"],
        "dialing --dialed--> ringing",
    ),
    "a forwarded number rings: the tone already plays": Case(
        Given(S.DIALING, attempt=2, ringback="tone-1"),
        DialAccepted("spec-1"),
        S.RINGING,
        ["publish transfer-ringing", "save ringing"],
        "dialing --dialed--> ringing",
    ),
    "a dial that cannot be made goes on to the next number": Case(
        Given(S.DIALING),
        DialRefused("spec-1"),
        S.DIALING,
        [
            "record DialEnded unavailable",
            "count unavailable A",
            "publish transfer-attempt",
            "record DialStarted",
            "dial spec PJSIP/B",
            "save dialing",
        ],
        "dialing --forward--> dialing",
        {"attempt": 2, "specialist_channel": "spec-2"},
    ),
    "the last number cannot be dialled: a work order": Case(
        Given(S.DIALING, attempt=2),
        DialRefused("spec-1"),
        S.ORDERED,
        [
            "record DialEnded unavailable",
            "count unavailable B",
            "publish transfer-attempt",
            "record WorkOrderMade unanswered",
            "record TransferDecided failed",
            "count failed request",
            "publish transfer-ordered",
            "play transfer-failed (transfer-message)",
            "save ordered",
        ],
        "dialing --give-up--> ordered",
        {"message_pending": True, "specialist_channel": None},
    ),
    "busy while ringing: forwarded, the tone goes on": Case(
        RINGING_TONE,
        SpecialistHungUp("spec-1", 17, 486),
        S.DIALING,
        [
            "record DialEnded busy",
            "count busy A",
            "publish transfer-attempt",
            "record DialStarted",
            "dial spec PJSIP/B",
            "save dialing",
        ],
        "ringing --forward--> dialing",
        {"ringback": "tone-1"},
    ),
    "no answer on the last number: the tone stops, a work order": Case(
        LAST_RINGING,
        SpecialistHungUp("spec-1", 19),
        S.ORDERED,
        [
            "record DialEnded no-answer",
            "count no-answer B",
            "publish transfer-attempt",
            "stop ringback",
            "record WorkOrderMade unanswered",
            "record TransferDecided failed",
            "count failed request",
            "publish transfer-ordered",
            "play transfer-failed (transfer-message)",
            "save ordered",
        ],
        "ringing --give-up--> ordered",
        {"ringback": None},
    ),
    "the specialist answers: into the bridge, counted": Case(
        RINGING_TONE,
        SpecialistAnswered("spec-1"),
        S.CONNECTED,
        [
            "stop ringback",
            "bridge spec-1",
            "record DialEnded answered",
            "record TransferDecided answered",
            "count answered A",
            "count answered request",
            "publish transfer-answered",
            "save connected",
        ],
        "ringing --answered--> connected",
    ),
    "the seat cancels while it rings": Case(
        RINGING_TONE,
        Cancel("1001"),
        S.CANCELLED,
        [
            "stop ringback",
            "record DialEnded cancelled",
            "count cancelled A",
            "hang up spec-1",
            "record TransferDecided cancelled",
            "count cancelled request",
            "publish transfer-cancelled",
            "save cancelled",
        ],
        "ringing --cancel--> cancelled",
    ),
    "the caller hangs up while it rings: abandoned": Case(
        RINGING_TONE,
        CallerGone(),
        S.ABANDONED,
        [
            "stop ringback",
            "record DialEnded abandoned",
            "count abandoned A",
            "record TransferDecided abandoned",
            "count abandoned request",
            "hang up spec-1",
            "save abandoned",
        ],
        "ringing --caller-gone--> abandoned",
    ),
    "the seat leaves while it dials: the dial goes on": Case(
        Given(S.DIALING),
        SeatGone(),
        S.DIALING,
        ["save dialing"],
        "dialing --seat-gone--> dialing",
        {"seat": None},
    ),
    "the seat leaves while it rings": Case(
        RINGING_TONE,
        SeatGone(),
        S.RINGING,
        ["save ringing"],
        "ringing --seat-gone--> ringing",
        {"seat": None},
    ),
    "the ringing tone's playback is noted": Case(
        Given(S.RINGING),
        RingbackStarted("tone-9"),
        S.RINGING,
        ["save ringing"],
        None,
        {"ringback": "tone-9"},
    ),
    "the seat leaves a connected call: handed over": Case(
        Given(S.CONNECTED),
        SeatGone(),
        S.HANDED_OVER,
        ["save handed-over"],
        "connected --seat-gone--> handed-over",
        {"seat": None},
    ),
    "the specialist hangs up a connected call": Case(
        Given(S.CONNECTED),
        SpecialistHungUp("spec-1", 16),
        S.ENDED,
        ["record SpecialistLeft", "publish transfer-ended", "save ended"],
        "connected --specialist-gone--> ended",
        {"specialist_channel": None},
    ),
    "the specialist hangs up after the seat left": Case(
        Given(S.HANDED_OVER),
        SpecialistHungUp("spec-1", 16),
        S.ENDED,
        ["record SpecialistLeft", "publish transfer-ended", "save ended"],
        "handed-over --specialist-gone--> ended",
    ),
    "the caller hangs up on the specialist: the specialist is hung up": Case(
        Given(S.CONNECTED),
        CallerGone(),
        S.ENDED,
        ["record SpecialistLeft", "hang up spec-1", "save ended"],
        "connected --caller-gone--> ended",
    ),
    "the caller hangs up after the seat left": Case(
        Given(S.HANDED_OVER),
        CallerGone(),
        S.ENDED,
        ["record SpecialistLeft", "hang up spec-1", "save ended"],
        "handed-over --caller-gone--> ended",
    ),
    "the seat leaves during the work order's message": Case(
        Given(S.ORDERED, leg=None, message_pending=True),
        SeatGone(),
        S.ORDERED,
        ["save ordered"],
        None,
        {"seat": None, "message_pending": True},
    ),
    "the message has been played": Case(
        Given(S.ORDERED, leg=None, message_pending=True),
        MessageDone(),
        S.ORDERED,
        ["save ordered"],
        None,
        {"message_pending": False},
    ),
}

REFUSED: dict[str, tuple[Given, TransferEvent]] = {
    "an earlier leg's ring": (Given(S.DIALING), DialAccepted("spec-0")),
    "an earlier leg's refusal": (Given(S.DIALING), DialRefused("spec-0")),
    "an earlier leg hanging up while another rings": (RINGING_TONE, SpecialistHungUp("spec-0")),
    "an earlier leg answering": (RINGING_TONE, SpecialistAnswered("spec-0")),
    "an answer before the phone rang": (Given(S.DIALING), SpecialistAnswered("spec-1")),
    "a refusal once it rings": (RINGING_TONE, DialRefused("spec-1")),
    "a cancel once connected": (Given(S.CONNECTED), Cancel("1001")),
    "a cancel after the work order": (Given(S.ORDERED, leg=None), Cancel("1001")),
    "an answer after a cancel": (Given(S.CANCELLED, leg=None), SpecialistAnswered("spec-1")),
    "the caller gone after the end": (Given(S.ENDED, leg=None), CallerGone()),
    "a tone noted after the answer": (Given(S.CONNECTED), RingbackStarted("tone-9")),
    "a ring after the answer": (Given(S.CONNECTED), DialAccepted("spec-1")),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_each_row_of_the_table(name: str) -> None:
    case = ROWS[name]
    status = case.given.status()
    actions = handle(status, case.event, context())
    assert [describe(action) for action in actions] == case.actions
    assert status.state is case.then
    assert status.history == ([case.moved] if case.moved else [])
    for attribute, value in case.check.items():
        assert getattr(status, attribute) == value, attribute


@pytest.mark.parametrize("name", list(REFUSED))
def test_an_event_no_row_takes_changes_nothing(name: str) -> None:
    given, event = REFUSED[name]
    status = given.status()
    assert handle(status, event, context()) == []
    assert status == given.status()


ROUTE = Route("101", "VAT invoices", "tax", "Tax bureau", ("A", "B"), OFFICE, "")


def test_a_request_in_hours_dials_the_first_number() -> None:
    status, actions = begin(ROUTE, "r1", "caller-1", "1001", "keypad", context())
    assert [describe(action) for action in actions] == [
        "record TransferRequested",
        "publish transfer-requested",
        "record DialStarted",
        "dial spec PJSIP/A",
        "save dialing",
    ]
    assert status.state is S.DIALING and status.history == ["requested --open--> dialing"]


def test_a_request_out_of_hours_dials_nothing_and_makes_the_order() -> None:
    status, actions = begin(ROUTE, "r1", "caller-1", "1001", "keypad", context(SATURDAY_10AM))
    assert [describe(action) for action in actions] == [
        "record TransferRequested",
        "publish transfer-requested",
        "record WorkOrderMade closed",
        "record TransferDecided closed",
        "count closed request",
        "publish transfer-ordered",
        "play department-closed (transfer-message)",
        "save ordered",
    ]
    assert status.state is S.ORDERED and status.history == ["requested --closed--> ordered"]


def test_a_number_that_cannot_be_dialled_moves_on_at_once() -> None:
    route = Route("101", "VAT invoices", "tax", "Tax bureau", (UNREACHABLE, "B"), OFFICE, "")
    status, actions = begin(route, "r1", "caller-1", "1001", "keypad", context())
    assert [describe(action) for action in actions][2:] == [
        "record DialStarted",
        "record DialEnded unavailable",
        f"count unavailable {UNREACHABLE}",
        "publish transfer-attempt",
        "record DialStarted",
        "dial spec PJSIP/B",
        "save dialing",
        "save dialing",
    ]
    assert status.history == ["requested --open--> dialing", "dialing --forward--> dialing"]
    assert (status.attempt, status.specialist_channel) == (2, "spec-3")


def test_a_transfer_taken_over_while_ringing_drops_the_dial() -> None:
    status = RINGING_TONE.status()
    actions = interrupted(status, context())
    assert [describe(action) for action in actions] == [
        "stop ringback",
        "hang up spec-1",
        "record DialEnded failed",
        "record TransferDecided failed",
        "save cancelled",
    ]
    assert status.state is S.CANCELLED and status.specialist_channel is None
