"""A return visit's table, row by row: a visit's call in a phase and an event in, the next
phase and the exact actions out. The expected rows are written here, not read from
``return_visit.phases``: a wrong next phase, guard or step fails a row below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.actions import Purpose, Timer
from core.clock import moment
from core.worktime import DayRule, Period, Schedule
from return_visit.phases import (
    Answered,
    Cut,
    HungUp,
    Keyed,
    Missed,
    Phase,
    PromptEnded,
    Started,
    TimerDue,
    VisitCall,
    VisitContext,
    VisitEvent,
    decide,
)
from return_visit.records import VisitCallEnded
from return_visit.rules import Satisfaction, VisitRules
from tests.unit.steps import describe

P = Phase
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, tzinfo=SHANGHAI).timestamp()  # a Tuesday, 10:00
OFFICE = Schedule(DayRule.WORKING_DAYS, (Period.parse("09:00-12:00"),), SHANGHAI)
RULES = VisitRules(OFFICE, attempts=3, retry_after=timedelta(minutes=150), key_wait=8.0)
DUE_BY = datetime(2026, 11, 27, 4, tzinfo=UTC)  # Friday 12:00 in Shanghai
CARRIER = "PJSIP/{number}@carrier"


def context(way_out: bool = True) -> VisitContext:
    return VisitContext(NOW, RULES, "12345", CARRIER if way_out else None)


def visit_in(phase: Phase, **situation: Any) -> VisitCall:
    """Visit 7's first call to 02161234567 on channel ``v1``, started at ``NOW - 20``."""
    fields: dict[str, Any] = {"started": NOW - 20} | situation
    return VisitCall(7, fields.pop("attempt", 1), "v1", "02161234567", DUE_BY, phase, **fields)


def ask(prompt: str, at: float = 38) -> list[str]:
    wake = f"wake answer-key at {NOW + at:g}"
    return ["stop greeting", "stop question", f"play {prompt} (question)", wake]


NOT_REACHED = ["cancel answer-key", "record VisitCallEnded {}", "publish visit-not-reached", "end"]
GIVEN_UP = ["cancel answer-key", "record VisitCallEnded {}", "publish visit-given-up", "end"]
THANKS = ["stop question", "play visit-thanks (thanks)", f"wake answer-key at {NOW + 30:g}",
          "record VisitCallEnded answered", "publish visit-answered"]  # fmt: skip
HANG_UP = ["cancel answer-key", "hang up v1", "end"]
CUT = ["cancel answer-key", "hang up v1", "record VisitCallEnded interrupted", "end"]
Q1_ANSWERED = {"answers": {"responded": True}}
TWO_ANSWERED = {"question": 2, "asks": 1, "answers": {"responded": True, "resolved": False}}

ROWS: list[tuple[str, Phase, dict[str, Any], VisitEvent, bool, Phase, list[str]]] = [
    # what                          phase       situation        event     way out  next  actions
    ("the number is dialled",       P.DIALLING, {},              Started(), True,  P.DIALLING,
     ["dial visit PJSIP/02161234567@carrier", "publish visit-calling"]),
    ("no trunk goes out",           P.DIALLING, {},              Started(), False, P.ENDED,
     [s.format("unreachable") for s in NOT_REACHED]),
    ("the company picks up",        P.DIALLING, {},              Answered(), True, P.GREETING,
     ["play visit-greeting (greeting)", f"wake answer-key at {NOW + 30:g}"]),
    ("busy: called again later",    P.DIALLING, {},              Missed(17), True, P.ENDED,
     [s.format("busy") for s in NOT_REACHED]),
    ("no answer on the last call",  P.DIALLING, {"attempt": 3},  Missed(19), True, P.ENDED,
     [s.format("no-answer") for s in GIVEN_UP]),
    ("unreachable",                 P.DIALLING, {},              Missed(None), True, P.ENDED,
     [s.format("unreachable") for s in NOT_REACHED]),
    ("greeted: the first question", P.GREETING, {},              PromptEnded(Purpose.GREETING),
     True, P.ASKING, ask("visit-responded")),
    ("greeting never ended",        P.GREETING, {},              TimerDue(Timer.ANSWER_KEY),
     True, P.ASKING, ask("visit-responded")),
    ("answered during the greeting", P.GREETING, {},             Keyed("1"), True, P.ASKING,
     ask("visit-resolved")),
    ("a stray key in the greeting", P.GREETING, {},              Keyed("7"), True, P.GREETING, []),
    ("asked: the key is awaited",   P.ASKING,   {"asks": 1},     PromptEnded(Purpose.QUESTION),
     True, P.ASKING, [f"wake answer-key at {NOW + 8:g}"]),
    ("the thanks ending is no question", P.ASKING, {"asks": 1},  PromptEnded(Purpose.THANKS),
     True, P.ASKING, []),
    ("an answer: the next question", P.ASKING,  {"asks": 1},     Keyed("2"), True, P.ASKING,
     ask("visit-resolved")),
    ("the last answer: thanks",     P.ASKING,   TWO_ANSWERED,    Keyed("2"), True, P.THANKING,
     THANKS),
    ("a wrong key: asked again",    P.ASKING,   {"asks": 1},     Keyed("3"), True, P.ASKING,
     ask("visit-responded")),
    ("no key: asked again",         P.ASKING,   {"asks": 1},     TimerDue(Timer.ANSWER_KEY),
     True, P.ASKING, ask("visit-responded")),
    ("no key twice: passed over",   P.ASKING,   {"asks": 2},     TimerDue(Timer.ANSWER_KEY),
     True, P.ASKING, ask("visit-resolved")),
    ("a wrong key twice: passed over", P.ASKING, {"asks": 2},    Keyed("#"), True, P.ASKING,
     ask("visit-resolved")),
    ("the last passed over: thanks", P.ASKING,  TWO_ANSWERED | {"asks": 2},
     TimerDue(Timer.ANSWER_KEY), True, P.THANKING, THANKS),
    ("not one answer: nobody found", P.ASKING,  {"question": 2, "asks": 2},
     TimerDue(Timer.ANSWER_KEY), True, P.ENDED,
     ["hang up v1", *[s.format("no-key") for s in NOT_REACHED]]),
    ("thanked: hung up",            P.THANKING, {},              PromptEnded(Purpose.THANKS),
     True, P.ENDED, HANG_UP),
    ("thanks never ended",          P.THANKING, {},              TimerDue(Timer.ANSWER_KEY),
     True, P.ENDED, HANG_UP),
    ("hung up during the thanks",   P.THANKING, {},              HungUp(), True, P.ENDED, HANG_UP),
    ("hung up after one answer",    P.ASKING,   Q1_ANSWERED,     HungUp(), True, P.ENDED,
     ["cancel answer-key", "record VisitCallEnded answered", "publish visit-answered", "end"]),
    ("hung up before any answer",   P.GREETING, {},              HungUp(), True, P.ENDED,
     ["hang up v1", *[s.format("no-key") for s in NOT_REACHED]]),
    ("the hotline lost it ringing", P.DIALLING, {},              Cut(), True, P.ENDED, CUT),
    ("the hotline lost it asking",  P.ASKING,   Q1_ANSWERED,     Cut(), True, P.ENDED, CUT),
    ("lost while thanking: kept",   P.THANKING, {},              Cut(), True, P.ENDED, HANG_UP),
    ("over: nothing more",          P.ENDED,    {},              Keyed("1"), True, P.ENDED, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("phase", "situation", "event", "way_out", "after", "expected"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_row(
    phase: Phase,
    situation: dict[str, Any],
    event: VisitEvent,
    way_out: bool,
    after: Phase,
    expected: list[str],
) -> None:
    call = visit_in(phase, **situation)
    actions = decide(call, event, context(way_out))
    assert [describe(action) for action in actions] == expected
    assert call.phase is after


def ended(actions: list[Any]) -> VisitCallEnded:
    records = [getattr(action, "record", None) for action in actions]
    (record,) = [record for record in records if isinstance(record, VisitCallEnded)]
    return record


def test_the_three_answers_are_recorded_as_keyed() -> None:
    """Keys 1, 1, 2: responded, resolved, basically satisfied — the call counted."""
    call = visit_in(P.GREETING)
    decide(call, PromptEnded(Purpose.GREETING), context())
    decide(call, Keyed("1"), context())
    decide(call, Keyed("1"), context())
    record = ended(decide(call, Keyed("2"), context()))
    assert call.answers == {
        "responded": True,
        "resolved": True,
        "satisfaction": Satisfaction.BASICALLY_SATISFIED,
    }
    assert record.answers == (
        ("responded", "yes"),
        ("resolved", "yes"),
        ("satisfaction", "basically-satisfied"),
    )
    assert (record.outcome, record.attempt, record.counted, record.next_due) == (
        "answered", 1, True, None,
    )  # fmt: skip
    assert record.started_at == moment(NOW - 20) and record.at == moment(NOW)


def test_a_busy_company_is_called_again_after_retry_after_of_visit_hours() -> None:
    """Busy at Tuesday 10:00, the hours 09:00-12:00, 150 minutes between calls: two hours on
    Tuesday, half an hour on Wednesday."""
    call = visit_in(P.DIALLING)
    record = ended(decide(call, Missed(17), context()))
    assert record.next_due == datetime(2026, 11, 25, 9, 30, tzinfo=SHANGHAI)
    assert (record.outcome, record.counted) == ("busy", True)


def test_no_call_after_the_visit_s_last_moment() -> None:
    """The next call would come after ``due_by``: the visit is given up now."""
    call = visit_in(P.DIALLING, attempt=1)
    call.due_by = datetime(2026, 11, 24, 11, 30, tzinfo=SHANGHAI)
    actions = decide(call, Missed(19), context())
    assert ended(actions).next_due is None
    assert "publish visit-given-up" in [describe(a) for a in actions]


def test_a_call_the_hotline_lost_is_due_again_at_once_and_not_counted() -> None:
    record = ended(decide(visit_in(P.ASKING, **Q1_ANSWERED), Cut(), context()))
    assert (record.outcome, record.counted, record.next_due) == (
        "interrupted", False, moment(NOW),
    )  # fmt: skip
