"""The knowledge base of one installation: entries in SQL, every change in the audit log,
and the search index kept in step with them in this process.

The index (``knowledge.index``) is read from SQL the first time it is needed and changed
with every entry written here; the web app is the one process that writes entries, so its
index is never behind. A search offers only the entries valid on the day it is asked (the
site's day), of the matter asked for if one is, with the question's words marked.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.importer import EntryRow, Plan, check_entry, check_file
from knowledge.index import Found, KnowledgeIndex
from knowledge.models import KnowledgeChange, KnowledgeEntry
from knowledge.text import marked
from redlist.importer import ImportRefused, RowProblem

SNIPPET = 160
"""Characters of an entry's text shown with a search result (around the first match)."""


class KnowledgeBase:
    """Entries, their audit log, and their search."""

    def __init__(self, sessions: sessionmaker[Session], plan: Callable[[], Plan]) -> None:
        self.sessions = sessions
        self.plan = plan
        """What entries may refer to now (the transfer plan changes while the app runs)."""
        self._index: KnowledgeIndex | None = None
        self._valid: dict[int, tuple[date | None, date | None, str | None]] = {}
        self._lock = threading.Lock()

    # --- writing ---------------------------------------------------------------------------

    def import_file(self, source: Any, who: str, at: datetime) -> dict[str, int]:
        """Import a CSV or JSON file whole (see ``knowledge.importer``); how many entries
        were added, changed and left as they were."""
        rows = check_file(source, self.plan())
        return self._write(rows, who, at)

    def put(self, code: str, fields: dict[str, Any], who: str, at: datetime) -> dict[str, Any]:
        """Add or change one entry (checked like a one-row import)."""
        problems: list[RowProblem] = []
        row = check_entry({**fields, "code": code}, 1, self.plan(), problems)
        if row is None:
            raise ImportRefused(problems)
        self._write([row], who, at)
        found = self.get(code)
        assert found is not None
        return found

    def delete(self, code: str, who: str, at: datetime) -> bool:
        """Delete an entry; whether there was one."""
        with self._lock, self.sessions.begin() as session:
            entry = _by_code(session, code)
            if entry is None:
                return False
            session.add(KnowledgeChange(code=code, action="deleted", who=who, at=at,
                                        before=_json(entry), after=None))  # fmt: skip
            session.delete(entry)
            if self._index is not None:
                self._index.remove(entry.id)
            self._valid.pop(entry.id, None)
            return True

    def _write(self, rows: list[EntryRow], who: str, at: datetime) -> dict[str, int]:
        counts = {"added": 0, "changed": 0, "unchanged": 0}
        with self._lock, self.sessions.begin() as session:
            known = _by_codes(session, [row.code for row in rows])
            for row in rows:
                entry = known.get(row.code)
                before = _json(entry) if entry is not None else None
                if entry is None:
                    entry = KnowledgeEntry(code=row.code)
                    session.add(entry)
                columns = _columns(row)
                if before is not None and all(
                    getattr(entry, name) == value for name, value in columns.items()
                ):
                    counts["unchanged"] += 1
                    continue
                for name, value in {**columns, "changed_by": who, "changed_at": at}.items():
                    setattr(entry, name, value)
                session.flush()
                action = "added" if before is None else "changed"
                counts[action] += 1
                session.add(KnowledgeChange(code=row.code, action=action, who=who, at=at,
                                            before=before, after=_json(entry)))  # fmt: skip
                if self._index is not None:
                    self._remember(entry, self._index)
        return counts

    # --- reading ---------------------------------------------------------------------------

    def get(self, code: str) -> dict[str, Any] | None:
        """One entry with its audit log, newest change last."""
        with self.sessions() as session:
            entry = _by_code(session, code)
            if entry is None:
                return None
            changes = session.execute(
                select(KnowledgeChange)
                .where(KnowledgeChange.code == code)
                .order_by(KnowledgeChange.at, KnowledgeChange.id)
            ).scalars()
            log = [{"action": c.action, "who": c.who, "at": c.at} for c in changes]
            return {**entry.as_dict(), "changes": log}

    def search(
        self, question: str, today: date, matter: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """The entries that best answer ``question``, valid ``today`` (and of ``matter``),
        best first; title and snippet HTML-escaped with the question's words in ``<mark>``.
        Without a question, the matter's entries (the desk offers them once it knows it)."""
        index = self.ready()

        def keep(entry: int) -> bool:
            first, last, of = self._valid.get(entry, (None, None, None))
            in_time = (first is None or first <= today) and (last is None or today <= last)
            return in_time and (matter is None or of == matter)

        if question.strip():
            found = index.search(question, limit, keep)
        else:  # no question yet: the matter's entries, in order
            found = [Found(entry, 0.0) for entry in sorted(self._valid) if keep(entry)][:limit]
        if not found:
            return []
        with self.sessions() as session:
            rows = {
                entry.id: entry
                for entry in session.execute(
                    select(KnowledgeEntry).where(KnowledgeEntry.id.in_([f.entry for f in found]))
                ).scalars()
            }
        results = []
        for hit in found:
            entry = rows.get(hit.entry)
            if entry is None:
                continue
            results.append({
                "code": entry.code, "score": hit.score, "matter": entry.matter_code,
                "department": entry.department_code,
                "title": _shown(entry.title, question),
                "snippet": _shown(_around(entry.text, question), question),
            })  # fmt: skip
        return results

    def ready(self) -> KnowledgeIndex:
        """The index, read from SQL the first time (the web app asks at start, so that the
        first search does not wait for it)."""
        with self._lock:
            if self._index is None:
                index = KnowledgeIndex()
                with self.sessions() as session:
                    for entry in session.execute(select(KnowledgeEntry)).scalars():
                        self._remember(entry, index)
                self._index = index
            return self._index

    def _remember(self, entry: KnowledgeEntry, index: KnowledgeIndex) -> None:
        index.put(entry.id, entry.title, entry.keywords, entry.text)
        self._valid[entry.id] = (entry.valid_from, entry.valid_to, entry.matter_code)


def _by_code(session: Session, code: str) -> KnowledgeEntry | None:
    return session.execute(
        select(KnowledgeEntry).where(KnowledgeEntry.code == code)
    ).scalar_one_or_none()


def _by_codes(session: Session, codes: list[str], chunk: int = 500) -> dict[str, KnowledgeEntry]:
    """The entries of ``codes`` that exist, by code (asked a chunk at a time)."""
    found: dict[str, KnowledgeEntry] = {}
    for start in range(0, len(codes), chunk):
        some = select(KnowledgeEntry).where(KnowledgeEntry.code.in_(codes[start : start + chunk]))
        found |= {entry.code: entry for entry in session.execute(some).scalars()}
    return found


def _columns(row: EntryRow) -> dict[str, object]:
    """What a checked row puts in an entry's columns."""
    return {
        "title": row.title, "text": row.text, "keywords": row.keywords,
        "matter_code": row.matter, "department_code": row.department,
        "valid_from": row.valid_from, "valid_to": row.valid_to,
    }  # fmt: skip


def _json(entry: KnowledgeEntry) -> str:
    fields = {key: value for key, value in entry.as_dict().items() if key != "id"}
    return json.dumps(fields, ensure_ascii=False, default=str, sort_keys=True)


def _around(text: str, question: str) -> str:
    """A stretch of ``text`` around its first word of ``question`` (the start if none)."""
    shown = marked(text, question, "\0", "\1")
    first = shown.find("\0")
    start = max(0, first - SNIPPET // 3) if first >= 0 else 0
    cut = text[start : start + SNIPPET]
    return ("…" if start else "") + cut + ("…" if start + SNIPPET < len(text) else "")


def _shown(text: str, question: str) -> str:
    """``text`` HTML-escaped, with the question's words in ``<mark>``."""
    shown = marked(text, question, "\0", "\1")
    return html.escape(shown).replace("\0", "<mark>").replace("\1", "</mark>")
