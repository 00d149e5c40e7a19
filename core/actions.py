"""What a decision may ask of the edges: the vocabulary between the pure parts of the hotline
(the queue's policy, the transfer's machine) and the code that talks to Asterisk, Redis and
SQL (``ari_app``).

A decision takes an event and returns a list of these; the edge carries them out in order.
Nothing here does anything: each action is a frozen record of what is to be done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Purpose(StrEnum):
    """Why something is played, so that its end can be told apart from other playbacks."""

    ANNOUNCEMENT = "announcement"
    """A message to a caller on hold (their place in the line, "moving you"): music after."""
    SEND_OFF = "send-off"
    """The last message of a call (closed, maximum wait reached): the call ends after it."""
    SURVEY = "survey"
    THANKS = "thanks"
    RINGBACK = "ringback"
    """The ringing tone in the call's bridge while a specialist's phone rings."""
    TRANSFER_MESSAGE = "transfer-message"
    NOTICE = "notice"
    GREETING = "greeting"
    """A return visit's first words to the company."""
    QUESTION = "question"
    """One of a return visit's questions."""
    """"This call may be recorded", before the caller joins the line."""
    """Told to caller and seat together: nobody could be reached, or the department is closed."""


class Timer(StrEnum):
    """The moments a call waits for."""

    ANNOUNCE = "announce"
    MAX_WAIT = "max-wait"
    NEW_ROUND = "new-round"
    """Every seat has been rung for the caller: after a pause, all may be tried again."""
    PROMPT_LIMIT = "prompt-limit"
    """A prompt that has not ended by now is taken as ended."""
    SURVEY_KEY = "survey-key"
    """The survey's question has been asked: the time left for a key."""
    ANSWER_KEY = "answer-key"
    """A return visit's question has been asked: the time left for a key."""


# --- Asterisk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    channel: str


@dataclass(frozen=True)
class HangUp:
    channel: str


@dataclass(frozen=True)
class StartMusic:
    channel: str


@dataclass(frozen=True)
class StopMusic:
    channel: str


@dataclass(frozen=True)
class Play:
    """Play one of the hotline's prompts (by name) to a channel or to everyone in a bridge."""

    prompt: str
    purpose: Purpose
    channel: str | None = None
    bridge: str | None = None


@dataclass(frozen=True)
class Ringback:
    """Play the ringing tone into a bridge (purpose :attr:`Purpose.RINGBACK`)."""

    bridge: str


@dataclass(frozen=True)
class StopPlaying:
    """Stop what plays for ``purpose``; ``playback`` names it if this process did not start it."""

    purpose: Purpose
    playback: str | None = None


@dataclass(frozen=True)
class SetVariable:
    channel: str
    name: str
    value: str


class LegKind(StrEnum):
    """What a leg the app dials is to its call. The value starts the leg's channel id
    (``ari_app.legs``) and is the first argument it enters the application with."""

    SEAT = "seat"
    SPECIALIST = "spec"
    COMPANY = "company"
    """A company called back: its leg is the call's caller (``call.calling_back``)."""
    VISIT = "visit"
    """A company called about its answered work order (``return_visit``): no seat."""


@dataclass(frozen=True)
class Dial:
    """Ring an endpoint on a new leg ``leg``; the leg enters the application when answered.
    The outcome comes back as an event: accepted, refused (no phone to ring), answered, or
    gone with its cause."""

    leg: str
    endpoint: str
    caller_id: str
    ring_seconds: int
    kind: LegKind


@dataclass(frozen=True)
class Bridge:
    """A new mixing bridge with the caller (off hold) and the seat's leg; the seat's keys
    reach the application and are not heard by the caller."""

    bridge: str
    caller: str
    seat_leg: str


@dataclass(frozen=True)
class OpenBridge:
    """A new mixing bridge with one channel (a call-back's seat, until the company answers);
    its keys reach the application."""

    bridge: str
    channel: str


@dataclass(frozen=True)
class AddToBridge:
    bridge: str
    channel: str


@dataclass(frozen=True)
class StartRecording:
    """Record everything said in the call's bridge (caller, seat, any specialist) into one
    file, until the bridge is destroyed. A recording that cannot be made raises an alert;
    the call goes on."""

    bridge: str
    caller: str


@dataclass(frozen=True)
class DestroyBridge:
    bridge: str


# --- timers, the bus, records ------------------------------------------------------------


@dataclass(frozen=True)
class WakeAt:
    """Deliver ``Timer`` back as an event at ``at`` (clock seconds); replaces an earlier one."""

    timer: Timer
    at: float


@dataclass(frozen=True)
class CancelTimer:
    timer: Timer


@dataclass(frozen=True)
class Publish:
    """An event on the bus (``core.events``)."""

    kind: str
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A record for SQL, handed to the process's writer (``core.writer``)."""

    record: object


@dataclass(frozen=True)
class ToAsteriskQueue:
    """Send the caller on to the dialplan's fallback: Asterisk's own queue, which serves it
    with its priority (and from which the app takes it back when it can serve it again)."""

    channel: str


@dataclass(frozen=True)
class End:
    """The call is over: nothing more will be asked for it."""


Action = (
    Answer
    | HangUp
    | StartMusic
    | StopMusic
    | Play
    | Ringback
    | StopPlaying
    | SetVariable
    | Dial
    | Bridge
    | OpenBridge
    | AddToBridge
    | StartRecording
    | DestroyBridge
    | WakeAt
    | CancelTimer
    | Publish
    | Record
    | ToAsteriskQueue
    | End
)
