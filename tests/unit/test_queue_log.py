"""Asterisk's queue log into the records: callers its own queue served while no app process
did count in the queue report with their wait and appear in the journeys as served there;
a caller the app had sent there has its stay closed as Asterisk says (even after the app
closed it unseen); a caller taken back to the app has not abandoned; a pass read twice
changes nothing; a bad line is skipped and said."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cdr import journeys, queue_log
from cdr.models import CallLeg, QueueVisit
from cdr.queue_log import AsteriskQueueRecords, ingest
from cdr.recorder import CallRecords
from cdr.records import CallEnded, CallEntered
from cdr.reports import Period, queues
from cdr.rollups import Rollups
from core import clock
from core.outcomes import CallOutcome
from recording.files import asterisk_queue_name, file_of
from recording.models import Recording
from redlist.models import Enterprise, EnterprisePhone, RedListEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY = Period(date(2026, 11, 23), date(2026, 11, 23), SHANGHAI)
RED, PLAIN = "02150000000", "02150000001"
UNSEEN = CallOutcome.ENDED_UNOBSERVED


def line(at: datetime, call: str, agent: str, event: str, *data: object) -> str:
    return "|".join([str(int(at.timestamp())), call, "enterprise", agent, event, *map(str, data)])


@pytest.fixture(autouse=True)
def real_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The installation's clock, not moved: whatever an earlier test of the session set,
    a queue-log moment is the moment it says."""
    monkeypatch.setenv("HOTLINE_STATE_DIR", str(tmp_path / "state"))
    with clock.use(clock.InstallationClock()):
        yield


@pytest.fixture
def rollups() -> Rollups:
    return Rollups(SHANGHAI, service_level=15, short_abandon=5)


@pytest.fixture
def records(rollups: Rollups) -> AsteriskQueueRecords:
    return AsteriskQueueRecords(rollups, {"Seat 1": "1001"}, "21")


def _register(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        firm = Enterprise(uscc="91310000MA1FL0000X", name="红名单企业", created_at=T, updated_at=T)
        session.add(firm)
        session.flush()
        session.add(EnterprisePhone(enterprise_id=firm.id, number=RED))
        session.add(RedListEntry(enterprise_id=firm.id, tier="key-firm", added_by="t", added_at=T))


def _queue_rows(factory: sessionmaker[Session]) -> dict[str, dict[str, object]]:
    with factory() as session:
        return {str(row["firms"]): row for row in queues(session, DAY).rows}


def test_callers_asterisk_alone_served_are_counted_with_their_wait(
    factory: sessionmaker[Session], records: AsteriskQueueRecords, tmp_path: Path
) -> None:
    _register(factory)
    log = tmp_path / "queue_log"
    log.write_text(
        "\n".join(
            [
                line(T, "1.1", "NONE", "ENTERQUEUE", "", RED, 1),
                line(T, "2.1", "NONE", "ENTERQUEUE", "", PLAIN, 2),
                line(T, "3.1", "NONE", "ENTERQUEUE", "", "13900000042", 3),
                line(T + timedelta(seconds=4), "1.1", "Seat 1", "CONNECT", 4, "9.1", 1),
                line(T + timedelta(seconds=20), "2.1", "PJSIP/1002", "CONNECT", 20, "9.2", 1),
                "this is not a queue-log line",
                line(T + timedelta(seconds=30), "3.1", "NONE", "ABANDON", 1, 3, 30),
                line(T + timedelta(seconds=64), "1.1", "Seat 1", "COMPLETECALLER", 4, 60, 1),
                "",
            ]
        )
    )
    assert ingest(factory, log, records) == 7
    assert ingest(factory, log, records) == 0, "read once"
    rows = _queue_rows(factory)
    red, others = rows["red-list"], rows["others"]
    assert (red["offered"], red["answered"], red["asa_seconds"], red["answered_in_sl"]) == (
        1, 1, 4.0, 1,
    )  # fmt: skip
    assert (others["offered"], others["answered"], others["abandoned"]) == (2, 1, 1)
    assert others["asa_seconds"] == 20.0
    with factory() as session:
        leg = session.execute(select(CallLeg).where(CallLeg.caller_channel == "1.1")).scalar_one()
        found = journeys.journey(session, "1.1", SHANGHAI)
    assert (leg.seat_id, leg.outcome, leg.talk_seconds, leg.tier) == (
        "1001", "caller-hangup", 60.0, "key-firm",
    )  # fmt: skip
    assert found is not None and found["queue_stays"][0]["served_by"] == "asterisk-queue"
    assert any("Asterisk's own queue" in step["what"] for step in found["timeline"])


def test_a_caller_the_app_sent_there_is_closed_as_asterisk_says_even_after_the_app(
    factory: sessionmaker[Session], records: AsteriskQueueRecords, rollups: Rollups, tmp_path: Path
) -> None:
    app = CallRecords(rollups)
    with factory.begin() as session:
        for call in ("4.1", "5.1", "6.1"):
            app.apply(session, CallEntered(call, call, PLAIN, "12345", T, "enterprise", None,
                                           None, 0, "enterprise"))  # fmt: skip
        # the app closed 5.1 unseen before the queue log was read
        app.apply(
            session, CallEnded("5.1", CallOutcome.ENDED_UNOBSERVED, T + timedelta(seconds=40))
        )
    log = tmp_path / "queue_log"
    log.write_text(
        "\n".join(
            [
                line(T + timedelta(seconds=2), "4.1", "NONE", "ENTERQUEUE", "", PLAIN, 1),
                line(T + timedelta(seconds=8), "4.1", "Seat 1", "CONNECT", 6, "9.4", 1),
                line(T + timedelta(seconds=2), "5.1", "NONE", "ENTERQUEUE", "", PLAIN, 2),
                line(T + timedelta(seconds=30), "5.1", "NONE", "ABANDON", 1, 2, 28),
                line(T + timedelta(seconds=2), "6.1", "NONE", "ENTERQUEUE", "", PLAIN, 3),
                line(T + timedelta(seconds=9), "6.1", "NONE", "TAKENBACK", "to the app"),
                line(T + timedelta(seconds=9), "6.1", "NONE", "ABANDON", 1, 3, 7),
                # taken back too late: a seat had answered it
                line(T + timedelta(seconds=2), "7.1", "NONE", "ENTERQUEUE", "", PLAIN, 4),
                line(T + timedelta(seconds=9), "7.1", "NONE", "TAKENBACK", "to the app"),
                line(T + timedelta(seconds=9), "7.1", "Seat 1", "CONNECT", 7, "9.7", 1),
                line(T + timedelta(seconds=20), "7.1", "Seat 1", "COMPLETEAGENT", 7, 11, 1),
                "",
            ]
        )
    )
    ingest(factory, log, records)
    with factory.begin() as session:  # the app's own close comes after: it changes nothing
        app.apply(
            session, CallEnded("4.1", CallOutcome.ENDED_UNOBSERVED, T + timedelta(seconds=50))
        )
    with factory() as session:
        visits = {
            v.caller_channel: (v.outcome, v.wait_seconds, v.seat_id)
            for v in session.execute(select(QueueVisit)).scalars()
        }
    assert visits["4.1"] == ("answered", 8.0, "1001"), "waited since the app's arrival"
    assert visits["5.1"] == ("abandoned", 30.0, None), "Asterisk's word, not unobserved"
    assert visits["6.1"] == (None, None, None), "taken back to the app: still waiting"
    assert visits["7.1"] == ("answered", 7.0, "1001"), "answered before it was taken back"
    assert records.taken_back == set(), "every stay has ended: nothing is kept for it"
    others = _queue_rows(factory)["others"]
    assert (others["offered"], others["answered"], others["abandoned"]) == (3, 2, 1)


def test_a_call_the_queue_put_through_lists_the_queue_s_recording_or_says_it_failed(
    factory: sessionmaker[Session], rollups: Rollups, tmp_path: Path
) -> None:
    """Two calls the queue put through: the file of the first is where the dialplan had the
    queue record it, the second has none (MixMonitor could not write it)."""
    recordings = tmp_path / "recordings"
    made = file_of(recordings, asterisk_queue_name("1.1"))
    made.parent.mkdir(parents=True)
    made.write_bytes(b"OggS")
    log = tmp_path / "queue_log"
    log.write_text("\n".join([
        line(T, "1.1", "NONE", "ENTERQUEUE", "", PLAIN, 1),
        line(T, "2.1", "NONE", "ENTERQUEUE", "", RED, 2),
        line(T + timedelta(seconds=3), "1.1", "Seat 1", "CONNECT", 3, "9.1", 1),
        line(T + timedelta(seconds=5), "2.1", "PJSIP/1002", "CONNECT", 5, "9.2", 1),
        line(T + timedelta(seconds=30), "1.1", "Seat 1", "COMPLETEAGENT", 3, 27, 1),
        line(T + timedelta(seconds=40), "2.1", "PJSIP/1002", "COMPLETECALLER", 5, 35, 1),
        "",
    ]))  # fmt: skip
    records = AsteriskQueueRecords(rollups, {"Seat 1": "1001"}, "21", recordings)
    assert ingest(factory, log, records) == 6
    log.write_text(log.read_text() + line(T + timedelta(seconds=41), "2.1", "PJSIP/1002",
                                          "COMPLETECALLER", 5, 35, 1) + "\n")  # fmt: skip
    ingest(factory, log, records)  # a line seen twice lists nothing twice
    with factory() as session:
        rows = session.execute(select(Recording).order_by(Recording.caller_channel)).scalars()
        found = [(r.caller_channel, r.name, r.state, r.started_at, r.reason) for r in rows]
    assert found == [
        ("1.1", "asterisk-queue/1.1", "recorded", T + timedelta(seconds=3), None),
        ("2.1", None, "failed", T + timedelta(seconds=5), "Asterisk's queue made no file"),
    ]


def test_a_caller_the_app_records_while_the_log_is_read_is_served_by_the_queue_once(
    factory: sessionmaker[Session],
    records: AsteriskQueueRecords,
    rollups: Rollups,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's writer may record its caller between the queue log's look for the call
    and its own insert: the call is the app's, and the seat the queue put it through to is
    in its record (before, the pass failed and was read again and again)."""
    app, found_firm = CallRecords(rollups), queue_log._firm

    def the_app_records_it_meanwhile(session: Session, number: str | None, day: date) -> object:
        with factory.begin() as writer:
            app.apply(writer, CallEntered("7.1", "7.1", PLAIN, "12345", T, "enterprise", None,
                                          None, 0, "enterprise"))  # fmt: skip
        return found_firm(session, number, day)

    monkeypatch.setattr(queue_log, "_firm", the_app_records_it_meanwhile)
    log = tmp_path / "queue_log"
    log.write_text(
        "\n".join(
            [
                line(T + timedelta(seconds=2), "7.1", "NONE", "ENTERQUEUE", "", PLAIN, 1),
                line(T + timedelta(seconds=5), "7.1", "Seat 1", "CONNECT", 3, "9.7", 1),
                line(T + timedelta(seconds=35), "7.1", "Seat 1", "COMPLETEAGENT", 3, 30, 1),
                "",
            ]
        )
    )
    assert ingest(factory, log, records) == 3
    with factory() as session:
        legs = list(session.execute(select(CallLeg)).scalars())
        visits = list(session.execute(select(QueueVisit)).scalars())
    assert [(leg.caller_channel, leg.seat_id, leg.outcome) for leg in legs] == [
        ("7.1", "1001", "seat-hangup")
    ]
    assert [(visit.outcome, visit.seat_id) for visit in visits] == [("answered", "1001")]


def test_a_call_only_a_nodes_queue_saw_is_recorded_on_that_node(
    factory: sessionmaker[Session], rollups: Rollups, tmp_path: Path
) -> None:
    """On a line of nodes the journey says which node a call was on, even one no app saw
    (3,130 such records had no node in the long run)."""
    records = AsteriskQueueRecords(rollups, {"Seat 1": "1001"}, "21", node="pbx-a")
    log = tmp_path / "queue_log"
    log.write_text(line(T, "pbx-a-8.1", "NONE", "ENTERQUEUE", "", PLAIN, 1) + "\n")
    ingest(factory, log, records)
    with factory() as session:
        assert session.execute(select(CallLeg.node)).scalar_one() == "pbx-a"


class Deadlock(Exception):
    """What psycopg raises for a transaction PostgreSQL rolled back to end a deadlock."""

    sqlstate = "40P01"


class FailingOnce(AsteriskQueueRecords):
    """Records whose first application of ``call``'s ``event`` fails with ``error``."""

    def __init__(self, rollups: Rollups, call: str, event: str, error: Exception) -> None:
        super().__init__(rollups, {"Seat 1": "1001"}, "21")
        self.failing: tuple[str, str] | None = (call, event)
        self.error = error

    def apply(self, session: Session, event: queue_log.QueueEvent) -> None:
        super().apply(session, event)
        if (event.call, event.event) == self.failing:
            self.failing = None
            raise OperationalError("UPDATE queue_hours ...", {}, self.error)


def _stays(factory: sessionmaker[Session]) -> dict[str, str | None]:
    with factory() as session:
        return {v.caller_channel: v.outcome for v in session.execute(select(QueueVisit)).scalars()}


def _three_callers(log: Path) -> None:
    """Three callers, each in two lines: 1.1 answered, 2.1 taken back to the app, 3.1 gave up."""
    log.write_text("\n".join([
        line(T, "1.1", "NONE", "ENTERQUEUE", "", PLAIN, 1),
        line(T + timedelta(seconds=3), "1.1", "Seat 1", "CONNECT", 3, "9.1", 1),
        line(T, "2.1", "NONE", "ENTERQUEUE", "", PLAIN, 2),
        line(T + timedelta(seconds=4), "2.1", "NONE", "TAKENBACK", "to the app"),
        line(T + timedelta(seconds=4), "2.1", "NONE", "ABANDON", 1, 2, 4),
        line(T, "3.1", "NONE", "ENTERQUEUE", "", PLAIN, 3),
        line(T + timedelta(seconds=9), "3.1", "NONE", "ABANDON", 1, 3, 9),
        "",
    ]))  # fmt: skip


@pytest.mark.parametrize(
    ("error", "raised", "stays_after_the_pass"),
    [
        # a deadlock: the batch is applied again, the pass goes on
        (Deadlock(), False, {"1.1": "answered", "2.1": None, "3.1": "abandoned"}),
        # anything else ends the pass; the batches before it are kept, read past
        (ValueError("disk full"), True, {"1.1": "answered", "2.1": None}),
    ],
)
def test_a_backlog_is_applied_a_batch_at_a_time(
    factory: sessionmaker[Session], rollups: Rollups, tmp_path: Path,
    error: Exception, raised: bool, stays_after_the_pass: dict[str, str | None],
) -> None:  # fmt: skip
    log = tmp_path / "queue_log"
    _three_callers(log)
    records = FailingOnce(rollups, "2.1", "ABANDON", error)
    if raised:
        with pytest.raises(OperationalError):
            ingest(factory, log, records, batch=2)
    else:
        assert ingest(factory, log, records, batch=2) == 7
    assert _stays(factory) == stays_after_the_pass
    # the next pass reads on from the last batch kept: the taken-back caller still has not
    # abandoned, whichever batch its take-back was in
    assert ingest(factory, log, records, batch=2) == (3 if raised else 0)
    assert _stays(factory) == {"1.1": "answered", "2.1": None, "3.1": "abandoned"}
