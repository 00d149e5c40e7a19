"""A return visit's call as one table: the company is dialled through the trunk, greeted,
asked the three questions (:data:`return_visit.rules.QUESTIONS`) and thanked.

:func:`decide` takes the visit's situation (:class:`VisitCall`, changed in place), one event
and its :class:`VisitContext`, finds the first row of :data:`ROWS` for the phase and the
event whose guard holds, moves the phase and returns the row's actions (``core.actions``),
which ``ari_app.visits`` carries out. A key may come while a prompt plays (it stops it); a
wrong key or none asks the question again, once; a question still unanswered is passed
over. The call ends with one :class:`~return_visit.records.VisitCallEnded`: answered (at least
one answer), or not — then the next call is due, or the visit is given up.
Nothing here talks to Asterisk or SQL, reads the clock or waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.actions import (
    CancelTimer,
    Dial,
    End,
    HangUp,
    LegKind,
    Play,
    Publish,
    Purpose,
    Record,
    StopPlaying,
    Timer,
    WakeAt,
)
from core.clock import moment
from return_visit.records import VisitCallEnded
from return_visit.rules import QUESTIONS, Answer, AttemptOutcome, VisitRules, missed_outcome

ASKS = 2
"""Times a question is asked at most (a wrong key or none asks it again)."""
PROMPT_LIMIT = 30.0
"""Seconds after which a prompt whose end never came is taken as ended."""


class Phase(StrEnum):
    DIALLING = "dialling"
    GREETING = "greeting"
    ASKING = "asking"
    THANKING = "thanking"
    ENDED = "ended"


@dataclass
class VisitCall:
    """One call of one return visit: who is called, and what has been said so far."""

    visit_id: int
    attempt: int
    """This call's number among the visit's counted calls, from 1."""
    channel: str
    number: str
    due_by: datetime
    phase: Phase = Phase.DIALLING
    question: int = 0
    """The question asked now (an index into ``QUESTIONS``)."""
    asks: int = 0
    """Times it has been asked."""
    answers: dict[str, Answer] = field(default_factory=dict)
    started: float = 0.0


@dataclass(frozen=True)
class VisitContext:
    now: float
    rules: VisitRules
    caller_id: str
    """What the company sees: the hotline's number."""
    endpoint: str | None
    """How the number is dialled (``{number}`` in it); None: no trunk goes out."""


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The call is to be made now."""


@dataclass(frozen=True)
class Answered:
    """The company picked up (its leg entered the application)."""


@dataclass(frozen=True)
class Missed:
    """The company's leg went before it was answered, with the Q.850 cause."""

    cause: int | None = None


@dataclass(frozen=True)
class Keyed:
    digit: str


@dataclass(frozen=True)
class PromptEnded:
    purpose: Purpose


@dataclass(frozen=True)
class TimerDue:
    timer: Timer


@dataclass(frozen=True)
class HungUp:
    """The company hung up after answering."""


@dataclass(frozen=True)
class Cut:
    """The hotline lost the call: Asterisk went, or this process is stopping."""


VisitEvent = Started | Answered | Missed | Keyed | PromptEnded | TimerDue | HungUp | Cut
Action = Dial | Play | StopPlaying | HangUp | WakeAt | CancelTimer | Publish | Record | End
Steps = list[Action]


# --- guards ----------------------------------------------------------------------------------


def _any(_: VisitCall, __: VisitEvent, ___: VisitContext) -> bool:
    return True


def _way_out(_: VisitCall, __: VisitEvent, ctx: VisitContext) -> bool:
    return ctx.endpoint is not None


def _answer(call: VisitCall, event: VisitEvent) -> Answer | None:
    """What the key means to the question asked (None: nothing)."""
    assert isinstance(event, Keyed)
    return QUESTIONS[call.question][2].get(event.digit)


def _an_answer(call: VisitCall, event: VisitEvent, _: VisitContext) -> bool:
    return _answer(call, event) is not None


def _last_answer(call: VisitCall, event: VisitEvent, ctx: VisitContext) -> bool:
    return _an_answer(call, event, ctx) and call.question == len(QUESTIONS) - 1


def _question_asked(_: VisitCall, event: VisitEvent, __: VisitContext) -> bool:
    return isinstance(event, PromptEnded) and event.purpose is Purpose.QUESTION


def _asks_left(call: VisitCall, _: VisitEvent, __: VisitContext) -> bool:
    return call.asks < ASKS


def _more_questions(call: VisitCall, _: VisitEvent, __: VisitContext) -> bool:
    return call.question < len(QUESTIONS) - 1


def _some_answers(call: VisitCall, _: VisitEvent, __: VisitContext) -> bool:
    return bool(call.answers)


# --- steps -----------------------------------------------------------------------------------


def dial(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    assert ctx.endpoint is not None
    call.started = ctx.now
    endpoint = ctx.endpoint.format(number=call.number)
    return [
        Dial(call.channel, endpoint, ctx.caller_id, ctx.rules.ring_timeout, LegKind.VISIT),
        _publish(call, "visit-calling", attempt=call.attempt, number=call.number),
    ]


def no_way_out(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    call.started = ctx.now
    return _not_reached(call, ctx, AttemptOutcome.UNREACHABLE, None)


def greet(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    return [_play("visit-greeting", Purpose.GREETING, call), _limit(ctx, PROMPT_LIMIT)]


def ask(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    """Ask the question now due (from the start: stop what plays)."""
    call.asks += 1
    prompt = QUESTIONS[call.question][1]
    return [
        StopPlaying(Purpose.GREETING),
        StopPlaying(Purpose.QUESTION),
        _play(prompt, Purpose.QUESTION, call),
        _limit(ctx, PROMPT_LIMIT + ctx.rules.key_wait),
    ]


def wait_for_key(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    return [_limit(ctx, ctx.rules.key_wait)]


def next_question(call: VisitCall, event: VisitEvent, ctx: VisitContext) -> Steps:
    _note(call, event)
    return _move_on(call, ctx)


def skip_question(call: VisitCall, event: VisitEvent, ctx: VisitContext) -> Steps:
    """No answer to this one after asking twice: the next question."""
    return _move_on(call, ctx)


def thank(call: VisitCall, event: VisitEvent, ctx: VisitContext) -> Steps:
    """The last answer (or the last question passed over with some answered): the answers
    are recorded, and the company thanked."""
    if isinstance(event, Keyed):
        _note(call, event)
    return [
        StopPlaying(Purpose.QUESTION),
        _play("visit-thanks", Purpose.THANKS, call),
        _limit(ctx, PROMPT_LIMIT),
        _ended(call, ctx, AttemptOutcome.ANSWERED),
        _publish(call, "visit-answered", answers=dict(call.answers)),
    ]


def finish(call: VisitCall, _: VisitEvent, __: VisitContext) -> Steps:
    return [CancelTimer(Timer.ANSWER_KEY), HangUp(call.channel), End()]


def hung_up_answered(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    """The company hung up after answering some questions: what it said is kept."""
    return [
        CancelTimer(Timer.ANSWER_KEY),
        _ended(call, ctx, AttemptOutcome.ANSWERED),
        _publish(call, "visit-answered", answers=dict(call.answers)),
        End(),
    ]


def no_key(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    """Picked up but not one answer: counted as a call that found nobody."""
    return [HangUp(call.channel), *_not_reached(call, ctx, AttemptOutcome.NO_KEY, None)]


def not_reached(call: VisitCall, event: VisitEvent, ctx: VisitContext) -> Steps:
    assert isinstance(event, Missed)
    return _not_reached(call, ctx, missed_outcome(event.cause), event.cause)


def interrupted(call: VisitCall, _: VisitEvent, ctx: VisitContext) -> Steps:
    """The hotline lost the call: it is made again at once, not counted."""
    due = moment(ctx.now)
    return [
        CancelTimer(Timer.ANSWER_KEY),
        HangUp(call.channel),
        _ended(call, ctx, AttemptOutcome.INTERRUPTED, next_due=due, counted=False),
        End(),
    ]


# --- the table -------------------------------------------------------------------------------

Guard = Callable[[VisitCall, VisitEvent, VisitContext], bool]
Step = Callable[[VisitCall, VisitEvent, VisitContext], Steps]


@dataclass(frozen=True)
class Row:
    phases: tuple[Phase, ...]
    on: tuple[type, ...]
    when: Guard
    to: Phase | None
    step: Step


def _r(phases: Phase | tuple[Phase, ...], on: type | tuple[type, ...], when: Guard,
       to: Phase | None, step: Step) -> Row:  # fmt: skip
    return Row(
        phases if isinstance(phases, tuple) else (phases,),
        on if isinstance(on, tuple) else (on,),
        when,
        to,
        step,
    )


P = Phase
ON_THE_LINE = (P.GREETING, P.ASKING)
NO_ANSWER = (Keyed, TimerDue)
LIVE = (P.DIALLING, P.GREETING, P.ASKING)

ROWS: tuple[Row, ...] = (
    _r(P.DIALLING,   Started,      _way_out,         None,         dial),
    _r(P.DIALLING,   Started,      _any,             P.ENDED,      no_way_out),
    _r(P.DIALLING,   Answered,     _any,             P.GREETING,   greet),
    _r(P.DIALLING,   Missed,       _any,             P.ENDED,      not_reached),
    _r(P.GREETING,   PromptEnded,  _any,             P.ASKING,     ask),
    _r(P.GREETING,   TimerDue,     _any,             P.ASKING,     ask),
    _r(ON_THE_LINE,  Keyed,        _last_answer,     P.THANKING,   thank),
    _r(ON_THE_LINE,  Keyed,        _an_answer,       P.ASKING,     next_question),
    _r(P.GREETING,   Keyed,        _any,             None,         lambda *_: []),
    _r(P.ASKING,     PromptEnded,  _question_asked,  None,         wait_for_key),
    _r(P.ASKING,     NO_ANSWER,    _asks_left,       None,         ask),
    _r(P.ASKING,     NO_ANSWER,    _more_questions,  None,         skip_question),
    _r(P.ASKING,     NO_ANSWER,    _some_answers,    P.THANKING,   thank),
    _r(P.ASKING,     NO_ANSWER,    _any,             P.ENDED,      no_key),
    _r(P.THANKING,   PromptEnded,  _any,             P.ENDED,      finish),
    _r(P.THANKING,   TimerDue,     _any,             P.ENDED,      finish),
    _r(P.THANKING,   (HungUp, Cut), _any,            P.ENDED,      finish),
    _r(ON_THE_LINE,  HungUp,       _some_answers,    P.ENDED,      hung_up_answered),
    _r(ON_THE_LINE,  HungUp,       _any,             P.ENDED,      no_key),
    _r(LIVE,         Cut,          _any,             P.ENDED,      interrupted),
)  # fmt: skip
"""Every step a visit's call can take; an event no row takes changes nothing."""


def decide(call: VisitCall, event: VisitEvent, ctx: VisitContext) -> Steps:
    """What to do about ``event``: the first row for the phase and the event whose guard
    holds moves the phase and does its step."""
    for row in ROWS:
        if call.phase in row.phases and isinstance(event, row.on) and row.when(call, event, ctx):
            call.phase = row.to or call.phase
            return row.step(call, event, ctx)
    return []


# --- helpers ---------------------------------------------------------------------------------


def _note(call: VisitCall, event: VisitEvent) -> None:
    answer = _answer(call, event)
    assert answer is not None
    call.answers[QUESTIONS[call.question][0].value] = answer


def _move_on(call: VisitCall, ctx: VisitContext) -> Steps:
    call.question, call.asks = call.question + 1, 0
    return ask(call, Started(), ctx)


def _play(prompt: str, purpose: Purpose, call: VisitCall) -> Play:
    return Play(prompt, purpose, channel=call.channel)


def _limit(ctx: VisitContext, seconds: float) -> WakeAt:
    return WakeAt(Timer.ANSWER_KEY, ctx.now + seconds)


def _publish(call: VisitCall, kind: str, **details: object) -> Publish:
    return Publish(kind, {"visit": call.visit_id, **details})


def _ended(
    call: VisitCall,
    ctx: VisitContext,
    outcome: AttemptOutcome,
    cause: int | None = None,
    next_due: datetime | None = None,
    counted: bool = True,
) -> Record:
    return Record(
        VisitCallEnded(
            call.visit_id,
            call.attempt,
            call.channel,
            moment(call.started or ctx.now),
            moment(ctx.now),
            outcome.value,
            cause,
            tuple((question, _stored(answer)) for question, answer in call.answers.items()),
            next_due,
            counted,
        )
    )


def _stored(answer: Answer) -> str:
    return answer.value if not isinstance(answer, bool) else ("yes" if answer else "no")


def _not_reached(
    call: VisitCall, ctx: VisitContext, outcome: AttemptOutcome, cause: int | None
) -> Steps:
    """Nobody found: the next call is due after ``retry_after`` — or the visit given up."""
    due = ctx.rules.next_call(call.attempt, moment(ctx.now), call.due_by)
    kind = "visit-not-reached" if due is not None else "visit-given-up"
    return [
        CancelTimer(Timer.ANSWER_KEY),
        _ended(call, ctx, outcome, cause, due),
        _publish(call, kind, attempt=call.attempt, outcome=outcome.value),
        End(),
    ]
