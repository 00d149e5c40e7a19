"""Actions written as short sentences, so that a decision's expected output can be written
as data beside its test ("dial PJSIP/A", "record DialEnded busy", "save ringing")."""

from __future__ import annotations

from typing import Any

from core.actions import (
    AddToBridge,
    Answer,
    Bridge,
    CancelTimer,
    DestroyBridge,
    Dial,
    End,
    HangUp,
    Play,
    Publish,
    Record,
    Ringback,
    SetVariable,
    StartMusic,
    StopMusic,
    StopPlaying,
    ToAsteriskQueue,
    WakeAt,
)
from queues.steps import ReleaseSeat
from transfer.state import CountLive, SaveTransfer


def describe(action: object) -> str:
    """One action as a short sentence: its kind and what tells it apart."""
    match action:
        case Record(record):
            outcome = next(
                (
                    getattr(record, name)
                    for name in ("outcome", "reason", "rating")
                    if hasattr(record, name)
                ),
                None,
            )
            name = type(record).__name__
            return f"record {name} {_value(outcome)}" if outcome is not None else f"record {name}"
        case Publish(kind, _):
            return f"publish {kind}"
        case Dial(_, endpoint, _, _, kind):
            return f"dial {kind.value} {endpoint}"
        case SaveTransfer(status):
            return f"save {status.state.value}"
        case CountLive(_, outcome, _, _, number):
            return f"count {outcome} {number or 'request'}"
        case HangUp(channel):
            return f"hang up {channel}"
        case Ringback():
            return "ringback"
        case StopPlaying(purpose, _):
            return f"stop {purpose.value}"
        case AddToBridge(_, channel):
            return f"bridge {channel}"
        case Bridge(_, caller, seat_leg):
            return f"bridge {caller} {seat_leg}"
        case DestroyBridge():
            return "destroy bridge"
        case Play(prompt, purpose, _, _):
            return f"play {prompt} ({purpose.value})"
        case Answer(channel):
            return f"answer {channel}"
        case StartMusic():
            return "music"
        case StopMusic():
            return "no music"
        case SetVariable(_, name, value):
            return f"set {name}={value}"
        case WakeAt(timer, at):
            return f"wake {timer.value} at {at:g}"
        case CancelTimer(timer):
            return f"cancel {timer.value}"
        case ToAsteriskQueue():
            return "to Asterisk's queue"
        case End():
            return "end"
        case ReleaseSeat(seat, rest_for, pause, ringing_in):
            rest = f" after {rest_for:g} s" if rest_for else ""
            paused = f" paused {pause}" if pause else ""
            line = f" (caller stays in {ringing_in})" if ringing_in else ""
            return f"release {seat}{rest}{paused}{line}"
    return _queue_step(action)


OPTIONAL = ("prefer",)
"""Fields written only when they are set, as ``<field> <value>``."""


def _queue_step(action: Any) -> str:
    """The call's own steps (``call.steps``), by name and their fields."""
    name = type(action).__name__
    fields = list(getattr(action, "__dataclass_fields__", {}))
    if not fields:
        return name
    values = " ".join(_value(getattr(action, field)) for field in fields if field not in OPTIONAL)
    extra = " ".join(
        f"{field} {_value(getattr(action, field))}"
        for field in fields
        if field in OPTIONAL and getattr(action, field) is not None
    )
    return f"{name} {values} {extra}".rstrip()


def _value(value: object) -> str:
    return str(getattr(value, "value", value))
