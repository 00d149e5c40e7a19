"""Asterisk's own CDRs into SQL, none lost, none twice.

Two ways in, one table. The AMI listener (``cdr.monitor``) stores each ``Cdr`` event as it
comes; AMI has no replay, so whatever it misses while it or the database is down is filled
in by the reconciliation, which reads the CSV file Asterisk's ``cdr_custom`` writes beside
(rendered from :data:`FILE_COLUMNS`). A record is keyed by ``(uniqueid, sequence)`` and
inserted only if absent, so either way, in either order, any number of times, each CDR is
stored once.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import AsteriskCdr, CdrFileMark

log = logging.getLogger(__name__)

FILE_NAME = "hotline-cdr.csv"
"""The file ``cdr_custom`` writes, in Asterisk's ``log/cdr-custom`` directory."""

FILE_COLUMNS = (
    ("uniqueid", "uniqueid"),
    ("sequence", "sequence"),
    ("linkedid", "linkedid"),
    ("channel", "channel"),
    ("dst_channel", "dstchannel"),
    ("src", "src"),
    ("dst", "dst"),
    ("dcontext", "dcontext"),
    ("clid", "clid"),
    ("last_app", "lastapp"),
    ("last_data", "lastdata"),
    ("start_at", "start,u"),
    ("answer_at", "answer,u"),
    ("end_at", "end,u"),
    ("duration", "duration"),
    ("billsec", "billsec"),
    ("disposition", "disposition"),
    ("accountcode", "accountcode"),
    ("userfield", "userfield"),
)
"""The file's columns: our field ← the ``CDR()`` field Asterisk fills it from (``u``: raw,
epoch seconds)."""

AMI_HEADERS = {
    "uniqueid": "UniqueID",
    "sequence": "Sequence",
    "linkedid": "LinkedID",
    "channel": "Channel",
    "dst_channel": "DestinationChannel",
    "src": "Source",
    "dst": "Destination",
    "dcontext": "DestinationContext",
    "clid": "CallerID",
    "last_app": "LastApplication",
    "last_data": "LastData",
    "start_at": "StartTime",
    "answer_at": "AnswerTime",
    "end_at": "EndTime",
    "duration": "Duration",
    "billsec": "BillableSeconds",
    "disposition": "Disposition",
    "accountcode": "AccountCode",
    "userfield": "UserField",
}
"""The AMI ``Cdr`` event's header for each field (``LinkedID`` and ``Sequence`` are mapped
in by cdr_manager.conf)."""


class BadCdr(ValueError):
    """A record that cannot be stored (said why)."""


def file_mapping() -> str:
    """The ``cdr_custom`` mapping that writes :data:`FILE_COLUMNS`."""
    return ",".join(f"${{CSV_QUOTE(${{CDR({source})}})}}" for _, source in FILE_COLUMNS)


@dataclass(frozen=True)
class Cdr:
    """One CDR as Asterisk gave it."""

    uniqueid: str
    sequence: int
    linkedid: str
    channel: str
    dst_channel: str
    src: str
    dst: str
    dcontext: str
    clid: str
    last_app: str
    last_data: str
    start_at: datetime
    answer_at: datetime | None
    end_at: datetime
    duration: int
    billsec: int
    disposition: str
    accountcode: str
    userfield: str

    @classmethod
    def from_ami(cls, event: Mapping[str, object]) -> Cdr:
        """From an AMI ``Cdr`` event (times in Asterisk's zone, which hotline runs at UTC)."""
        values = {name: str(event.get(header) or "") for name, header in AMI_HEADERS.items()}
        return cls._build(values, _clock_time)

    @classmethod
    def from_file(cls, row: list[str]) -> Cdr:
        """From one line of the ``cdr_custom`` file."""
        if len(row) != len(FILE_COLUMNS):
            raise BadCdr(f"{len(row)} columns, expected {len(FILE_COLUMNS)}")
        values = {name: value for (name, _), value in zip(FILE_COLUMNS, row, strict=True)}
        return cls._build(values, _epoch_time)

    @classmethod
    def _build(cls, values: dict[str, str], when: Callable[[str], datetime | None]) -> Cdr:
        if not values["uniqueid"] or not values["linkedid"]:
            raise BadCdr("no uniqueid or linkedid (is cdr_manager mapping linkedid?)")
        try:
            start, end = when(values["start_at"]), when(values["end_at"])
            if start is None or end is None:
                raise BadCdr("no start or end time")
            return cls(
                **{name: values[name][: _LIMITS.get(name, 255)] for name in _TEXT},
                sequence=int(values["sequence"]),
                start_at=start,
                answer_at=when(values["answer_at"]),
                end_at=end,
                duration=int(values["duration"] or 0),
                billsec=int(values["billsec"] or 0),
            )
        except ValueError as error:
            raise BadCdr(str(error)) from error

    def row(self, source: str) -> dict[str, object]:
        return {field.name: getattr(self, field.name) for field in fields(self)} | {
            "source": source
        }


_TEXT = (
    "uniqueid", "linkedid", "channel", "dst_channel", "src", "dst", "dcontext", "clid",
    "last_app", "last_data", "disposition", "accountcode", "userfield",
)  # fmt: skip
_LIMITS = {"uniqueid": 64, "linkedid": 64, "channel": 128, "dst_channel": 128, "clid": 160,
           "src": 80, "dst": 80, "dcontext": 80, "last_app": 80, "disposition": 20,
           "accountcode": 80}  # fmt: skip


def _clock_time(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _epoch_time(text: str) -> datetime | None:
    seconds = float(text.strip() or 0)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def store(sessions: sessionmaker[Session], cdrs: Iterable[Cdr], source: str) -> int:
    """Insert the CDRs not stored yet; how many were new (one writer at a time: the monitor
    service runs its listener and its reconciliation one after the other)."""
    rows = [cdr.row(source) for cdr in cdrs]
    if not rows:
        return 0
    with sessions.begin() as session:
        return _insert_new(session, rows)


def _insert_new(session: Session, rows: list[dict[str, object]]) -> int:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(AsteriskCdr)
        .on_conflict_do_nothing(index_elements=["uniqueid", "sequence"])
        .returning(AsteriskCdr.uniqueid)  # the rows inserted: none for a CDR stored already
    )
    # not a count of the table before and after: that read every CDR twice per batch, and
    # the other nodes' monitors insert meanwhile
    return len(session.execute(statement, rows).all())


@dataclass(frozen=True)
class Reconciled:
    """What one reconciliation pass did."""

    read: int
    added: int
    bad: list[str]


@dataclass
class Appended:
    """The complete lines written to a file since the last pass (with their numbers), and
    how to note that they were read."""

    lines: list[tuple[int, str]]
    sessions: sessionmaker[Session] | None = None
    key: str = ""
    inode: int = 0
    offset: int = 0
    ends: list[int] = field(default_factory=list)
    """Where each line ends in the file: a pass that stops after it starts there."""

    def done(self) -> None:
        """Note the lines as read: the next pass starts after them."""
        if self.sessions is None:
            return
        with self.sessions.begin() as session:
            self.note(session, self.offset)

    def note(self, session: Session, offset: int) -> None:
        """Note the lines up to ``offset`` as read, in ``session``'s transaction (with what
        was made of them, so that both are kept or neither)."""
        mark = session.get(CdrFileMark, self.key)
        if mark is None:
            session.add(CdrFileMark(path=self.key, inode=self.inode, offset=offset))
        else:
            mark.inode, mark.offset = self.inode, offset


def appended(sessions: sessionmaker[Session], path: Path) -> Appended:
    """What Asterisk appended to one of its files since the last pass (from the start when
    the file was replaced or truncated); a line it is still writing is left for the next."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return Appended([])
    key = str(path)
    with sessions.begin() as session:
        mark = session.get(CdrFileMark, key)
        offset = mark.offset if mark is not None and mark.inode == status.st_ino else 0
    if offset > status.st_size:
        offset = 0  # truncated in place
    with open(path, "rb") as file:
        file.seek(offset)
        data = file.read()
    complete = data[: data.rfind(b"\n") + 1]
    first = _lines_before(path, offset)
    lines, ends, end = [], [], offset
    for number, raw in enumerate(complete.split(b"\n")[:-1], first + 1):
        end += len(raw) + 1
        lines.append((number, raw.rstrip(b"\r").decode("utf-8", errors="replace")))
        ends.append(end)
    return Appended(lines, sessions, key, status.st_ino, end, ends)


def reconcile(sessions: sessionmaker[Session], path: Path, batch: int = 1000) -> Reconciled:
    """Store whatever of Asterisk's CDR file is not in SQL yet, reading on from where the
    last pass stopped. A bad line is reported with its line number and skipped, the rest is
    stored."""
    new = appended(sessions, path)
    read = added = 0
    bad: list[str] = []
    pending: list[Cdr] = []
    for line_number, line in new.lines:
        if not line.strip():
            continue
        try:
            pending.append(Cdr.from_file(next(csv.reader(io.StringIO(line)))))
        except (BadCdr, StopIteration, csv.Error) as error:
            bad.append(f"{path.name} line {line_number}: {error}")
            continue
        read += 1
        if len(pending) >= batch:
            added += store(sessions, pending, "file")
            pending = []
    added += store(sessions, pending, "file")
    new.done()
    for problem in bad:
        log.warning("skipped a CDR line: %s", problem)
    return Reconciled(read, added, bad)


def _lines_before(path: Path, offset: int) -> int:
    """How many lines precede ``offset`` (for line numbers in reports)."""
    if offset == 0:
        return 0
    count = 0
    with open(path, "rb") as file:
        remaining = offset
        while remaining > 0:
            chunk = file.read(min(remaining, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count


def cdr_file(asterisk_state: Path) -> Path:
    """Where the installation's Asterisk writes the CDR file."""
    return asterisk_state / "log" / "cdr-custom" / FILE_NAME


def count_file_records(path: Path) -> int:
    """How many CDRs Asterisk wrote to the file (its complete, non-empty lines)."""
    if not path.exists():
        return 0
    with open(path, "rb") as file:
        return sum(1 for line in file if line.strip() and line.endswith(b"\n"))
