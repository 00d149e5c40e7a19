"""The call's table, row by row: a call in a phase and an event in, the next phase and the
exact actions out. The expected rows are written here, not read from ``call.phases``: a
wrong next phase, guard or step in the table fails a row below."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from call.events import (
    Arrived,
    CallBroken,
    CalledOff,
    CallerHungUp,
    CallerKeyed,
    CallEvent,
    CompanyAnswered,
    CompanyMissed,
    PbxLost,
    PlaceLost,
    PromptEnded,
    PromptStarted,
    Resumed,
    SeatAnswered,
    SeatCommand,
    SeatHungUp,
    SeatKeyed,
    SeatNotAnswered,
    SeatOffered,
    StoreLost,
    TimerDue,
    TransferStep,
)
from call.phases import decide
from call.state import Caller, Context, Phase, QueueRules, SeatLeg
from callback.steps import DropCallbackCard, KeepCallbackCard
from callback.ticket import CallbackRules, CallbackTicket
from cdr.records import CallEntered
from core.actions import LegKind, Purpose, Record, Timer
from core.outcomes import CallOutcome
from core.worktime import DayRule, Period, Schedule
from tests.unit.steps import describe
from transfer.keys import CancelTransfer, LeaveCall, MoveCaller, StartTransfer
from transfer.state import (
    Route,
    SpecialistAnswered,
    SpecialistHungUp,
    TransferContext,
    TransferState,
    TransferStatus,
)

P = Phase
NOW = 1010.0
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI).timestamp()
ALWAYS = Schedule(DayRule.EVERY_DAY, (Period.parse("00:00-24:00"),), SHANGHAI)
QUEUES = {
    "enterprise": QueueRules("enterprise", frozenset({"1001", "1002"}), 15, 10, 600, 30),
    "citizen": QueueRules("citizen", frozenset({"2001"}), 15, 10, 600, 30, move_to="enterprise"),
}
ROUTE = Route("101", "VAT invoices", "tax", "Tax bureau", ("A", "B"), ALWAYS, "")
TIMERS_CANCELLED = [f"cancel {timer.value}" for timer in Timer]
"""What every end begins with."""
AFTER_THE_NOTICE = [
    "cancel prompt-limit",
    "CancelCallback 02162345678",
    "JoinLine enterprise 1000.0 None",
    "music",
    "wake announce at 1003",
    "wake max-wait at 1600",
]
"""The notice over (or too long): into the line at the caller's arrival, on hold."""


def context(
    *,
    closed: tuple[str, ...] = (),
    store_ok: bool = True,
    survey: bool = True,
    app_behind: bool = False,
    callbacks: bool = True,
    recording: bool = False,
    notice: bool = False,
) -> Context:
    def transfer(caller: Caller) -> TransferContext:
        return TransferContext(
            now=MONDAY_10AM,
            bridge=caller.bridge or "",
            caller_number=caller.number,
            linkedid=None,
            enterprise_id=None,
            caller_id="12345",
            ring_seconds=20,
            endpoint_for=lambda number: f"PJSIP/{number}",
            new_leg=lambda: "spec-2",
        )

    return Context(
        now=NOW,
        queues=QUEUES,
        is_open=lambda queue: queue not in closed,
        new_leg=lambda kind, caller: f"{kind.value}-{caller}-new",
        new_bridge=lambda: "call-b2",
        survey=survey,
        survey_wait=8.0,
        routes=lambda matter: ROUTE if matter == "101" else None,
        transfer=transfer,
        new_request=lambda: "r2",
        store_ok=store_ok,
        app_behind=app_behind,
        callbacks=CallbackRules(callbacks, 3, 300, 30, "12345", "PJSIP/{number}@carrier"),
        recording=recording,
        recording_notice=notice,
    )


def transfer_in(state: TransferState, **situation: Any) -> TransferStatus:
    """The call's transfer: its first number (A) dialled as ``spec-1``."""
    fields: dict[str, Any] = {"specialist_channel": "spec-1", "attempt": 1, **situation}
    return TransferStatus("r1", "c1", "101", "tax", ["A", "B"], True, "1001", state, **fields)


def caller_in(phase: Phase, **situation: Any) -> Caller:
    """A caller ``c1`` of the enterprise queue, arrived at 1000, in ``phase``: waiting on
    hold in the line; ringing seat 1001 on ``seat-1``; talking to it in bridge ``call-b1``."""
    fields: dict[str, Any] = {"joined": 1000.0, "answered_by_front_door": True}
    if phase is not P.ARRIVING:
        fields["arrival_noted"] = True
    if phase in (P.WAITING, P.RINGING):
        fields |= {"on_hold": True, "in_line": True, "outcome": CallOutcome.ABANDONED}
    if phase is P.RINGING:
        fields |= {"seat": SeatLeg("1001", "seat-1"), "tried": {"1001"}}
    if phase is P.TALKING:
        fields |= {"seat": SeatLeg("1001", "seat-1", answered=True), "bridge": "call-b1"}
    if phase in (P.SURVEY, P.THANKS):
        fields |= {"outcome": CallOutcome.SEAT_HANGUP, "survey_asks": 1}
    if phase is P.SENDING_OFF:
        fields |= {"outcome": CallOutcome.CLOSED}
    base: dict[str, Any] = {"channel": "c1", "queue": "enterprise", "arrived": 1000.0}
    number = {"number": "62345678", "callback_number": "02162345678"}
    every: dict[str, Any] = base | number | fields | situation
    return Caller(phase=phase, **every)


def attempt_in(phase: Phase, attempt: int = 1, **situation: Any) -> Caller:
    """Attempt ``attempt`` at call-back ``r1`` to 02162345678, asked by a caller who arrived
    at 1000: its caller is ``callback-1`` (the company's leg, once dialled); in the line, a
    seat ringing, or the seat (1001 on ``seat-1``) answered with the company ringing."""
    ticket = CallbackTicket("r1", "02162345678", attempt, 900.0)
    fields: dict[str, Any] = {"on_hold": False, "callback": ticket, "channel": "callback-1"}
    if phase is P.CALLING_BACK:
        fields |= {"seat": SeatLeg("1001", "seat-1", answered=True), "bridge": "call-b1"}
        fields |= {"in_line": False}
    given = caller_in(P.RINGING if phase is P.CALLING_BACK else phase, **fields | situation)
    given.phase = phase
    return given


@dataclass(frozen=True)
class Case:
    given: Caller
    event: CallEvent
    then: Phase
    actions: list[str]
    ctx: Context = field(default_factory=context)
    check: dict[str, object] = field(default_factory=dict)
    """Fields of the caller afterwards."""


def finish(*middle: str, outcome: str) -> list[str]:
    """The end of a call: timers, the caller's channel, ``middle``, the record, the word."""
    return [
        *TIMERS_CANCELLED,
        "hang up c1",
        *middle,
        f"record CallEnded {outcome}",
        "publish call-ended",
        "end",
    ]


def hung_up(*middle: str, outcome: str) -> list[str]:
    """The end of a call whose caller hung up: as :func:`finish`, but the caller's channel,
    already going, is not hung up again."""
    return [
        *TIMERS_CANCELLED,
        *middle,
        f"record CallEnded {outcome}",
        "publish call-ended",
        "end",
    ]


PBX_LOST_BEFORE_THE_LINE = [
    *TIMERS_CANCELLED,
    "record CallbackRequested pbx-lost",
    "BookCallback c1 enterprise 02162345678 1000.0 None pbx-lost",
    "publish callback-booked",
    "record CallEnded pbx-lost",
    "publish call-ended",
    "end",
]
"""Asterisk lost under a caller not yet in the line: called back in their turn."""
TO_ASTERISK = [
    "set HOTLINE_QUEUE=enterprise",
    "set HOTLINE_ARRIVED=1000.000",
    "to Asterisk's queue",
    "end",
]
SENT_OFF = [
    "cancel announce",
    "cancel max-wait",
    "LeaveLine enterprise",
    "publish caller-left",
    "record CallbackRequested max-wait",
    "BookCallback c1 enterprise 02162345678 1000.0 None max-wait",
    "publish callback-booked",
    "no music",
    "play max-wait (send-off)",
    "wake prompt-limit at 1040",
]
CLOSED_ON_ARRIVAL = [
    "cancel announce",
    "cancel max-wait",
    "record CallbackRequested closed",
    "BookCallback c1 enterprise 02162345678 1000.0 None closed",
    "publish callback-booked",
    "no music",
    "play closed (send-off)",
    "wake prompt-limit at 1040",
]
"""A new caller out of the queue's hours (the front door answered it)."""
CUT_WHILE_DIALLING = [
    *TIMERS_CANCELLED,
    "hang up callback-1",
    "stop ringback",
    "hang up seat-1",
    "release 1001",
    "destroy bridge",
    "record CallbackAttemptEnded interrupted",
    "RebookCallback r1 1010.0 False",
    "end",
]
"""A call-back cut short by the hotline while the company rang: every leg let go, due again."""
ASKED = ["MarkSurveying True", "play survey (survey)", "wake prompt-limit at 1040"]
ASKED_AGAIN = ["cancel survey-key", "play survey (survey)", "wake prompt-limit at 1040"]
RINGING_TRANSFER = transfer_in(TransferState.RINGING, ringback="tone-1")
CONNECTED_TRANSFER = transfer_in(TransferState.CONNECTED)
ORDERED_TRANSFER = transfer_in(
    TransferState.ORDERED, specialist_channel=None, message_pending=True, attempt=2
)

ROWS: dict[str, Case] = {
    # --- arriving
    "a new caller while Redis is away goes on in Asterisk's queue": Case(
        caller_in(P.ARRIVING, answered_by_front_door=False),
        Arrived(),
        P.ENDED,
        [
            "record CallEntered",
            "answer c1",
            "publish caller-to-asterisk-queue",
            *TO_ASTERISK,
        ],
        context(store_ok=False),
    ),
    "a new caller while the app is behind goes on in Asterisk's queue": Case(
        caller_in(P.ARRIVING),
        Arrived(),
        P.ENDED,
        ["record CallEntered", "publish caller-to-asterisk-queue", *TO_ASTERISK],
        context(app_behind=True),
    ),
    "a caller Asterisk's queue sent back is served however behind the app is": Case(
        caller_in(P.ARRIVING, from_asterisk_queue=True, arrival_noted=True),
        Arrived(),
        P.WAITING,
        [
            "record CallEntered",
            "CancelCallback 02162345678",
            "JoinLine enterprise 1000.0 None",
            "music",
            "wake announce at 1003",
            "wake max-wait at 1600",
        ],
        context(app_behind=True),
    ),
    "the app behind and the queue closed: the closed message": Case(
        caller_in(P.ARRIVING),
        Arrived(),
        P.SENDING_OFF,
        ["record CallEntered", *CLOSED_ON_ARRIVAL],
        context(closed=("enterprise",), app_behind=True),
    ),
    "a new caller out of hours hears the closed message": Case(
        caller_in(P.ARRIVING),
        Arrived(),
        P.SENDING_OFF,
        ["record CallEntered", *CLOSED_ON_ARRIVAL],
        context(closed=("enterprise",), store_ok=False),
        {"outcome": CallOutcome.CLOSED},
    ),
    "a new caller takes a place in the line with music": Case(
        caller_in(P.ARRIVING, answered_by_front_door=False),
        Arrived(),
        P.WAITING,
        [
            "record CallEntered",
            "answer c1",
            "CancelCallback 02162345678",
            "JoinLine enterprise 1000.0 None",
            "music",
            "set HOTLINE_ARRIVED=1000.000",
            "wake announce at 1003",
            "wake max-wait at 1600",
        ],
        check={"in_line": True, "on_hold": True, "outcome": CallOutcome.ABANDONED},
    ),
    "a new caller whose arrival the front door noted: not written again": Case(
        caller_in(P.ARRIVING, arrival_noted=True),
        Arrived(),
        P.WAITING,
        [
            "record CallEntered",
            "CancelCallback 02162345678",
            "JoinLine enterprise 1000.0 None",
            "music",
            "wake announce at 1003",
            "wake max-wait at 1600",
        ],
    ),
    "a new caller on hold since the dialplan: the music goes on, not started again": Case(
        caller_in(P.ARRIVING, arrival_noted=True, dialplan_music=True),
        Arrived(),
        P.WAITING,
        [
            "record CallEntered",
            "CancelCallback 02162345678",
            "JoinLine enterprise 1000.0 None",
            "wake announce at 1003",
            "wake max-wait at 1600",
        ],
        check={"on_hold": True, "dialplan_music": False},
    ),
    # --- the recording notice
    "a new caller on a recorded line hears the notice first, not yet in line": Case(
        caller_in(P.ARRIVING, dialplan_music=True),
        Arrived(),
        P.NOTICE,
        [
            "record CallEntered",
            "no music",
            "play recording-notice (notice)",
            "wake prompt-limit at 1040",
        ],
        context(recording=True, notice=True),
        {"in_line": False, "dialplan_music": False},
    ),
    "a recorded line without the notice: straight into the line": Case(
        caller_in(P.ARRIVING, arrival_noted=True, dialplan_music=True),
        Arrived(),
        P.WAITING,
        [
            "record CallEntered",
            "CancelCallback 02162345678",
            "JoinLine enterprise 1000.0 None",
            "wake announce at 1003",
            "wake max-wait at 1600",
        ],
        context(recording=True, notice=False),
    ),
    "a call-back's company hears no notice (it called nobody)": Case(
        attempt_in(P.ARRIVING),
        Arrived(),
        P.WAITING,
        ["JoinLine enterprise 1000.0 None", "publish callback-waiting"],
        context(recording=True, notice=True),
    ),
    "the notice over: into the line at the caller's arrival": Case(
        caller_in(P.NOTICE, joined=1000.0),
        PromptEnded(Purpose.NOTICE),
        P.WAITING,
        AFTER_THE_NOTICE,
        context(recording=True, notice=True),
        {"in_line": True, "on_hold": True, "outcome": CallOutcome.ABANDONED},
    ),
    "a notice that does not end in time: into the line all the same": Case(
        caller_in(P.NOTICE),
        TimerDue(Timer.PROMPT_LIMIT),
        P.WAITING,
        AFTER_THE_NOTICE,
        context(recording=True, notice=True),
    ),
    "a caller who hangs up during the notice abandoned the call": Case(
        caller_in(P.NOTICE),
        CallerHungUp(),
        P.ENDED,
        hung_up(outcome="abandoned"),
        context(recording=True, notice=True),
    ),
    "Asterisk lost during the notice: the caller is called back in their turn": Case(
        caller_in(P.NOTICE),
        PbxLost(),
        P.ENDED,
        PBX_LOST_BEFORE_THE_LINE,
        context(recording=True, notice=True),
    ),
    "a new caller on hold since the dialplan, out of hours: the music stops": Case(
        caller_in(P.ARRIVING, dialplan_music=True),
        Arrived(),
        P.SENDING_OFF,
        ["record CallEntered", *CLOSED_ON_ARRIVAL],
        context(closed=("enterprise",)),
    ),
    "a connected call taken over goes on talking": Case(
        caller_in(P.ARRIVING, seat=SeatLeg("1001", "seat-1", True), bridge="call-b1"),
        Resumed(),
        P.TALKING,
        [],
    ),
    "a call taken over while its transfer rang drops the dial": Case(
        caller_in(P.ARRIVING, bridge="call-b1", transfer=RINGING_TRANSFER),
        Resumed(),
        P.TALKING,
        [
            "stop ringback",
            "hang up spec-1",
            "record DialEnded failed",
            "record TransferDecided failed",
            "save cancelled",
        ],
        check={"transfer": None},
    ),
    # --- waiting
    "a seat offered to a waiting caller is rung": Case(
        caller_in(P.WAITING),
        SeatOffered("1001"),
        P.RINGING,
        ["record SeatRung", "publish seat-ringing", "dial seat PJSIP/1001"],
        check={"seat": SeatLeg("1001", f"{LegKind.SEAT.value}-c1-new"), "tried": {"1001"}},
    ),
    "a seat told twice is in hand already": Case(
        caller_in(P.WAITING, tried={"1001"}), SeatOffered("1001"), P.WAITING, []
    ),
    "the maximum wait: a message and a call-back request": Case(
        caller_in(P.WAITING),
        TimerDue(Timer.MAX_WAIT),
        P.SENDING_OFF,
        SENT_OFF,
        check={"outcome": CallOutcome.MAX_WAIT, "in_line": False},
    ),
    "time to say how many are ahead": Case(
        caller_in(P.WAITING),
        TimerDue(Timer.ANNOUNCE),
        P.WAITING,
        ["no music", "AnnouncePosition enterprise True", "wake announce at 1040"],
        check={"announcing": True},
    ),
    "the last announcement still plays: look again shortly": Case(
        caller_in(P.WAITING, announcing=True),
        TimerDue(Timer.ANNOUNCE),
        P.WAITING,
        ["wake announce at 1011"],
    ),
    "every seat tried: a new round": Case(
        caller_in(P.WAITING, tried={"1001", "1002"}),
        TimerDue(Timer.NEW_ROUND),
        P.WAITING,
        ["NewRound enterprise"],
        check={"tried": set()},
    ),
    "Redis lost while waiting: on to Asterisk's queue": Case(
        caller_in(P.WAITING),
        StoreLost(),
        P.ENDED,
        [*TIMERS_CANCELLED, "no music", "publish caller-to-asterisk-queue", *TO_ASTERISK],
        check={"in_line": False},
    ),
    "a waiting caller whose place went takes it again": Case(
        caller_in(P.WAITING), PlaceLost(), P.WAITING, ["JoinLine enterprise 1000.0 None"]
    ),
    # --- ringing
    "the seat answers: one bridge": Case(
        caller_in(P.RINGING),
        SeatAnswered("seat-1"),
        P.TALKING,
        [
            "AnsweredLine enterprise",
            "cancel announce",
            "cancel max-wait",
            "cancel new-round",
            "bridge c1 seat-1",
            "record SeatAttemptEnded answered",
            "record CallAnswered",
            "publish caller-answered",
        ],
        check={"bridge": "call-b2", "on_hold": False, "in_line": False},
    ),
    "the seat answers on a recorded line: the call's bridge recorded from the answer": Case(
        caller_in(P.RINGING),
        SeatAnswered("seat-1"),
        P.TALKING,
        [
            "AnsweredLine enterprise",
            "cancel announce",
            "cancel max-wait",
            "cancel new-round",
            "bridge c1 seat-1",
            "StartRecording call-b2 c1",
            "record SeatAttemptEnded answered",
            "record CallAnswered",
            "publish caller-answered",
        ],
        context(recording=True),
    ),
    "a seat that rings out is paused": Case(
        caller_in(P.RINGING),
        SeatNotAnswered("seat-1", 19),
        P.WAITING,
        [
            "record SeatAttemptEnded no-answer",
            "release 1001 paused no-answer (caller stays in enterprise)",
        ],
        check={"seat": None},
    ),
    "a seat that turns the call down is skipped": Case(
        caller_in(P.RINGING),
        SeatNotAnswered("seat-1", 17),
        P.WAITING,
        ["record SeatAttemptEnded declined", "release 1001 (caller stays in enterprise)"],
    ),
    "a seat that cannot be rung rests": Case(
        caller_in(P.RINGING),
        SeatNotAnswered("seat-1", None),
        P.WAITING,
        [
            "record SeatAttemptEnded unreachable",
            "release 1001 after 30 s (caller stays in enterprise)",
        ],
    ),
    "the last seat did not answer: a new round soon": Case(
        caller_in(P.RINGING, tried={"1001", "1002"}),
        SeatNotAnswered("seat-1", 17),
        P.WAITING,
        [
            "record SeatAttemptEnded declined",
            "release 1001 (caller stays in enterprise)",
            "wake new-round at 1010.5",
        ],
    ),
    "the maximum wait came while a seat rang": Case(
        caller_in(P.RINGING, due={Timer.MAX_WAIT}),
        SeatNotAnswered("seat-1", 17),
        P.SENDING_OFF,
        [
            "record SeatAttemptEnded declined",
            "release 1001 (caller stays in enterprise)",
            *SENT_OFF,
        ],
        check={"due": set()},
    ),
    "an announcement came while a seat rang": Case(
        caller_in(P.RINGING, due={Timer.ANNOUNCE}),
        SeatNotAnswered("seat-1", 17),
        P.WAITING,
        [
            "record SeatAttemptEnded declined",
            "release 1001 (caller stays in enterprise)",
            "no music",
            "AnnouncePosition enterprise True",
            "wake announce at 1040",
        ],
    ),
    "a timer while a seat rings waits for the ring": Case(
        caller_in(P.RINGING),
        TimerDue(Timer.ANNOUNCE),
        P.RINGING,
        [],
        check={"due": {Timer.ANNOUNCE}},
    ),
    "a seat offered while another rings is given back": Case(
        caller_in(P.RINGING), SeatOffered("1002"), P.RINGING, ["release 1002"]
    ),
    # --- talking
    "the seat hangs up during a transfer: the transfer goes on": Case(
        caller_in(P.TALKING, transfer=RINGING_TRANSFER),
        SeatHungUp("seat-1"),
        P.TALKING,
        ["release 1001 after 10 s", "publish seat-left", "save ringing"],
        check={"seat": None},
    ),
    "the seat hangs up: the caller is asked to rate the call": Case(
        caller_in(P.TALKING),
        SeatHungUp("seat-1", 16),
        P.SURVEY,
        ["release 1001 after 10 s", "destroy bridge", *ASKED],
        check={"outcome": CallOutcome.SEAT_HANGUP, "survey_asks": 1, "seat": None},
    ),
    "the seat's phone vanished: seat-lost, and the survey": Case(
        caller_in(P.TALKING),
        SeatHungUp("seat-1", 44),
        P.SURVEY,
        ["release 1001 after 10 s", "destroy bridge", *ASKED],
        check={"outcome": CallOutcome.SEAT_LOST},
    ),
    "the seat hangs up and surveys are off: the end": Case(
        caller_in(P.TALKING),
        SeatHungUp("seat-1", 16),
        P.ENDED,
        finish(
            "hang up seat-1", "release 1001 after 10 s", "destroy bridge", outcome="seat-hangup"
        ),
        context(survey=False),
    ),
    "a key of an unfinished code": Case(caller_in(P.TALKING), SeatKeyed("*"), P.TALKING, []),
    "a citizen seat's #: the caller moves to the enterprise line in their place": Case(
        caller_in(P.TALKING, queue="citizen", seat=SeatLeg("2001", "seat-1", True)),
        SeatKeyed("#"),
        P.WAITING,
        [
            "publish caller-left",
            "destroy bridge",
            "hang up seat-1",
            "release 2001 after 10 s",
            "record CallMoved",
            "set HOTLINE_QUEUE=enterprise",
            "no music",
            "play moving (announcement)",
            "JoinLine enterprise 1000.0 None",
            "wake announce at 1013",
            "wake max-wait at 1610",
        ],
        check={"queue": "enterprise", "joined": NOW, "seat": None, "bridge": None},
    ),
    "a move to a queue that is closed: its closed message": Case(
        caller_in(P.TALKING, queue="citizen", seat=SeatLeg("2001", "seat-1", True)),
        SeatCommand(MoveCaller(), "api"),
        P.SENDING_OFF,
        [
            "publish caller-left",
            "destroy bridge",
            "hang up seat-1",
            "release 2001 after 10 s",
            "record CallMoved",
            "set HOTLINE_QUEUE=enterprise",
            "no music",
            "play moving (announcement)",
            "cancel announce",
            "cancel max-wait",
            "publish caller-left",
            "stop announcement",
            "record CallbackRequested closed",
            "BookCallback c1 enterprise 02162345678 1000.0 None closed",
            "publish callback-booked",
            "no music",
            "play closed (send-off)",
            "wake prompt-limit at 1040",
        ],
        context(closed=("enterprise",)),
    ),
    "a transfer is asked for: the first number is dialled": Case(
        caller_in(P.TALKING),
        SeatCommand(StartTransfer("101"), "console"),
        P.TALKING,
        [
            "record TransferRequested",
            "publish transfer-requested",
            "record DialStarted",
            "dial spec PJSIP/A",
            "save dialing",
        ],
    ),
    "a transfer for no matter is refused": Case(
        caller_in(P.TALKING),
        SeatCommand(StartTransfer("999"), "api"),
        P.TALKING,
        ["publish transfer-refused"],
        check={"transfer": None},
    ),
    "a second transfer while one rings is refused": Case(
        caller_in(P.TALKING, transfer=RINGING_TRANSFER),
        SeatCommand(StartTransfer("101"), "keypad"),
        P.TALKING,
        ["publish transfer-refused"],
    ),
    "the seat cancels the transfer": Case(
        caller_in(P.TALKING, transfer=RINGING_TRANSFER),
        SeatCommand(CancelTransfer(), "keypad"),
        P.TALKING,
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
        check={"transfer": None},
    ),
    "the seat leaves the three-way call": Case(
        caller_in(P.TALKING, transfer=CONNECTED_TRANSFER),
        SeatCommand(LeaveCall(), "keypad"),
        P.TALKING,
        ["hang up seat-1", "release 1001 after 10 s", "publish seat-left", "save handed-over"],
        check={"seat": None},
    ),
    "the specialist answers": Case(
        caller_in(P.TALKING, transfer=RINGING_TRANSFER),
        TransferStep(SpecialistAnswered("spec-1")),
        P.TALKING,
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
    ),
    "the specialist hangs up after the seat left: the caller rates the call": Case(
        caller_in(P.TALKING, seat=None, transfer=transfer_in(TransferState.HANDED_OVER)),
        TransferStep(SpecialistHungUp("spec-1", 16)),
        P.SURVEY,
        [
            "record SpecialistLeft",
            "publish transfer-ended",
            "save ended",
            "destroy bridge",
            *ASKED,
        ],
        check={"outcome": CallOutcome.SPECIALIST_HANGUP, "transfer": None},
    ),
    "the work order's message is over with the seat still there": Case(
        caller_in(P.TALKING, transfer=ORDERED_TRANSFER),
        PromptEnded(Purpose.TRANSFER_MESSAGE),
        P.TALKING,
        ["save ordered"],
        check={"transfer": None},
    ),
    "the work order's message is over and the seat has left: the end": Case(
        caller_in(P.TALKING, seat=None, transfer=ORDERED_TRANSFER),
        PromptEnded(Purpose.TRANSFER_MESSAGE),
        P.ENDED,
        ["save ordered", *finish("destroy bridge", outcome="transfer-failed")],
    ),
    "the caller hangs up on seat and specialist": Case(
        caller_in(P.TALKING, transfer=CONNECTED_TRANSFER),
        CallerHungUp(),
        P.ENDED,
        [
            "record SpecialistLeft",
            "hang up spec-1",
            "save ended",
            *hung_up(
                "hang up seat-1",
                "release 1001 after 10 s",
                "destroy bridge",
                outcome="caller-hangup",
            ),
        ],
    ),
    # --- the last words, the survey, the thanks
    "the closed message is over: the end": Case(
        caller_in(P.SENDING_OFF),
        PromptEnded(Purpose.SEND_OFF),
        P.ENDED,
        finish(outcome="closed"),
    ),
    "the closed message takes too long: the end": Case(
        caller_in(P.SENDING_OFF),
        TimerDue(Timer.PROMPT_LIMIT),
        P.ENDED,
        finish(outcome="closed"),
    ),
    "the survey's question is over: the time for a key": Case(
        caller_in(P.SURVEY),
        PromptEnded(Purpose.SURVEY),
        P.SURVEY,
        ["wake survey-key at 1018"],
    ),
    "a rating key: recorded, the thanks play": Case(
        caller_in(P.SURVEY),
        CallerKeyed("1"),
        P.THANKS,
        [
            "stop survey",
            "cancel survey-key",
            "record CallRated satisfied",
            "publish rated",
            "MarkSurveying False",
            "play survey-thanks (thanks)",
            "wake prompt-limit at 1040",
        ],
    ),
    "a key that is no rating: asked again": Case(
        caller_in(P.SURVEY),
        CallerKeyed("7"),
        P.SURVEY,
        ["stop survey", *ASKED_AGAIN],
        check={"survey_asks": 2},
    ),
    "a wrong key once more: no rating, the end": Case(
        caller_in(P.SURVEY, survey_asks=2),
        CallerKeyed("7"),
        P.ENDED,
        [
            "stop survey",
            "record CallRated no-answer",
            "publish rated",
            "MarkSurveying False",
            *finish(outcome="seat-hangup"),
        ],
    ),
    "no key: asked again": Case(
        caller_in(P.SURVEY), TimerDue(Timer.SURVEY_KEY), P.SURVEY, ASKED_AGAIN
    ),
    "no key again: no rating, the end": Case(
        caller_in(P.SURVEY, survey_asks=2),
        TimerDue(Timer.SURVEY_KEY),
        P.ENDED,
        [
            "record CallRated no-answer",
            "publish rated",
            "MarkSurveying False",
            *finish(outcome="seat-hangup"),
        ],
    ),
    "the thanks are over: the end": Case(
        caller_in(P.THANKS),
        PromptEnded(Purpose.THANKS),
        P.ENDED,
        finish(outcome="seat-hangup"),
    ),
    "the thanks take too long: the end": Case(
        caller_in(P.THANKS),
        TimerDue(Timer.PROMPT_LIMIT),
        P.ENDED,
        finish(outcome="seat-hangup"),
    ),
    # --- hanging up, whatever the phase
    "the caller hangs up while waiting: abandoned": Case(
        caller_in(P.WAITING),
        CallerHungUp(),
        P.ENDED,
        hung_up("LeaveLine enterprise", "publish caller-left", outcome="abandoned"),
    ),
    "the caller hangs up while a seat rings": Case(
        caller_in(P.RINGING),
        CallerHungUp(),
        P.ENDED,
        [
            "record SeatAttemptEnded caller-left",
            *hung_up(
                "hang up seat-1",
                "release 1001",
                "LeaveLine enterprise",
                "publish caller-left",
                outcome="abandoned",
            ),
        ],
    ),
    "the caller hangs up during the survey": Case(
        caller_in(P.SURVEY),
        CallerHungUp(),
        P.ENDED,
        ["MarkSurveying False", *hung_up(outcome="seat-hangup")],
    ),
    "the caller hangs up during the thanks": Case(
        caller_in(P.THANKS), CallerHungUp(), P.ENDED, hung_up(outcome="seat-hangup")
    ),
    "the caller hangs up during the closed message": Case(
        caller_in(P.SENDING_OFF), CallerHungUp(), P.ENDED, hung_up(outcome="closed")
    ),
    "a call that breaks ends as failed": Case(
        caller_in(P.RINGING),
        CallBroken("bridge"),
        P.ENDED,
        finish(
            "hang up seat-1",
            "release 1001",
            "LeaveLine enterprise",
            "publish caller-left",
            outcome="failed",
        ),
    ),
    # --- whatever the phase
    "a seat offered after the end is given back": Case(
        caller_in(P.ENDED, tried={"1001"}), SeatOffered("1001"), P.ENDED, ["release 1001"]
    ),
    "an announcement starts": Case(
        caller_in(P.WAITING),
        PromptStarted(Purpose.ANNOUNCEMENT, "ahead-3"),
        P.WAITING,
        ["publish caller-announced"],
    ),
    "an announcement ends: the music again": Case(
        caller_in(P.WAITING, announcing=True),
        PromptEnded(Purpose.ANNOUNCEMENT),
        P.WAITING,
        ["music"],
        check={"announcing": False},
    ),
    "an announcement ends after a seat answered: no music": Case(
        caller_in(P.TALKING, announcing=True), PromptEnded(Purpose.ANNOUNCEMENT), P.TALKING, []
    ),
    # --- call-backs promised
    "a waiting caller keys 1: the call-back keeps their place, they are told and let go": Case(
        caller_in(P.WAITING),
        CallerKeyed("1"),
        P.SENDING_OFF,
        [
            "cancel announce",
            "cancel max-wait",
            "LeaveLine enterprise",
            "publish caller-left",
            "record CallbackRequested callback",
            "BookCallback c1 enterprise 02162345678 1000.0 None callback",
            "publish callback-booked",
            "no music",
            "play callback-noted (send-off)",
            "wake prompt-limit at 1040",
        ],
        check={"outcome": CallOutcome.CALLBACK, "in_line": False},
    ),
    "with call-backs off the maximum wait asks the caller to call again": Case(
        caller_in(P.WAITING),
        TimerDue(Timer.MAX_WAIT),
        P.SENDING_OFF,
        [
            "cancel announce",
            "cancel max-wait",
            "LeaveLine enterprise",
            "publish caller-left",
            "no music",
            "play max-wait-call-again (send-off)",
            "wake prompt-limit at 1040",
        ],
        context(callbacks=False),
    ),
    "a caller whose number cannot be dialled is not promised a call-back when closed": Case(
        caller_in(P.ARRIVING, callback_number=None),
        Arrived(),
        P.SENDING_OFF,
        [
            "record CallEntered",
            "cancel announce",
            "cancel max-wait",
            "no music",
            "play closed-call-again (send-off)",
            "wake prompt-limit at 1040",
        ],
        context(closed=("enterprise",)),
    ),
    # --- a call-back's attempt
    "a call-back's turn: into the line with the first arrival, nothing played": Case(
        attempt_in(P.ARRIVING),
        Arrived(),
        P.WAITING,
        ["JoinLine enterprise 1000.0 None", "publish callback-waiting"],
        check={"in_line": True, "on_hold": False, "joined": NOW},
    ),
    "a call-back's seat rings out past the maximum wait: the next seat, no send-off": Case(
        attempt_in(P.RINGING, joined=NOW - 700),
        SeatNotAnswered("seat-1", 19),
        P.WAITING,
        [
            "record SeatAttemptEnded no-answer",
            "release 1001 paused no-answer (caller stays in enterprise)",
        ],
    ),
    "a call-back's seat answers: ringback for it, the company's number dialled out": Case(
        attempt_in(P.RINGING),
        SeatAnswered("seat-1"),
        P.CALLING_BACK,
        [
            "AnsweredLine enterprise",
            "cancel new-round",
            "record SeatAttemptEnded answered",
            "OpenBridge call-b2 seat-1",
            "ringback",
            "publish callback-dialling",
            "dial company PJSIP/02162345678@carrier",
        ],
        check={"bridge": "call-b2", "in_line": False},
    ),
    "the company answers: it joins the seat and the call-back is kept": Case(
        attempt_in(P.CALLING_BACK),
        CompanyAnswered(),
        P.TALKING,
        [
            "stop ringback",
            "bridge callback-1",
            "record CallbackReached",
            "record CallAnswered",
            "record CallbackAttemptEnded reached",
            "record CallbackClosed reached",
            "CloseCallback r1",
            "publish caller-answered",
        ],
    ),
    "the company is busy: the seat let go, the call-back due again after retry_after": Case(
        attempt_in(P.CALLING_BACK),
        CompanyMissed(17),
        P.ENDED,
        [
            "stop ringback",
            "hang up seat-1",
            "release 1001",
            "destroy bridge",
            "record CallbackAttemptEnded busy",
            "publish callback-not-reached",
            "RebookCallback r1 1310.0 True",
            "end",
        ],
    ),
    "the last attempt is not answered: the call-back is given up": Case(
        attempt_in(P.CALLING_BACK, attempt=3),
        CompanyMissed(19),
        P.ENDED,
        [
            "stop ringback",
            "hang up seat-1",
            "release 1001",
            "destroy bridge",
            "record CallbackAttemptEnded no-answer",
            "publish callback-not-reached",
            "record CallbackClosed given-up",
            "CloseCallback r1",
            "publish callback-given-up",
            "end",
        ],
    ),
    "no trunk goes out: the attempt is not reached, counted": Case(
        attempt_in(P.RINGING),
        SeatAnswered("seat-1"),
        P.ENDED,
        [
            "AnsweredLine enterprise",
            "cancel new-round",
            "record SeatAttemptEnded answered",
            "OpenBridge call-b2 seat-1",
            "ringback",
            "publish callback-dialling",
            "stop ringback",
            "hang up seat-1",
            "release 1001",
            "destroy bridge",
            "record CallbackAttemptEnded unreachable",
            "publish callback-not-reached",
            "RebookCallback r1 1310.0 True",
            "end",
        ],
        replace(context(), callbacks=CallbackRules(endpoint=None)),
    ),
    "the seat hangs up while the company rings: due again at once, not counted": Case(
        attempt_in(P.CALLING_BACK),
        SeatHungUp("seat-1", 16),
        P.ENDED,
        [
            "hang up callback-1",
            "stop ringback",
            "hang up seat-1",
            "release 1001",
            "destroy bridge",
            "record CallbackAttemptEnded seat-left",
            "RebookCallback r1 1010.0 False",
            "end",
        ],
    ),
    "a call-back that lost its place ends; booked again if still booked (not cancelled)": Case(
        attempt_in(P.WAITING),
        PlaceLost(),
        P.ENDED,
        [
            *TIMERS_CANCELLED,
            "stop ringback",
            "LeaveLine enterprise",
            "record CallbackAttemptEnded interrupted",
            "RebookCallback r1 1010.0 False",
            "end",
        ],
    ),
    "a call-back cancelled while it waits (the company called in): it leaves the line": Case(
        attempt_in(P.WAITING),
        CalledOff(),
        P.ENDED,
        [
            *TIMERS_CANCELLED,
            "stop ringback",
            "LeaveLine enterprise",
            "record CallbackAttemptEnded cancelled",
            "publish callback-called-off",
            "end",
        ],
    ),
    "a call-back cancelled while its seat rings: the seat is let go, not booked again": Case(
        attempt_in(P.RINGING),
        CalledOff(),
        P.ENDED,
        [
            *TIMERS_CANCELLED,
            "stop ringback",
            "hang up seat-1",
            "release 1001",
            "LeaveLine enterprise",
            "record CallbackAttemptEnded cancelled",
            "publish callback-called-off",
            "end",
        ],
    ),
    "a call-back cancelled while the company rings: both legs let go": Case(
        attempt_in(P.CALLING_BACK),
        CalledOff(),
        P.ENDED,
        [
            *TIMERS_CANCELLED,
            "hang up callback-1",
            "stop ringback",
            "hang up seat-1",
            "release 1001",
            "destroy bridge",
            "record CallbackAttemptEnded cancelled",
            "publish callback-called-off",
            "end",
        ],
    ),
    "Redis lost while a call-back waits: its place stays for the sweep to book again": Case(
        attempt_in(P.WAITING),
        StoreLost(),
        P.ENDED,
        ["record CallbackAttemptEnded interrupted", "end"],
    ),
    # --- Asterisk died and came back: the calls' channels went with it
    "Asterisk died while the caller waited: called back in their turn": Case(
        caller_in(P.WAITING),
        PbxLost(),
        P.ENDED,
        [
            *TIMERS_CANCELLED,
            "LeaveLine enterprise",
            "record CallbackRequested pbx-lost",
            "BookCallback c1 enterprise 02162345678 1000.0 None pbx-lost",
            "publish callback-booked",
            "record CallEnded pbx-lost",
            "publish call-ended",
            "end",
        ],
    ),
    "Asterisk died while the caller talked: called back with the seat, freed at once": Case(
        caller_in(P.TALKING),
        PbxLost(),
        P.ENDED,
        [
            *TIMERS_CANCELLED,
            "release 1001",
            "record CallbackRequested pbx-lost",
            "BookCallback c1 enterprise 02162345678 1000.0 None pbx-lost prefer 1001",
            "publish callback-booked",
            "record CallEnded pbx-lost",
            "publish call-ended",
            "end",
        ],
        check={"seat": None, "bridge": None},
    ),
    "Asterisk died during the survey: the call ends, no call-back (it was served)": Case(
        caller_in(P.SURVEY),
        PbxLost(),
        P.ENDED,
        ["MarkSurveying False", *finish(outcome="seat-hangup")],
    ),
    "Asterisk died: a call-back waiting for a seat had no channel to lose": Case(
        attempt_in(P.WAITING), PbxLost(), P.WAITING, []
    ),
    "Asterisk died while a call-back dialled the company: due again at once": Case(
        attempt_in(P.CALLING_BACK),
        PbxLost(),
        P.ENDED,
        CUT_WHILE_DIALLING,
    ),
    "a failure while the company rings: every leg let go, due again at once": Case(
        attempt_in(P.CALLING_BACK),
        CallBroken("failure"),
        P.ENDED,
        CUT_WHILE_DIALLING,
    ),
}

REFUSED: dict[str, tuple[Caller, CallEvent]] = {
    "an answer from a seat no longer rung": (caller_in(P.RINGING), SeatAnswered("seat-0")),
    "an answer while waiting": (caller_in(P.WAITING), SeatAnswered("seat-1")),
    "a seat's keys after the talk": (caller_in(P.SURVEY), SeatKeyed("#")),
    "a caller's key while talking": (caller_in(P.TALKING), CallerKeyed("1")),
    "a caller's key during the thanks": (caller_in(P.THANKS), CallerKeyed("2")),
    "a move from a queue that moves nobody": (
        caller_in(P.TALKING),
        SeatCommand(MoveCaller(), "keypad"),
    ),
    "a move during a transfer": (
        caller_in(P.TALKING, queue="citizen", transfer=RINGING_TRANSFER),
        SeatCommand(MoveCaller(), "keypad"),
    ),
    "a cancel with no transfer": (caller_in(P.TALKING), SeatCommand(CancelTransfer(), "api")),
    "leaving before the specialist answered": (
        caller_in(P.TALKING, transfer=RINGING_TRANSFER),
        SeatCommand(LeaveCall(), "keypad"),
    ),
    "Redis lost while talking": (caller_in(P.TALKING), StoreLost()),
    "Redis lost while a seat rings": (caller_in(P.RINGING), StoreLost()),
    "a place lost by a caller not in line": (caller_in(P.WAITING, in_line=False), PlaceLost()),
    "the maximum wait while talking": (caller_in(P.TALKING), TimerDue(Timer.MAX_WAIT)),
    "a new round while ringing": (caller_in(P.RINGING), TimerDue(Timer.NEW_ROUND)),
    "a hang-up after the end": (caller_in(P.ENDED), CallerHungUp()),
    "a seat hanging up that is not the call's": (caller_in(P.TALKING), SeatHungUp("seat-0")),
    "the survey's prompt ending during the thanks": (
        caller_in(P.THANKS),
        PromptEnded(Purpose.SURVEY),
    ),
    "a transfer step with no transfer": (
        caller_in(P.TALKING),
        TransferStep(SpecialistAnswered("spec-1")),
    ),
    "an arrival twice": (caller_in(P.WAITING), Arrived()),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_each_row_of_the_table(name: str) -> None:
    case = ROWS[name]
    caller = copy.deepcopy(case.given)  # the cases share their transfers: each gets its own
    actions = decide(caller, case.event, case.ctx)
    assert [describe(action) for action in actions] == case.actions
    assert caller.phase is case.then
    for attribute, value in case.check.items():
        assert getattr(caller, attribute) == value, attribute


@pytest.mark.parametrize("name", list(REFUSED))
def test_an_event_no_row_takes_changes_nothing(name: str) -> None:
    caller, event = copy.deepcopy(REFUSED[name])
    before = repr(caller)
    assert decide(caller, event, context()) == []
    assert repr(caller) == before


def test_a_caller_built_for_a_seat_that_answered_unseen_goes_on_from_the_answer() -> None:
    found = Caller("c1", "enterprise", 1000.0).ringing("1001", "seat-1")
    actions = decide(found, SeatAnswered("seat-1"), context())
    assert found.phase is P.TALKING and "bridge c1 seat-1" in map(describe, actions)
    assert found.tried == {"1001"} and found.joined == 1000.0


def test_a_call_on_a_node_is_recorded_with_its_node_and_keeps_its_call_back_card() -> None:
    """On a line of several PBX nodes, a call's first record names the node it is on (the
    journey shows it; a call-back's names the node that made it), and joining the line it
    keeps the call-back another node books if this node's machine goes."""
    for node in (None, "pbx-a"):
        ctx = replace(context(callbacks=True), node=node)
        actions = decide(caller_in(P.ARRIVING, callback_number="02150000001"), Arrived(), ctx)
        entered = next(a.record for a in actions if isinstance(a, Record))
        assert isinstance(entered, CallEntered) and entered.node == node
        cards = [a for a in actions if isinstance(a, KeepCallbackCard)]
        expected = [KeepCallbackCard("c1", "enterprise", "02150000001", 1000.0, None)]
        assert cards == (expected if node else [])


@pytest.mark.parametrize("event", [CallerHungUp(), PbxLost()], ids=["hung-up", "pbx-lost"])
def test_a_call_on_a_node_drops_its_call_back_card_when_it_ends(event: CallEvent) -> None:
    """Kept, the cards of ended calls filled Redis for half a day (24,000 in the first hour
    of the long run)."""
    for node in (None, "pbx-a"):
        ctx = replace(context(callbacks=True), node=node)
        caller = caller_in(P.WAITING, callback_number="02150000001")
        dropped = [a for a in decide(caller, event, ctx) if isinstance(a, DropCallbackCard)]
        assert dropped == ([DropCallbackCard("c1")] if node else [])
