"""A call as its decisions see it: its phase, the caller's situation, the settings and the
moment an event happens with, and what a decision may ask the edge to do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from call.events import Then
from callback.steps import CallbackStep
from callback.ticket import CallbackRules, CallbackTicket
from core.actions import LegKind, Publish, Timer
from core.outcomes import CallOutcome
from queues.steps import QueueStep
from redlist.tiers import RedListTier
from transfer.keys import SeatKeypad
from transfer.state import Route, TransferAction, TransferContext, TransferStatus


class Phase(StrEnum):
    """Where a call is; :data:`call.phases.ROWS` says how it moves from one to the next."""

    ARRIVING = "arriving"
    """Not decided about yet (a new caller, or a call a process takes over)."""
    NOTICE = "notice"
    """The caller hears that the call may be recorded; they join the line after it."""
    WAITING = "waiting"
    """In the line, on hold, no seat ringing."""
    RINGING = "ringing"
    """A seat offered to the caller is being rung."""
    CALLING_BACK = "calling-back"
    """A call-back: the seat answered and hears ringback; the company's phone rings."""
    TALKING = "talking"
    """A seat (and perhaps a specialist) is on the line with the caller."""
    SENDING_OFF = "sending-off"
    """The last message plays (closed, maximum wait)."""
    SURVEY = "survey"
    """The caller is asked to rate the call on the keypad."""
    THANKS = "thanks"
    """The caller rated the call; the thanks play."""
    ENDED = "ended"


# --- the settings a decision reads -----------------------------------------------------------


@dataclass(frozen=True)
class QueueRules:
    """A queue's settings as the decisions read them (from the site file)."""

    name: str
    seats: frozenset[str]
    ring_timeout: int = 15
    wrap_up: int = 10
    max_wait: int = 600
    announce_every: int = 30
    move_to: str | None = None


@dataclass(frozen=True)
class Context:
    """The moment an event happens and what the site says, as the edge hands them in."""

    now: float
    queues: Mapping[str, QueueRules]
    is_open: Callable[[str], bool]
    """Whether a queue takes calls now (its hours, holidays)."""
    new_leg: Callable[[LegKind, str], str]
    """A fresh channel id for a leg dialled for a caller."""
    new_bridge: Callable[[], str]
    survey: bool = True
    survey_wait: float = 8.0
    routes: Callable[[str], Route | None] = lambda matter: None
    """The transfer plan: where a matter goes."""
    transfer: Callable[[Caller], TransferContext] | None = None
    """The transfer's context for a call."""
    new_request: Callable[[], str] = lambda: ""
    """A fresh key for a transfer request."""
    store_ok: bool = True
    """Whether Redis (the lines, the seats) answers: without it no seat can be offered."""
    app_behind: bool = False
    """Whether the process is behind with its new callers (``ari_app.backlog``)."""
    callbacks: CallbackRules = field(default_factory=lambda: CallbackRules(enabled=False))
    """The site's call-backs (``[callbacks]``)."""
    recording: bool = False
    """Answered calls are recorded (``[recordings].enabled``)."""
    recording_notice: bool = False
    """Callers hear that the call may be recorded before they join the line."""
    node: str | None = None
    """The PBX node the call is on (a line of several nodes), for its record."""

    def rules(self, queue: str) -> QueueRules:
        return self.queues[queue]


# --- the caller -------------------------------------------------------------------------------


@dataclass
class SeatLeg:
    seat_id: str
    channel_id: str
    answered: bool = False


@dataclass
class Caller:
    """One caller's situation. The decisions change it as events come."""

    channel: str
    queue: str
    arrived: float
    """When the caller first arrived: their place in every line they join."""
    number: str = ""
    called: str = ""
    linkedid: str | None = None
    kind: str = "unknown"
    enterprise_id: int | None = None
    name: str = ""
    """The company's name, as the front door found it."""
    tier: RedListTier | None = None
    queue_prio: int = 0
    answered_by_front_door: bool = False
    dialplan_music: bool = False
    """The dialplan started music on hold before Stasis: the first wait goes on with it."""
    arrival_noted: bool = False
    """The channel carries the caller's arrival already (``HOTLINE_ARRIVED``)."""
    from_asterisk_queue: bool = False
    """Asterisk's queue had this caller (``HOTLINE_FALLBACK``); it is not sent there again."""
    joined: float = 0.0
    """When the caller joined the queue they are in now: the maximum wait counts from it."""
    phase: Phase = Phase.ARRIVING
    seat: SeatLeg | None = None
    tried: set[str] = field(default_factory=set)
    on_hold: bool = False
    in_line: bool = False
    announcing: bool = False
    due: set[Timer] = field(default_factory=set)
    """Timers that came while a seat rang: dealt with when the caller waits again."""
    bridge: str | None = None
    transfer: TransferStatus | None = None
    outcome: CallOutcome = CallOutcome.FAILED
    survey_asks: int = 0
    """How many times the caller has been asked to rate the call."""
    keypad: SeatKeypad = field(default_factory=SeatKeypad)
    callback_number: str | None = None
    """The caller's number as the line calls it back (normalised); None: it cannot be."""
    callback: CallbackTicket | None = None
    """This call is an attempt at a call-back: its caller is the company, dialled once a
    seat has answered (``call.calling_back``)."""

    def waited(self, now: float) -> float:
        return round(now - self.joined, 3)

    def connected(
        self, seat: SeatLeg | None, bridge: str, transfer: TransferStatus | None
    ) -> Caller:
        """This caller as a process taking the call over found it: connected in ``bridge``
        to its seat and/or a specialist (``Resumed`` goes on from there)."""
        return replace(self, seat=seat, bridge=bridge, transfer=transfer)

    def ringing(self, seat: str, leg: str) -> Caller:
        """This caller as a process taking the call over found it: waiting, with ``seat``
        rung on ``leg`` (whose answer, ``SeatAnswered``, nobody has seen yet)."""
        return replace(
            self,
            phase=Phase.RINGING,
            seat=SeatLeg(seat, leg),
            tried={seat},
            on_hold=True,
            in_line=True,
            joined=self.arrived,
        )


CallAction = TransferAction | QueueStep | CallbackStep
"""Everything a decision about a call may ask the edge to do."""


def publish(caller: Caller, kind: str, **details: object) -> Publish:
    """An event about this caller on the bus."""
    return Publish(kind, {"queue": caller.queue, "caller": caller.channel, **details})


Steps = list[CallAction | Then]
"""What a step of the call returns: actions for the edge, and events decided next."""
