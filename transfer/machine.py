"""The transfer's state machine: the one place that says which event moves a transfer from
which state to which.

A transfer belongs to its call, and the call's single task feeds it events one at a time,
so two events never race. Its state is written to Redis at every step (for the console,
the API and a process that takes the call over after a restart).

::

    requested --open--> dialing --dialed--> ringing --answered--> connected
        |                 ^   |                |   |                  |
        |closed           +---+--forward-------+   |cancel            |seat-gone
        v                     |give-up             v                  v
     ordered <----------------+-----------------cancelled         handed-over
                                                                      |
    caller-gone before an answer: abandoned;  specialist-gone or caller-gone: ended
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from redis.asyncio import Redis

from core import clock


class TransferState(StrEnum):
    REQUESTED = "requested"
    DIALING = "dialing"
    RINGING = "ringing"
    CONNECTED = "connected"
    HANDED_OVER = "handed-over"
    ORDERED = "ordered"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    ENDED = "ended"


class TransferEvent(StrEnum):
    OPEN = "open"
    """The department is in its working hours: dial."""
    CLOSED = "closed"
    """It is not: no number is dialled, a work order is made."""
    DIALED = "dialed"
    """Asterisk took the dial; the specialist's phone rings."""
    FORWARD = "forward"
    """That number failed (busy, no answer, unavailable...) and another one is left."""
    GIVE_UP = "give-up"
    """That number failed and none is left: a work order is made."""
    ANSWERED = "answered"
    CANCEL = "cancel"
    SEAT_GONE = "seat-gone"
    SPECIALIST_GONE = "specialist-gone"
    CALLER_GONE = "caller-gone"


S, E = TransferState, TransferEvent

TRANSITIONS: dict[tuple[TransferState, TransferEvent], TransferState] = {
    (S.REQUESTED, E.OPEN): S.DIALING,
    (S.REQUESTED, E.CLOSED): S.ORDERED,
    (S.REQUESTED, E.CALLER_GONE): S.ABANDONED,
    (S.DIALING, E.DIALED): S.RINGING,
    (S.DIALING, E.FORWARD): S.DIALING,
    (S.DIALING, E.GIVE_UP): S.ORDERED,
    (S.DIALING, E.CANCEL): S.CANCELLED,
    (S.DIALING, E.CALLER_GONE): S.ABANDONED,
    (S.DIALING, E.SEAT_GONE): S.DIALING,
    (S.RINGING, E.ANSWERED): S.CONNECTED,
    (S.RINGING, E.FORWARD): S.DIALING,
    (S.RINGING, E.GIVE_UP): S.ORDERED,
    (S.RINGING, E.CANCEL): S.CANCELLED,
    (S.RINGING, E.CALLER_GONE): S.ABANDONED,
    (S.RINGING, E.SEAT_GONE): S.RINGING,
    (S.CONNECTED, E.SEAT_GONE): S.HANDED_OVER,
    (S.CONNECTED, E.SPECIALIST_GONE): S.ENDED,
    (S.CONNECTED, E.CALLER_GONE): S.ENDED,
    (S.HANDED_OVER, E.SPECIALIST_GONE): S.ENDED,
    (S.HANDED_OVER, E.CALLER_GONE): S.ENDED,
}
"""Every allowed move. Anything else is refused (:class:`TransitionRefused`)."""

FINAL = frozenset({S.ORDERED, S.CANCELLED, S.ABANDONED, S.ENDED})
LIVE_SPECIALIST = frozenset({S.CONNECTED, S.HANDED_OVER})
TTL = 86400


class TransitionRefused(Exception):
    """An event that does not apply in the transfer's state (ignored and logged)."""


@dataclass
class TransferStatus:
    """Where one transfer stands: what the console shows, what Redis keeps."""

    request_id: int
    call: str
    matter: str
    department: str
    numbers: list[str]
    state: TransferState = TransferState.REQUESTED
    attempt: int = 0
    """How many numbers have been dialled (the one ringing is ``numbers[attempt - 1]``)."""
    specialist_channel: str | None = None
    ringback: str | None = None
    """The playback of the ringing tone in the call's bridge, while one plays."""
    order: str | None = None
    history: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TransferStatus:
        """A status as :func:`load` read it back."""
        names = {f for f in cls.__dataclass_fields__}
        fields = {key: value for key, value in data.items() if key in names}
        fields["state"] = TransferState(str(fields["state"]))
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def number(self) -> str | None:
        return self.numbers[self.attempt - 1] if 0 < self.attempt <= len(self.numbers) else None

    @property
    def numbers_left(self) -> bool:
        return self.attempt < len(self.numbers)

    def apply(self, event: TransferEvent) -> TransferState:
        """Move by ``event``; raises :class:`TransitionRefused` if it does not apply."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise TransitionRefused(
                f"{event.value} does not apply to a {self.state.value} transfer"
            )
        self.history.append(f"{self.state.value} --{event.value}--> {target.value}")
        self.state = target
        return target

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        data["number"] = self.number
        data["at"] = clock.time()
        return json.dumps(data)


def status_key(call: str) -> str:
    return f"hotline:transfer:{call}"


async def save(redis: Redis, status: TransferStatus) -> None:
    """Keep the transfer's status in Redis under its call (the latest transfer of a call)."""
    await redis.set(status_key(status.call), status.to_json(), ex=TTL)


async def load(redis: Redis, call: str) -> dict[str, object] | None:
    raw = await redis.get(status_key(call))
    if raw is None:
        return None
    data: dict[str, object] = json.loads(raw)
    return data
