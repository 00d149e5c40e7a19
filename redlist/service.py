"""The red list as the CLI and the admin API use it: SQL changes, then the caller directory
brought in step, so the front door sees every change at once."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from typing import IO
from zoneinfo import ZoneInfo

from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.db import make_engine, sessions
from core.paths import Paths
from core.site import Site
from core.stores import database_url, sync_redis
from redlist import directory, registry
from redlist.directory import CallerIdentity, CallerKind
from redlist.importer import FirmRow, ImportRefused, check_file
from redlist.numbers import normalise
from redlist.tiers import RedListTier


@dataclass
class RedList:
    """The registry, the red list and the caller directory of one site."""

    sessions: sessionmaker[Session]
    redis: Redis
    area_code: str | None
    timezone: ZoneInfo

    @classmethod
    def for_installation(cls, site: Site, paths: Paths) -> RedList:
        """The red list of an installation: its database (the application has migrated
        it) and its Redis."""
        return cls(
            sessions(make_engine(database_url(paths))),
            sync_redis(paths),
            site.site.area_code,
            site.timezone,
        )

    def close(self) -> None:
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()
        self.redis.close()

    def today(self) -> date:
        return clock.now().astimezone(self.timezone).date()

    def import_csv(self, data: bytes | IO[bytes], actor: str) -> registry.ImportSummary:
        """Import a whole file or nothing (see :mod:`redlist.importer`): bytes, or a
        seekable binary file of any size, read as a stream in bounded memory."""
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        checked = check_file(source, self.area_code)
        at, summary, problems = clock.now(), registry.ImportSummary(), []
        digest, rows = hashlib.sha256(), 0
        with self.sessions.begin() as session:
            for batch in checked.batches():
                problems += registry.apply_batch(session, batch, checked.codes, actor, at, summary)
                rows += len(batch)
                session.flush()
                session.expunge_all()  # written: the batch's audit rows need not stay in memory
            if problems:
                raise ImportRefused(problems)  # leaving the block rolls every batch back
            source.seek(0)
            while block := source.read(1 << 20):
                digest.update(block)
            registry.audit_import(session, summary, rows, digest.hexdigest(), actor, at)
        if summary.everything_changed:
            with self.sessions() as session:
                directory.rebuild(session, self.redis)
        else:
            self._refresh(summary.changed_numbers)
        return summary

    def set_red_list(
        self,
        uscc: str,
        tier: RedListTier,
        reason: str,
        valid_from: date | None,
        valid_to: date | None,
        actor: str,
    ) -> None:
        with self.sessions.begin() as session:
            numbers = registry.set_red_list(
                session, uscc, tier, reason, valid_from, valid_to, actor, clock.now()
            )
        self._refresh(numbers)

    def remove_from_red_list(self, uscc: str, actor: str) -> None:
        with self.sessions.begin() as session:
            numbers = registry.remove_from_red_list(session, uscc, actor, clock.now())
        self._refresh(numbers)

    def remove_firm(self, uscc: str, actor: str) -> None:
        with self.sessions.begin() as session:
            numbers = registry.remove_firm(session, uscc, actor, clock.now())
        self._refresh(numbers)

    def upsert_firm(self, row: FirmRow, actor: str) -> registry.ImportSummary:
        with self.sessions.begin() as session:
            summary = registry.upsert_firm(session, row, actor, clock.now())
        self._refresh(summary.changed_numbers)
        return summary

    def rebuild_directory(self) -> int:
        with self.sessions() as session:
            return directory.rebuild(session, self.redis)

    def identify(self, raw_number: str) -> CallerIdentity:
        """What the front door decides for a caller number (before any keypad menu)."""
        number = normalise(raw_number, self.area_code)
        found = directory.lookup_sync(self.redis, number, self.today())
        return found or CallerIdentity(CallerKind.UNKNOWN, number)

    def _refresh(self, numbers: set[str]) -> None:
        if not numbers:
            return
        with self.sessions() as session:
            directory.refresh(session, self.redis, numbers)
