"""Changes to the enterprise registry and the red list: every one audited, every one
reported back as the phone numbers whose caller identity changed (for the directory)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from redlist.importer import (
    STANDARD_HEADER,
    FirmRow,
    ImportRefused,
    RowProblem,
    neutralise,
)
from redlist.models import Enterprise, EnterprisePhone, RedListAudit, RedListEntry
from redlist.tiers import RedListTier

_CHUNK = 5000
LISTED_AT_MOST = 50_000
"""Changed numbers an import lists for the directory's refresh; more: a full rebuild."""


class RegistryError(Exception):
    """A change that cannot be made; the message says why."""


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    red_listed: int = 0
    red_list_changed: int = 0
    changed_numbers: set[str] = field(default_factory=set)
    everything_changed: bool = False
    """So many numbers changed that the whole directory is rebuilt rather than listed."""

    def add(self, batch: ImportSummary) -> None:
        """Count a batch of the same import in; past ``LISTED_AT_MOST`` changed numbers,
        only the fact that everything changed is kept (memory stays bounded)."""
        self.created += batch.created
        self.updated += batch.updated
        self.unchanged += batch.unchanged
        self.red_listed += batch.red_listed
        self.red_list_changed += batch.red_list_changed
        if not self.everything_changed:
            self.changed_numbers |= batch.changed_numbers
            if len(self.changed_numbers) > LISTED_AT_MOST:
                self.everything_changed, self.changed_numbers = True, set()

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.red_listed + self.red_list_changed

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged; "
            f"red list: {self.red_listed} added, {self.red_list_changed} changed"
        )


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _red_state(
    tier: str | None, reason: str, start: date | None, end: date | None
) -> dict[str, Any]:
    return {
        "tier": tier,
        "reason": reason,
        "valid_from": start.isoformat() if start else None,
        "valid_to": end.isoformat() if end else None,
    }


def _firm_state(name: str, district: str, industry: str, phones: Iterable[str]) -> dict[str, Any]:
    return {"name": name, "district": district, "industry": industry, "phones": sorted(phones)}


def audit(
    session: Session,
    actor: str,
    action: str,
    uscc: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: datetime,
) -> None:
    session.add(
        RedListAudit(at=at, actor=actor, action=action, uscc=uscc, before=before, after=after)
    )


def audit_import(
    session: Session, summary: ImportSummary, rows: int, sha256: str, actor: str, at: datetime
) -> None:
    """The audit entry of a whole import that changed something."""
    if summary.changes:
        details = {"rows": rows, "summary": str(summary), "sha256": sha256[:16]}
        audit(session, actor, "registry.import", "-", None, details, at)


def apply_batch(
    session: Session,
    rows: list[FirmRow],
    file_codes: Container[str],
    actor: str,
    at: datetime,
    summary: ImportSummary,
) -> list[RowProblem]:
    """Write one batch of a checked file in the caller's transaction, counting into
    ``summary``. ``file_codes``: every credit code of the whole file. Returns the rows whose
    phone belongs to a company the file does not mention (and writes nothing of this batch
    then: the caller refuses the file, so its transaction is rolled back)."""
    by_code = {row.uscc: row for row in rows}
    existing: dict[str, tuple[int, str, str, str]] = {}
    for codes in _chunks(list(by_code)):
        for eid, code, name, district, industry in session.execute(
            select(
                Enterprise.id,
                Enterprise.uscc,
                Enterprise.name,
                Enterprise.district,
                Enterprise.industry,
            ).where(Enterprise.uscc.in_(codes))
        ):
            existing[code] = (eid, name, district, industry)
    code_of_id = {eid: code for code, (eid, *_rest) in existing.items()}
    phones_of: dict[int, set[str]] = {eid: set() for eid in code_of_id}
    red_of: dict[int, dict[str, Any]] = {}
    for ids in _chunks(list(code_of_id)):
        for eid, number in session.execute(
            select(EnterprisePhone.enterprise_id, EnterprisePhone.number).where(
                EnterprisePhone.enterprise_id.in_(ids)
            )
        ):
            phones_of[eid].add(number)
        for entry in session.execute(
            select(RedListEntry).where(RedListEntry.enterprise_id.in_(ids))
        ).scalars():
            red_of[entry.enterprise_id] = _red_state(
                entry.tier, entry.reason, entry.valid_from, entry.valid_to
            )

    # a number may move between companies of this file, never away from one it does not mention
    owner_in_file = {number: row.uscc for row in rows for number in row.phones}
    problems = []
    moving: list[str] = []  # held by a company of a later batch: it gives them up
    for numbers in _chunks(list(owner_in_file)):
        for number, code in session.execute(
            select(EnterprisePhone.number, Enterprise.uscc)
            .join(Enterprise)
            .where(EnterprisePhone.number.in_(numbers))
        ):
            if code == owner_in_file[number] or code in by_code:
                continue
            if code in file_codes:
                moving.append(number)
                continue
            line = by_code[owner_in_file[number]].line
            problems.append(
                RowProblem(
                    line, f"phone {number} is registered to {code}, which this file does not list"
                )
            )
    if problems:
        return sorted(problems, key=lambda p: p.line)
    for numbers in _chunks(moving):
        session.execute(delete(EnterprisePhone).where(EnterprisePhone.number.in_(numbers)))

    batch = ImportSummary()
    new_rows = [row for row in rows if row.uscc not in existing]
    new_codes = {row.uscc for row in new_rows}
    if new_rows:
        session.execute(
            insert(Enterprise),
            [
                {
                    "uscc": r.uscc,
                    "name": r.name,
                    "district": r.district,
                    "industry": r.industry,
                    "created_at": at,
                    "updated_at": at,
                }
                for r in new_rows
            ],
        )
        for codes in _chunks([r.uscc for r in new_rows]):
            for eid, code in session.execute(
                select(Enterprise.id, Enterprise.uscc).where(Enterprise.uscc.in_(codes))
            ):
                row = by_code[code]
                existing[code] = (eid, row.name, row.district, row.industry)
                phones_of[eid] = set()
        batch.created = len(new_rows)

    removed_numbers: list[str] = []
    added_phones: list[dict[str, Any]] = []
    for row in rows:
        eid, name, district, industry = existing[row.uscc]
        had = phones_of.get(eid, set())
        is_new = row.uscc in new_codes
        before = _firm_state(name, district, industry, had)
        after = _firm_state(row.name, row.district, row.industry, row.phones)
        if not is_new and before != after:
            session.execute(
                update(Enterprise)
                .where(Enterprise.id == eid)
                .values(name=row.name, district=row.district, industry=row.industry, updated_at=at)
            )
            audit(session, actor, "enterprise.update", row.uscc, before, after, at)
            batch.updated += 1
            batch.changed_numbers |= had | set(row.phones)
        elif not is_new:
            batch.unchanged += 1
        removed_numbers += sorted(had - set(row.phones))
        added_phones += [{"enterprise_id": eid, "number": n} for n in row.phones if n not in had]
        if is_new:
            batch.changed_numbers |= set(row.phones)
        _import_red_list(session, batch, row, eid, red_of.get(eid), actor, at)
    for numbers in _chunks(removed_numbers):
        session.execute(delete(EnterprisePhone).where(EnterprisePhone.number.in_(numbers)))
    if added_phones:
        session.execute(insert(EnterprisePhone), added_phones)
    batch.changed_numbers |= set(removed_numbers) | set(moving)
    summary.add(batch)
    return []


def _import_red_list(
    session: Session,
    summary: ImportSummary,
    row: FirmRow,
    eid: int,
    before: dict[str, Any] | None,
    actor: str,
    at: datetime,
) -> None:
    if row.tier is None:
        return  # an import never removes a firm from the red list
    after = _red_state(row.tier.value, row.reason, row.valid_from, row.valid_to)
    if before == after:
        return
    values = {
        "tier": row.tier.value,
        "reason": row.reason,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
    }
    if before is None:
        session.execute(
            insert(RedListEntry).values(enterprise_id=eid, added_by=actor, added_at=at, **values)
        )
        audit(session, actor, "redlist.add", row.uscc, None, after, at)
        summary.red_listed += 1
    else:
        session.execute(
            update(RedListEntry).where(RedListEntry.enterprise_id == eid).values(**values)
        )
        audit(session, actor, "redlist.change", row.uscc, before, after, at)
        summary.red_list_changed += 1
    summary.changed_numbers |= set(row.phones)


# --- one firm at a time (the admin API and the CLI) ---------------------------------------


def get(session: Session, uscc: str) -> Enterprise:
    enterprise = session.execute(
        select(Enterprise)
        .where(Enterprise.uscc == uscc.upper())
        .options(selectinload(Enterprise.phones), selectinload(Enterprise.red_list))
    ).scalar_one_or_none()
    if enterprise is None:
        raise RegistryError(f"no enterprise with credit code {uscc}")
    return enterprise


def search(
    session: Session, text: str = "", red_only: bool = False, limit: int = 50, offset: int = 0
) -> tuple[int, list[Enterprise]]:
    """Enterprises whose name, credit code or phone contains ``text``."""
    query = select(Enterprise)
    if text:
        like = f"%{text}%"
        query = query.where(
            or_(
                Enterprise.name.like(like),
                Enterprise.uscc.like(like.upper()),
                Enterprise.id.in_(
                    select(EnterprisePhone.enterprise_id).where(EnterprisePhone.number.like(like))
                ),
            )
        )
    if red_only:
        query = query.where(Enterprise.id.in_(select(RedListEntry.enterprise_id)))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = (
        session.execute(
            query.order_by(Enterprise.uscc)
            .limit(limit)
            .offset(offset)
            .options(selectinload(Enterprise.phones), selectinload(Enterprise.red_list))
        )
        .scalars()
        .all()
    )
    return total, list(page)


def upsert_firm(session: Session, row: FirmRow, actor: str, at: datetime) -> ImportSummary:
    """Add or change one enterprise (and its red-list entry if ``row.tier`` is set)."""
    summary = ImportSummary()
    problems = apply_batch(session, [row], {row.uscc}, actor, at, summary)
    if problems:
        raise ImportRefused(problems)
    audit_import(session, summary, 1, hashlib.sha256(b"").hexdigest(), actor, at)
    return summary


def set_red_list(
    session: Session,
    uscc: str,
    tier: RedListTier,
    reason: str,
    valid_from: date | None,
    valid_to: date | None,
    actor: str,
    at: datetime,
) -> set[str]:
    """Put a firm on the red list or change its entry; returns its phone numbers."""
    firm = get(session, uscc)
    row = FirmRow(
        0,
        firm.uscc,
        firm.name,
        tuple(p.number for p in firm.phones),
        firm.district,
        firm.industry,
        tier,
        reason,
        valid_from,
        valid_to,
    )
    summary = ImportSummary()
    before = (
        _red_state(
            firm.red_list.tier,
            firm.red_list.reason,
            firm.red_list.valid_from,
            firm.red_list.valid_to,
        )
        if firm.red_list
        else None
    )
    _import_red_list(session, summary, row, firm.id, before, actor, at)
    return summary.changed_numbers


def remove_from_red_list(session: Session, uscc: str, actor: str, at: datetime) -> set[str]:
    firm = get(session, uscc)
    if firm.red_list is None:
        raise RegistryError(f"{uscc} is not on the red list")
    entry = firm.red_list
    audit(
        session,
        actor,
        "redlist.remove",
        firm.uscc,
        _red_state(entry.tier, entry.reason, entry.valid_from, entry.valid_to),
        None,
        at,
    )
    session.delete(entry)
    return {p.number for p in firm.phones}


def remove_firm(session: Session, uscc: str, actor: str, at: datetime) -> set[str]:
    firm = get(session, uscc)
    numbers = {p.number for p in firm.phones}
    audit(
        session,
        actor,
        "enterprise.remove",
        firm.uscc,
        _firm_state(firm.name, firm.district, firm.industry, numbers),
        None,
        at,
    )
    if firm.red_list:
        audit(
            session,
            actor,
            "redlist.remove",
            firm.uscc,
            _red_state(
                firm.red_list.tier,
                firm.red_list.reason,
                firm.red_list.valid_from,
                firm.red_list.valid_to,
            ),
            None,
            at,
        )
    session.delete(firm)
    return numbers


def audit_log(session: Session, uscc: str | None = None, limit: int = 100) -> list[RedListAudit]:
    query = select(RedListAudit).order_by(RedListAudit.id.desc()).limit(limit)
    if uscc:
        query = query.where(RedListAudit.uscc == uscc.upper())
    return list(session.execute(query).scalars())


def export_csv(session: Session, red_only: bool = False) -> str:
    """The registry (or only the red list) as CSV in the import format (UTF-8 with BOM, which
    spreadsheet programs open correctly; a cell that would start a formula behind a ``'``);
    importing it back changes nothing."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STANDARD_HEADER)
    query = (
        select(Enterprise)
        .order_by(Enterprise.uscc)
        .options(selectinload(Enterprise.phones), selectinload(Enterprise.red_list))
    )
    if red_only:
        query = query.where(Enterprise.id.in_(select(RedListEntry.enterprise_id)))
    for firm in session.execute(query.execution_options(yield_per=5000)).scalars():
        red = firm.red_list
        cells = [
            firm.uscc,
            firm.name,
            ";".join(p.number for p in firm.phones),
            firm.district,
            firm.industry,
            red.tier if red else "",
            red.reason if red else "",
            red.valid_from.isoformat() if red and red.valid_from else "",
            red.valid_to.isoformat() if red and red.valid_to else "",
        ]
        # other offices' data, opened in a spreadsheet: nothing may run as a formula
        writer.writerow([neutralise(cell) for cell in cells])
    return out.getvalue()
