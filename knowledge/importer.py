"""Knowledge entries imported from CSV or JSON, taken whole or not at all.

The same rules as the red list (``redlist.importer``): every bad row is reported with its
line number and reason and nothing is written unless every row is good; CSV in UTF-8 (with
or without BOM) or GB18030; importing the same file again changes nothing. A JSON file is an
array of objects with the same keys (English); its lines are where each object starts.

=========  =============================  ===============================================
编号        ``code``                       the office's number for the entry (required)
标题        ``title``                      required, up to 200 characters
内容 / 答案 ``text``                       required
事项        ``matter``                     a matter code of the transfer plan
部门        ``department``                 a department code of the plan
关键词      ``keywords``                   words callers use that the text may not
有效期起 / 有效期止  ``valid_from`` / ``valid_to``  ``YYYY-MM-DD``
=========  =============================  ===============================================
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from redlist.importer import (
    ImportRefused,
    RowProblem,
    csv_records,
    encoding_of,
    restore,
)

COLUMNS: dict[str, str] = {
    "编号": "code", "code": "code",
    "标题": "title", "问题": "title", "title": "title",
    "内容": "text", "答案": "text", "text": "text",
    "事项": "matter", "事项编码": "matter", "matter": "matter",
    "部门": "department", "department": "department",
    "关键词": "keywords", "keywords": "keywords",
    "有效期起": "valid_from", "valid_from": "valid_from",
    "有效期止": "valid_to", "valid_to": "valid_to",
}  # fmt: skip
REQUIRED = ("code", "title", "text")
LIMITS = {"code": 40, "title": 200, "text": 20_000, "keywords": 500, "matter": 6,
          "department": 40}  # fmt: skip
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass(frozen=True)
class EntryRow:
    """One good entry of a file (or of the admin API)."""

    code: str
    title: str
    text: str
    matter: str | None = None
    department: str | None = None
    keywords: str = ""
    valid_from: date | None = None
    valid_to: date | None = None


@dataclass(frozen=True)
class Plan:
    """What the entries may refer to: the transfer plan's matters and departments."""

    matters: Collection[str]
    departments: Collection[str]


def check_entry(
    row: dict[str, Any], line: int, plan: Plan, problems: list[RowProblem]
) -> EntryRow | None:
    """One entry checked: an :class:`EntryRow`, or None with its problems appended."""
    before = len(problems)
    unknown = sorted(set(row) - set(LIMITS) - {"valid_from", "valid_to"})
    if unknown:
        problems.append(RowProblem(line, f"unknown field(s): {', '.join(unknown)}"))
    values: dict[str, str] = {}
    for name, value in row.items():
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(RowProblem(line, f"{name} must be text"))
            continue
        values[name] = value.strip()
    for name in REQUIRED:
        if not values.get(name):
            problems.append(RowProblem(line, f"{name} is empty"))
    for name, limit in LIMITS.items():
        if len(values.get(name, "")) > limit:
            problems.append(RowProblem(line, f"{name} is longer than {limit} characters"))
    code = values.get("code", "")
    if code and not _CODE.match(code):
        problems.append(RowProblem(line, f"code '{code[:40]}' may hold only A-Z, 0-9, _ . -"))
    matter, department = values.get("matter") or None, values.get("department") or None
    if matter is not None and matter not in plan.matters:
        problems.append(RowProblem(line, f"no matter '{matter[:6]}' in the transfer plan"))
    if department is not None and department not in plan.departments:
        problems.append(RowProblem(line, f"no department '{department[:40]}' in the plan"))
    days: dict[str, date | None] = {}
    for name in ("valid_from", "valid_to"):
        text = values.get(name, "")
        try:
            days[name] = date.fromisoformat(text) if text else None
        except ValueError:
            problems.append(RowProblem(line, f"{name} '{text[:20]}' is not YYYY-MM-DD"))
    first, last = days.get("valid_from"), days.get("valid_to")
    if first and last and last < first:
        problems.append(RowProblem(line, "valid_to is before valid_from"))
    if len(problems) > before:
        return None
    return EntryRow(code, values["title"], values["text"], matter, department,
                    values.get("keywords", ""), first, last)  # fmt: skip


def check_file(source: IO[bytes], plan: Plan) -> list[EntryRow]:
    """Every entry of a CSV or JSON file, checked; :class:`ImportRefused` lists every bad
    line (two entries with one code included)."""
    source.seek(0)
    start = source.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    rows = _json_rows(source) if start.startswith(b"[") else _csv_rows(source)
    problems: list[RowProblem] = []
    entries: list[EntryRow] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if "" in row:  # the row itself is broken (its fields, or not an object)
            problems.append(RowProblem(line, str(row[""])))
            continue
        entry = check_entry(row, line, plan, problems)
        if entry is None:
            continue
        if entry.code in seen:
            problems.append(
                RowProblem(line, f"code {entry.code} already appears on line {seen[entry.code]}")
            )
            continue
        seen[entry.code] = line
        entries.append(entry)
    if problems:
        raise ImportRefused(problems)
    if not entries:
        raise ImportRefused([RowProblem(1, "the file holds no entry")])
    return entries


def _csv_rows(source: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    records = csv_records(source, encoding_of(source))
    try:
        _, header = next(records)
    except StopIteration:
        raise ImportRefused([RowProblem(1, "the file is empty")]) from None
    fields = []
    for name in header:
        key = COLUMNS.get(name.strip().lower(), COLUMNS.get(name.strip()))
        if key is None:
            known = ", ".join(sorted(set(COLUMNS.values())))
            shown = name.strip()[:60]
            raise ImportRefused([RowProblem(1, f"unknown column '{shown}' (known: {known})")])
        fields.append(key)
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise ImportRefused([RowProblem(1, f"missing required column(s): {', '.join(missing)}")])
    for line, values in records:
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(fields):
            yield line, {"": f"has {len(values)} fields, the header has {len(fields)}"}
            continue
        cells = (restore(value.strip()) for value in values)
        yield line, dict(zip(fields, cells, strict=True))


def _json_rows(source: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSON array, each with the line it starts on."""
    source.seek(0)
    try:
        text = io.TextIOWrapper(source, encoding="utf-8-sig").read()
    except UnicodeDecodeError as error:
        raise ImportRefused([RowProblem(1, f"JSON must be UTF-8 ({error.reason})")]) from None
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        position = _skip(text, position)
        if position >= len(text):
            raise ImportRefused([RowProblem(_line(text, position), "the array never closes")])
        if text[position] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ImportRefused([RowProblem(error.lineno, f"not JSON: {error.msg}")]) from None
        line = _line(text, position)
        if isinstance(value, dict):
            yield line, value
        else:
            yield line, {"": "is not an object"}
        position = _skip(text, end)
        if position < len(text) and text[position] == ",":
            position += 1


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1
