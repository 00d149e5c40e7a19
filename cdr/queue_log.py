"""Asterisk's own queue, counted: its queue log read into the call records.

While no application process serves (the app down, Redis away, the app behind), callers
wait in Asterisk's ``Queue()`` — the dialplan's fallback — and the app sees little or
nothing of them. Asterisk writes what happened in its queue log (``logger.conf``'s
``queue_log``): who entered (``ENTERQUEUE``), when a member answered and after how long
(``CONNECT``), who gave up (``ABANDON``, ``EXITWITHTIMEOUT``...), and how long they talked
(``COMPLETECALLER``/``COMPLETEAGENT``). The monitor reads it on from where it stopped, like
the CDR file, and this module applies each line to the same records the app keeps: a caller
the app never saw gets its call and its stay, marked as served by Asterisk's queue; a caller
the app had sent on there gets its stay closed by what Asterisk says, not "ended unobserved".
So an outage changes where a call was served, not whether it counted. A caller the monitor
takes back to the app (``TAKENBACK``, written just before) has not abandoned: the
``ABANDON`` its leaving logs is passed over. A call the queue put through was recorded by
the queue itself (``MONITOR_FILENAME`` in the dialplan): at its end its recording is
listed like the app's, or as failed if no file is there.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cdr.asterisk import appended
from cdr.models import CallLeg, QueueVisit
from cdr.rollups import Rollups
from core import clock
from core.outcomes import CallOutcome, VisitOutcome
from core.stores import rolled_back
from queues.fallback import TAKEN_BACK
from recording.files import asterisk_queue_name, file_of
from recording.models import Recording
from redlist.models import EnterprisePhone, RedListEntry
from redlist.numbers import normalise, safe_number

log = logging.getLogger(__name__)

FILE_NAME = "queue_log"
SERVED_BY = "asterisk-queue"
LEFT = {
    "ABANDON": (VisitOutcome.ABANDONED, CallOutcome.ABANDONED),
    "EXITWITHKEY": (VisitOutcome.ABANDONED, CallOutcome.ABANDONED),
    "EXITWITHTIMEOUT": (VisitOutcome.MAX_WAIT, CallOutcome.MAX_WAIT),
    "EXITEMPTY": (VisitOutcome.FAILED, CallOutcome.FAILED),
}
"""How a stay ends without a member answering, in the visit and in the call."""
COMPLETED = ("COMPLETECALLER", "COMPLETEAGENT")
"""How a stay a member answered ends."""
BATCH = 200
"""Queue-log lines applied in one transaction. A pass over a backlog in one transaction
held the rollup rows the app writes too: on PostgreSQL one of the two was rolled back
(deadlock) and the monitor read the whole backlog again and again (94 times in the long
run) while it grew."""
TRIES = 3
"""Times a batch is applied when the database rolls it back (a deadlock)."""
UNSEEN = (VisitOutcome.FAILED.value,)
"""What the app makes of a stay it could not see end (``ended-unobserved``): Asterisk's
word replaces it."""


def queue_log_file(asterisk_state: Path) -> Path:
    """Where the installation's Asterisk writes its queue log."""
    return asterisk_state / "log" / FILE_NAME


@dataclass(frozen=True)
class QueueEvent:
    """One line of the queue log: ``epoch|call|queue|agent|event|data...``."""

    at: datetime
    call: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    @classmethod
    def parse(cls, line: str) -> QueueEvent | None:
        """A line as an event, its moment on the installation's clock (a rehearsal or a test
        may have moved it; Asterisk writes real time); None for a line that is not one."""
        fields = line.rstrip("\n").split("|")
        if len(fields) < 5 or not fields[0].isdigit():
            return None
        at = clock.from_real_time(int(fields[0]))
        return cls(at, fields[1], fields[2], fields[3], fields[4], tuple(fields[5:]))

    def number(self, index: int) -> float:
        """The data field ``index`` as a number (0 if it is not one)."""
        try:
            return float(self.data[index])
        except (IndexError, ValueError):
            return 0.0


class AsteriskQueueRecords:
    """Applies queue-log events to the call records (calls, stays, rollups)."""

    def __init__(
        self,
        rollups: Rollups,
        seats: Mapping[str, str],
        area_code: str | None,
        recordings: Path | None = None,
        node: str | None = None,
    ) -> None:
        self.rollups = rollups
        self.node = node
        """The PBX node whose queue log this is (a line of several nodes): its calls' node."""
        self.seats = seats
        """A member's name (or interface) in the log → the seat."""
        self.area_code = area_code
        self.recordings = recordings
        """Where the queue's recordings are (the host's view); None: it records none."""
        self.taken_back: set[str] = set()

    def seat_of(self, agent: str) -> str | None:
        found = re.search(r"PJSIP/(\w+)", agent)
        return found.group(1) if found else self.seats.get(agent)

    def apply(self, session: Session, event: QueueEvent) -> None:
        """One event into the records (applying it twice changes nothing)."""
        if event.event == "ENTERQUEUE":
            self._entered(session, event)
        elif event.event == TAKEN_BACK:
            self.taken_back.add(event.call)
        elif event.event == "CONNECT":
            self._connected(session, event)
        elif event.event in LEFT:
            if event.event == "ABANDON" and event.call in self.taken_back:
                self.taken_back.discard(event.call)  # sent back to the app: not a give-up
                return
            self._left(session, event)
        elif event.event in COMPLETED:
            self._completed(session, event)
        if event.event in LEFT or event.event in COMPLETED:
            self.taken_back.discard(event.call)  # its stay is over, however it ended

    def _entered(self, session: Session, event: QueueEvent) -> None:
        if _leg(session, event.call) is not None:
            return  # the app's caller, sent on here: its call and stay are recorded already
        number = safe_number(event.data[1] if len(event.data) > 1 else "")
        enterprise, tier = _firm(session, normalise(number, self.area_code), event.at.date())
        try:
            with session.begin_nested():
                session.add(
                    CallLeg(
                        caller_channel=event.call, linkedid=event.call, caller_number=number,
                        called_number="", entered_at=event.at, queue=event.queue,
                        caller_kind="enterprise" if enterprise else "unknown",
                        enterprise_id=enterprise, tier=tier, queue_prio=0, node=self.node,
                    )
                )  # fmt: skip
                session.add(
                    QueueVisit(
                        caller_channel=event.call, queue=event.queue, tier=tier,
                        entered_at=event.at, served_by=SERVED_BY,
                    )
                )  # fmt: skip
        except IntegrityError:
            # the app recorded its caller a moment after the look above: left to the app.
            # Raised, it failed the whole pass, read again and again while the app kept
            # recording (429 times in the long run: 7,481 callers the queue put through
            # kept no seat in their records)
            return

    def _connected(self, session: Session, event: QueueEvent) -> None:
        seat = self.seat_of(event.agent)
        if self._close(session, event, VisitOutcome.ANSWERED, seat):
            leg = _leg(session, event.call)
            if leg is not None and leg.answered_at is None:
                leg.answered_at, leg.seat_id = event.at, seat
                leg.wait_seconds = (event.at - leg.entered_at).total_seconds()

    def _left(self, session: Session, event: QueueEvent) -> None:
        visit_outcome, call_outcome = LEFT[event.event]
        if self._close(session, event, visit_outcome, None):
            leg = _leg(session, event.call)
            if leg is not None and leg.ended_at is None:
                leg.ended_at, leg.outcome = event.at, call_outcome.value

    def _completed(self, session: Session, event: QueueEvent) -> None:
        leg = _leg(session, event.call)
        if leg is None or leg.answered_at is None:
            return
        caller = event.event == "COMPLETECALLER"
        outcome = CallOutcome.CALLER_HANGUP if caller else CallOutcome.SEAT_HANGUP
        if leg.ended_at is None:
            leg.ended_at, leg.outcome, leg.talk_seconds = event.at, outcome.value, event.number(1)
            if leg.seat_id and leg.queue:
                seat, answered = leg.seat_id, leg.answered_at
                self.rollups.talked(session, leg.queue, seat, answered, leg.talk_seconds)
        elif leg.outcome == CallOutcome.ENDED_UNOBSERVED.value:  # the app closed it unseen
            leg.outcome, leg.talk_seconds = outcome.value, event.number(1)
        self._recorded(session, event.call, leg.answered_at)

    def _recorded(self, session: Session, call: str, answered: datetime) -> None:
        """The recording the queue made of a call it put through, once the call is over."""
        if self.recordings is None:
            return
        name = asterisk_queue_name(call)
        listed = select(Recording.id).where(
            Recording.caller_channel == call, Recording.started_at == answered
        )
        if session.execute(listed).first():
            return
        if file_of(self.recordings, name).exists():
            session.add(Recording(caller_channel=call, name=name, started_at=answered,
                                  state="recorded"))  # fmt: skip
            return
        session.add(Recording(caller_channel=call, started_at=answered, state="failed",
                              reason="Asterisk's queue made no file"))  # fmt: skip

    def _close(
        self, session: Session, event: QueueEvent, outcome: VisitOutcome, seat: str | None
    ) -> bool:
        """End the caller's stay in this queue as Asterisk says: the open one, or one the app
        closed unseen (its count taken back). Whether there was one."""
        visit = (
            session.execute(
                select(QueueVisit)
                .where(
                    QueueVisit.caller_channel == event.call,
                    QueueVisit.queue == event.queue,
                    or_(QueueVisit.left_at.is_(None), QueueVisit.outcome.in_(UNSEEN)),
                )
                .order_by(QueueVisit.id.desc())
            )
            .scalars()
            .first()
        )
        if visit is None:
            return False
        if visit.left_at is not None:  # the app closed it unseen: that count is taken back
            self.rollups.visit_ended(
                session, visit.queue, visit.tier, visit.entered_at,
                str(visit.outcome), visit.wait_seconds or 0.0, sign=-1,
            )  # fmt: skip
        wait = (event.at - visit.entered_at).total_seconds()
        visit.left_at, visit.outcome, visit.seat_id = event.at, outcome.value, seat
        visit.wait_seconds, visit.served_by = wait, SERVED_BY
        self.rollups.visit_ended(session, visit.queue, visit.tier, visit.entered_at, outcome, wait)
        return True


def ingest(
    sessions: sessionmaker[Session],
    path: Path,
    records: AsteriskQueueRecords,
    batch: int = BATCH,
) -> int:
    """Apply what Asterisk appended to its queue log since the last pass, ``batch`` lines
    at a time, each batch with the read mark past it in one transaction; how many events."""
    new = appended(sessions, path)
    applied = 0
    for start in range(0, len(new.lines), batch):
        lines = new.lines[start : start + batch]
        events = []
        for line_number, line in lines:
            event = QueueEvent.parse(line)
            if event is None:
                if line.strip():
                    log.warning("skipped %s line %d: not a queue-log event", path.name, line_number)
                continue
            events.append(event)
        end = new.ends[start + len(lines) - 1]
        _apply(sessions, records, events, functools.partial(new.note, offset=end))
        applied += len(events)
    return applied


def _apply(
    sessions: sessionmaker[Session],
    records: AsteriskQueueRecords,
    events: list[QueueEvent],
    note: Callable[[Session], None],
) -> None:
    """One batch in one transaction, tried again when the database rolled it back."""
    for attempt in range(1, TRIES + 1):
        taken_back = set(records.taken_back)
        try:
            with sessions.begin() as session:
                for event in events:
                    records.apply(session, event)
                note(session)
            return
        except DBAPIError as error:
            records.taken_back = taken_back  # undone with the batch
            if attempt == TRIES or not rolled_back(error):
                raise
            log.warning("the database rolled back a batch of the queue log (%s): again", error)


def _leg(session: Session, call: str) -> CallLeg | None:
    return session.execute(
        select(CallLeg).where(CallLeg.caller_channel == call)
    ).scalar_one_or_none()


def _firm(session: Session, number: str | None, day: date) -> tuple[int | None, str | None]:
    """The registered company behind a number, and its red-list tier that day."""
    if number is None:
        return None, None
    enterprise = session.execute(
        select(EnterprisePhone.enterprise_id).where(EnterprisePhone.number == number)
    ).scalar_one_or_none()
    if enterprise is None:
        return None, None
    entry = session.execute(
        select(RedListEntry).where(RedListEntry.enterprise_id == enterprise)
    ).scalar_one_or_none()
    valid = (
        entry is not None
        and (entry.valid_from is None or entry.valid_from <= day)
        and (entry.valid_to is None or day <= entry.valid_to)
    )
    return enterprise, entry.tier if valid and entry is not None else None
