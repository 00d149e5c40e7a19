"""A durable local journal for the records a process hands to its writer, so that a record
is never lost while the database is down or the process dies before it reached SQL.

The writer appends every record to the journal (one frame per batch, ``fsync``'d) before it
tries to write it to SQL, and marks the frames whose records are all in SQL. A process that
starts reads the frames not marked and writes them first; writing a record twice changes
nothing (every applier checks what is already there), so a mark that lagged is harmless.

The file is ``<state>/journal/<process>.journal``: frames of a 4-byte length, an 8-byte
sequence number and the pickled records (the process's own records, read back by the same
code). A frame cut short by a crash was never acknowledged and is cut off when the journal
is opened. When every frame is marked the file is emptied. It is bounded (:data:`LIMIT`):
past that, records wait in memory only and every batch says so in the log — and
:func:`backlog` tells ``hotline services status`` how much waits.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LIMIT = 256 * 2**20
"""Bytes the journal may grow to while the database is unavailable."""
COMPACT_AT = 2**20
"""Once every frame is in SQL, a journal this large is emptied."""
_HEAD = struct.Struct(">IQ")


class JournalFull(Exception):
    """The journal reached :data:`LIMIT`: the batch was not written to it."""


class Journal:
    """One process's journal (a single writer thread uses it)."""

    def __init__(self, path: Path, limit: int = LIMIT) -> None:
        self.path = path
        self.mark_path = path.with_suffix(".applied")
        self.limit = limit
        path.parent.mkdir(parents=True, exist_ok=True)
        self.applied = self._read_mark()
        self.last = self._recover()
        self._file = open(path, "ab")  # noqa: SIM115  (kept open for the process's life)

    def _read_mark(self) -> int:
        try:
            return int(self.mark_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _frames(self) -> Iterator[tuple[int, int, bytes]]:
        """(offset, sequence, payload) of each whole frame, in order."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        offset = 0
        while offset + _HEAD.size <= len(data):
            length, seq = _HEAD.unpack_from(data, offset)
            end = offset + _HEAD.size + length
            if end > len(data):
                return
            yield offset, seq, data[offset + _HEAD.size : end]
            offset = end

    def _recover(self) -> int:
        """The last sequence number; a frame cut short (or unreadable) is cut off."""
        last, good_end = self.applied, 0
        for offset, seq, payload in self._frames():
            try:
                pickle.loads(payload)
            except Exception:
                log.warning("journal %s: a damaged frame at byte %d is cut off", self.path, offset)
                break
            last, good_end = max(last, seq), offset + _HEAD.size + len(payload)
        if self.path.exists() and self.path.stat().st_size != good_end:
            with open(self.path, "r+b") as file:
                file.truncate(good_end)
        return last

    def append(self, records: list[object]) -> int:
        """Write one batch durably; its sequence number. :class:`JournalFull` past the limit."""
        payload = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        if self.size() + len(payload) > self.limit:
            raise JournalFull(f"the journal {self.path} is full ({self.size()} bytes)")
        seq = self.last + 1
        self._file.write(_HEAD.pack(len(payload), seq) + payload)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.last = seq
        return seq

    def mark(self, seq: int) -> None:
        """Every record of the frames up to ``seq`` is in SQL."""
        if seq <= self.applied:
            return
        self.applied = seq
        if self.applied >= self.last and self.size() >= COMPACT_AT:
            self._file.truncate(0)
            self._file.seek(0)
        temporary = self.mark_path.with_suffix(".tmp")
        temporary.write_text(f"{seq}\n")
        os.replace(temporary, self.mark_path)

    def unapplied(self) -> list[tuple[int, list[object]]]:
        """The frames not marked, in order: (sequence, records)."""
        return [
            (seq, pickle.loads(payload)) for _, seq, payload in self._frames() if seq > self.applied
        ]

    def size(self) -> int:
        """Bytes in the journal now."""
        return os.fstat(self._file.fileno()).st_size

    def close(self) -> None:
        self._file.close()


def backlog(directory: Path) -> dict[str, int]:
    """Each journal's bytes still to reach SQL (0 when all is marked), by process."""
    waiting: dict[str, int] = {}
    for path in sorted(directory.glob("*.journal")):
        journal_size = path.stat().st_size
        try:
            applied = int(path.with_suffix(".applied").read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            applied = 0
        pending = 0
        offset = 0
        data = path.read_bytes() if journal_size else b""
        while offset + _HEAD.size <= len(data):
            length, seq = _HEAD.unpack_from(data, offset)
            if seq > applied:
                pending += _HEAD.size + length
            offset += _HEAD.size + length
        waiting[path.stem] = pending
    return waiting
