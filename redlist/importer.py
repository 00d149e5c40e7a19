"""Import the enterprise registry and the red list from CSV as offices export it.

A file is taken whole or not at all: every bad row is reported with its line number and
reason, and nothing is written unless every row is good. Files of any size are read as a
stream (checked in one pass, written in batches in one transaction), in bounded memory.
Importing the same file again changes nothing. Encodings: UTF-8 with or without BOM, and
GB18030 (a superset of GBK).

Columns (Chinese or English headers; the first three are required):

=================  =========================  ==========================================
统一社会信用代码   ``uscc``                   the 18-character unified social credit code
企业名称           ``name``
联系电话           ``phones``                 one or more, separated by ``;`` ``；`` ``、`` or ``/``
所属区             ``district``
行业               ``industry``
红名单等级         ``tier``                   ``key-firm`` / 重点企业; empty: not on the red list
列入原因           ``reason``
有效期起/有效期止  ``valid_from``/``valid_to`` ``YYYY-MM-DD``
=================  =========================  ==========================================

An import adds or updates firms and red-list entries; it never removes a firm from the red
list (that is an explicit action with its own audit entry).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO

from stdnum.cn import uscc as uscc_code

from redlist.numbers import normalise
from redlist.tiers import RedListTier

COLUMNS: dict[str, str] = {
    "统一社会信用代码": "uscc",
    "信用代码": "uscc",
    "uscc": "uscc",
    "credit_code": "uscc",
    "企业名称": "name",
    "名称": "name",
    "name": "name",
    "联系电话": "phones",
    "电话": "phones",
    "phones": "phones",
    "phone": "phones",
    "所属区": "district",
    "区": "district",
    "district": "district",
    "行业": "industry",
    "industry": "industry",
    "红名单等级": "tier",
    "红名单": "tier",
    "tier": "tier",
    "列入原因": "reason",
    "原因": "reason",
    "reason": "reason",
    "有效期起": "valid_from",
    "valid_from": "valid_from",
    "有效期止": "valid_to",
    "valid_to": "valid_to",
}
REQUIRED = ("uscc", "name", "phones")
STANDARD_HEADER = [
    "统一社会信用代码",
    "企业名称",
    "联系电话",
    "所属区",
    "行业",
    "红名单等级",
    "列入原因",
    "有效期起",
    "有效期止",
]
"""The header export writes (and the order of its columns)."""
TIER_NAMES: dict[str, RedListTier] = {
    "key-firm": RedListTier.KEY_FIRM,
    "key firm": RedListTier.KEY_FIRM,
    "重点企业": RedListTier.KEY_FIRM,
}
_KNOWN = ", ".join(sorted(set(COLUMNS.values())))
_PHONE_SPLIT = re.compile(r"[;；、/|]+")


@dataclass(frozen=True)
class RowProblem:
    """One reason a file was refused."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRefused(Exception):
    """The file was refused whole; ``problems`` lists every bad line."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        listing = "\n".join(f"  {problem}" for problem in problems[:200])
        more = f"\n  ... and {len(problems) - 200} more" if len(problems) > 200 else ""
        super().__init__(f"nothing was imported: {len(problems)} problem(s)\n{listing}{more}")


@dataclass(frozen=True)
class FirmRow:
    """One good row of an import file."""

    line: int
    uscc: str
    name: str
    phones: tuple[str, ...]
    district: str = ""
    industry: str = ""
    tier: RedListTier | None = None
    reason: str = ""
    valid_from: date | None = None
    valid_to: date | None = None


MAX_FIELD = 2000
"""Characters one field may hold: longer is a broken file, not a company's name."""
BATCH_ROWS = 2000
"""Rows checked and written at a time: memory stays bounded whatever the file's size."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes as the start of a formula: such a cell is exported behind a
``'`` (and the ``'`` is taken off again on import)."""


def neutralise(cell: str) -> str:
    """A cell as exported for spreadsheets: one that would start a formula gets a ``'``."""
    return f"'{cell}" if cell.startswith(FORMULA_START) else cell


def restore(cell: str) -> str:
    """A cell as it was before :func:`neutralise`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def encoding_of(source: IO[bytes]) -> str:
    """UTF-8 (BOM or not) if the whole file decodes so, else GB18030; a block at a time."""
    problem = ""
    for encoding in ("utf-8-sig", "gb18030"):
        source.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while block := source.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError as error:
            problem = error.reason
    raise ImportRefused(
        [RowProblem(1, f"the file is neither UTF-8 nor GB18030/GBK text ({problem})")]
    )


def _date(text: str) -> date:
    return datetime.strptime(text.replace("/", "-").replace(".", "-"), "%Y-%m-%d").date()


def csv_records(source: IO[bytes], encoding: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of each record; a record that cannot be read is refused with its
    line (and the reading stops: after a broken quote nothing can be trusted)."""
    source.seek(0)
    text = io.TextIOWrapper(source, encoding=encoding, newline="")
    reader = csv.reader(text)
    try:
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise ImportRefused(
                    [RowProblem(reader.line_num, f"cannot be read as CSV ({error})")]
                ) from None
            yield reader.line_num, values
    finally:
        text.detach()  # the caller's file stays open


def _header(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    try:
        _line, header = next(records)
    except StopIteration:
        raise ImportRefused([RowProblem(1, "the file is empty")]) from None
    problems: list[RowProblem] = []
    fields: list[str] = []
    for name in header:
        key = COLUMNS.get(name.strip().lower(), COLUMNS.get(name.strip()))
        if key is None:
            shown = name.strip()[:60]
            problems.append(RowProblem(1, f"unknown column '{shown}' (known: {_KNOWN})"))
        elif key in fields:
            problems.append(RowProblem(1, f"column '{name.strip()}' appears twice"))
        fields.append(key or "")
    missing = [key for key in REQUIRED if key not in fields]
    if missing:
        problems.append(RowProblem(1, f"missing required column(s): {', '.join(missing)}"))
    if problems:
        raise ImportRefused(problems)
    return fields


def _firms(
    source: IO[bytes],
    encoding: str,
    area_code: str | None,
    seen: _Seen,
    problems: list[RowProblem],
) -> Iterator[FirmRow]:
    records = csv_records(source, encoding)
    fields = _header(records)
    for line, values in records:
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(fields):
            problems.append(
                RowProblem(line, f"has {len(values)} fields, the header has {len(fields)}")
            )
            continue
        long = next((i for i, value in enumerate(values) if len(value) > MAX_FIELD), None)
        if long is not None:
            problems.append(
                RowProblem(
                    line,
                    f"field {long + 1} ({fields[long]}) holds {len(values[long])} characters; "
                    f"at most {MAX_FIELD} are taken",
                )
            )
            continue
        row = dict(zip(fields, (restore(value.strip()) for value in values), strict=True))
        firm = check_row(row, line, area_code, problems, seen)
        if firm is not None:
            yield firm


class CheckedFile:
    """A file that passed every check: its rows can be read again a batch at a time, and
    ``codes`` holds every credit code in it. Build it with :func:`check_file`."""

    def __init__(
        self, source: IO[bytes], encoding: str, area_code: str | None, seen: _Seen
    ) -> None:
        self.source, self.encoding, self.area_code = source, encoding, area_code
        self.codes: dict[str, int] = seen.codes

    def batches(self, size: int = BATCH_ROWS) -> Iterator[list[FirmRow]]:
        """The rows again, ``size`` at a time."""
        batch: list[FirmRow] = []
        seen = _Seen()  # duplicates were looked for in the first pass: forget as we go
        for firm in _firms(self.source, self.encoding, self.area_code, seen, []):
            batch.append(firm)
            if len(batch) == size:
                yield batch
                batch = []
                seen.codes.clear()
                seen.phones.clear()
        if batch:
            yield batch


def check_file(source: IO[bytes], area_code: str | None = None) -> CheckedFile:
    """Check a whole file (seekable, of any size) in one pass of bounded memory; raise
    :class:`ImportRefused` listing every bad row."""
    encoding = encoding_of(source)
    seen, problems = _Seen(), list[RowProblem]()
    for _firm in _firms(source, encoding, area_code, seen, problems):
        pass
    if problems:
        raise ImportRefused(problems)
    return CheckedFile(source, encoding, area_code, seen)


@dataclass
class _Seen:
    """First line of each credit code and phone in a file, to report duplicates."""

    codes: dict[str, int] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)


def check_firm(row: dict[str, str], area_code: str | None) -> FirmRow:
    """Check one firm given field by field (the admin API); raise :class:`ImportRefused`."""
    problems: list[RowProblem] = []
    firm = check_row(
        {key: str(value).strip() for key, value in row.items()}, 1, area_code, problems, _Seen()
    )
    if firm is None:
        raise ImportRefused(problems)
    return firm


def check_row(
    row: dict[str, str], line: int, area_code: str | None, problems: list[RowProblem], seen: _Seen
) -> FirmRow | None:
    """One row checked: a :class:`FirmRow`, or None with its problems appended."""
    before = len(problems)
    code = row["uscc"].upper()
    if not uscc_code.is_valid(code):
        problems.append(
            RowProblem(line, f"'{row['uscc']}' is not a valid unified social credit code")
        )
    elif code in seen.codes:
        problems.append(
            RowProblem(line, f"credit code {code} already appears on line {seen.codes[code]}")
        )
    if not row["name"]:
        problems.append(RowProblem(line, "the company name is empty"))
    phones: list[str] = []
    for raw in (p for p in _PHONE_SPLIT.split(row["phones"]) if p.strip()):
        number = normalise(raw, area_code)
        if number is None:
            problems.append(RowProblem(line, f"'{raw.strip()}' is not a phone number"))
        elif number in seen.phones:
            problems.append(
                RowProblem(line, f"phone {number} already appears on line {seen.phones[number]}")
            )
        elif number not in phones:
            phones.append(number)
    if not phones and not row["phones"].strip():
        problems.append(RowProblem(line, "no phone number"))
    tier = None
    if row.get("tier"):
        tier = TIER_NAMES.get(row["tier"].lower())
        if tier is None:
            problems.append(
                RowProblem(
                    line, f"unknown red-list tier '{row['tier']}' (use key-firm or 重点企业)"
                )
            )
    dates: dict[str, date | None] = {"valid_from": None, "valid_to": None}
    for key in dates:
        if row.get(key):
            try:
                dates[key] = _date(row[key])
            except ValueError:
                problems.append(
                    RowProblem(line, f"{key} '{row[key]}' is not a date like 2026-01-31")
                )
    if dates["valid_from"] and dates["valid_to"] and dates["valid_to"] < dates["valid_from"]:
        problems.append(RowProblem(line, "valid_to is before valid_from"))
    if len(problems) > before:
        return None
    seen.codes[code] = line
    for number in phones:
        seen.phones[number] = line
    return FirmRow(
        line=line,
        uscc=code,
        name=row["name"][:200],
        phones=tuple(sorted(phones)),
        district=row.get("district", "")[:60],
        industry=row.get("industry", "")[:60],
        tier=tier,
        reason=row.get("reason", "")[:200],
        valid_from=dates["valid_from"],
        valid_to=dates["valid_to"],
    )
