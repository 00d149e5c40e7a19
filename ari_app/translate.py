"""ARI's events as the call's decisions understand them: a pure mapping.

An ARI event names a channel or a playback; what it means depends on what that channel or
playback is to the call (the caller, the seat being rung or talking, the specialist, the
ringing tone...). :func:`translate` takes the event and the call's :class:`CallView` and
returns the events of :mod:`call.events` (and of :mod:`transfer.machine`, wrapped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from call.events import (
    CalledOff,
    CallerHungUp,
    CallerKeyed,
    CallEvent,
    CompanyAnswered,
    CompanyMissed,
    PromptEnded,
    PromptStarted,
    SeatAnswered,
    SeatCommand,
    SeatHungUp,
    SeatKeyed,
    SeatNotAnswered,
    TransferStep,
)
from callback.ticket import CALL_OFF
from core.actions import Purpose
from transfer.keys import CancelTransfer, Command, LeaveCall, StartTransfer
from transfer.state import SpecialistAnswered, SpecialistHungUp

GONE = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})
"""Any of these first says a channel is going; the ones after it change nothing."""
COMMAND = "HotlineCommand"
"""The event type of a command sent to a call through the API (``ari_app.app``)."""


@dataclass(frozen=True)
class CallView:
    """What the channels and playbacks of one call are."""

    caller: str
    calling_out: bool = False
    """A call-back whose caller (the company) is being dialled and has not answered."""
    seat_leg: str | None = None
    seat_answered: bool = False
    specialist_leg: str | None = None
    playbacks: Mapping[str, Purpose] = field(default_factory=dict)


def translate(event: Mapping[str, Any], view: CallView) -> list[CallEvent]:
    """The call's events for one ARI event (none if it says nothing to the call)."""
    kind = str(event.get("type", ""))
    if kind == COMMAND:
        if event.get("action") == CALL_OFF:
            return [CalledOff()]
        command = command_from(event)
        return [SeatCommand(command, str(event.get("via") or "api"))] if command else []
    playback = (event.get("playback") or {}).get("id")
    if playback is not None:
        return _playback(kind, event, view.playbacks.get(str(playback)))
    channel = (event.get("channel") or {}).get("id")
    if channel is None:
        return []
    if channel == view.caller and view.calling_out:
        if kind == "StasisStart":
            return [CompanyAnswered()]
        return [CompanyMissed(_cause(event))] if kind in GONE else []
    if channel == view.caller:
        if kind in GONE:
            return [CallerHungUp()]
        if kind == "ChannelDtmfReceived":
            return [CallerKeyed(str(event.get("digit", "")))]
        return []
    if channel == view.seat_leg:
        return _seat(kind, event, channel, view.seat_answered)
    if channel == view.specialist_leg:
        if kind == "StasisStart":
            return [TransferStep(SpecialistAnswered(channel))]
        if kind in GONE:
            return [TransferStep(SpecialistHungUp(channel, _cause(event), sip_code(event)))]
    return []


def _seat(kind: str, event: Mapping[str, Any], leg: str, answered: bool) -> list[CallEvent]:
    if kind == "StasisStart" and not answered:
        return [SeatAnswered(leg)]
    if kind in GONE and answered:
        # the leg's end with its cause: a hang-up the phone asked for (a BYE) says why at
        # once; one Asterisk asked for itself (a soft hang-up: the phone's audio stopped)
        # says why only when the channel is destroyed, a moment later
        if kind == "ChannelHangupRequest" and not event.get("soft"):
            return [SeatHungUp(leg, _cause(event))]
        if kind == "ChannelDestroyed":
            return [SeatHungUp(leg, _cause(event))]
        return []
    if kind in GONE:
        return [SeatNotAnswered(leg, _cause(event))]
    if kind == "ChannelDtmfReceived" and answered:
        return [SeatKeyed(str(event.get("digit", "")))]
    return []


def _playback(kind: str, event: Mapping[str, Any], purpose: Purpose | None) -> list[CallEvent]:
    if purpose is None:
        return []
    if kind == "PlaybackStarted":
        media = str((event.get("playback") or {}).get("media_uri", ""))
        return [PromptStarted(purpose, media.rsplit("/", 1)[-1])]
    if kind == "PlaybackFinished":
        return [PromptEnded(purpose)]
    return []


def _cause(event: Mapping[str, Any]) -> int | None:
    cause = event.get("cause")
    return cause if isinstance(cause, int) else None


def sip_code(event: Mapping[str, Any]) -> int | None:
    """The SIP response that ended a leg (Asterisk 22.7+ puts it in ``tech_cause``)."""
    value = event.get("tech_cause")
    return value if isinstance(value, int) and 100 <= value < 700 else None


def command_from(event: Mapping[str, Any]) -> Command | None:
    """A command the API sent to a call (``hotline:commands``)."""
    action = event.get("action")
    if action == "transfer" and str(event.get("matter", "")).isdigit():
        return StartTransfer(str(event["matter"]))
    if action == "cancel":
        return CancelTransfer()
    if action == "leave":
        return LeaveCall()
    return None
