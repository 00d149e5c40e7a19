"""Importing the registry and the red list: whole files or nothing, idempotent, audited,
and the caller directory in Redis kept in step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from sqlalchemy import func, select

from core.db import make_engine, sessions
from hotline.schema import migrate
from redlist import registry
from redlist.directory import CALLERS, CallerKind
from redlist.importer import ImportRefused
from redlist.models import Enterprise, RedListAudit
from redlist.service import RedList
from redlist.synthetic import credit_code, csv_bytes, landline, rows
from redlist.tiers import RedListTier


@pytest.fixture
def red_list(database: str, redis_url: str) -> Iterator[RedList]:
    url = database
    migrate(url)
    engine = make_engine(url)
    redis = Redis.from_url(redis_url)
    redis.delete(CALLERS)
    yield RedList(sessions(engine), redis, "21", ZoneInfo("Asia/Shanghai"))
    redis.delete(CALLERS)
    redis.close()
    engine.dispose()


def _count(red_list: RedList, model: type) -> int:
    with red_list.sessions() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_gb18030_file_imports_and_callers_are_recognised(red_list: RedList) -> None:
    data = csv_bytes(list(rows(20, red_every=5)), encoding="gb18030")
    summary = red_list.import_csv(data, actor="admin")
    assert (summary.created, summary.red_listed) == (20, 4)
    key_firm = red_list.identify("+86 21 5000 0000")  # firm 0 is a key firm
    assert key_firm.kind is CallerKind.ENTERPRISE and key_firm.tier is RedListTier.KEY_FIRM
    assert key_firm.name == "示例企业0有限公司" and key_firm.queue_prio == 10
    plain = red_list.identify("5000 0001")  # local number, site area code 21
    assert plain.kind is CallerKind.ENTERPRISE and plain.tier is None and plain.queue_prio == 0
    assert red_list.identify("13900000000").kind is CallerKind.UNKNOWN


def test_a_file_with_three_bad_rows_is_refused_whole(red_list: RedList) -> None:
    body = list(rows(6))
    body[1][0] = "91310000000000000X"  # line 3: bad check digit
    body[3][2] = "call me maybe"  # line 5: not a phone number
    body[5][0] = body[0][0]  # line 7: duplicate of line 2
    with pytest.raises(ImportRefused) as refused:
        red_list.import_csv(csv_bytes(body), actor="admin")
    assert [p.line for p in refused.value.problems] == [3, 5, 7]
    assert "not a valid unified social credit code" in refused.value.problems[0].message
    assert "already appears on line 2" in refused.value.problems[2].message
    assert _count(red_list, Enterprise) == 0, "nothing may be half-imported"


def test_an_unknown_column_is_refused(red_list: RedList) -> None:
    data = "统一社会信用代码,企业名称,联系电话,传真\n".encode() + b"x,y,z,w\n"
    with pytest.raises(ImportRefused, match="unknown column '传真'"):
        red_list.import_csv(data, actor="admin")


def test_importing_the_same_file_again_changes_nothing(red_list: RedList) -> None:
    data = csv_bytes(list(rows(10, red_every=3)))
    red_list.import_csv(data, actor="admin")
    audit_rows = _count(red_list, RedListAudit)
    again = red_list.import_csv(data, actor="admin")
    assert again.changes == 0 and again.unchanged == 10
    assert _count(red_list, RedListAudit) == audit_rows


def test_the_export_imports_back_as_a_no_op(red_list: RedList) -> None:
    red_list.import_csv(csv_bytes(list(rows(8, red_every=2))), actor="admin")
    with red_list.sessions() as session:
        exported = registry.export_csv(session).encode("utf-8")
    assert red_list.import_csv(exported, actor="admin").changes == 0


def test_every_red_list_change_is_audited(red_list: RedList) -> None:
    red_list.import_csv(csv_bytes(list(rows(3))), actor="importer")
    code = credit_code(1)
    red_list.set_red_list(
        code, RedListTier.KEY_FIRM, "headquarters", date(2026, 1, 1), None, actor="alice"
    )
    assert red_list.identify(landline(1)).tier is RedListTier.KEY_FIRM
    red_list.set_red_list(
        code, RedListTier.KEY_FIRM, "headquarters moved here", None, None, actor="bob"
    )
    red_list.remove_from_red_list(code, actor="carol")
    assert red_list.identify(landline(1)).tier is None, "the directory follows every change"
    with red_list.sessions() as session:
        log = registry.audit_log(session, code)
    assert [(entry.action, entry.actor) for entry in reversed(log)] == [
        ("redlist.add", "alice"),
        ("redlist.change", "bob"),
        ("redlist.remove", "carol"),
    ]
    assert log[1].before is not None and log[1].before["reason"] == "headquarters"
    assert log[1].after is not None and log[1].after["reason"] == "headquarters moved here"


def test_an_expired_red_list_entry_gives_no_priority(red_list: RedList) -> None:
    red_list.import_csv(csv_bytes(list(rows(1))), actor="admin")
    red_list.set_red_list(
        credit_code(0), RedListTier.KEY_FIRM, "", None, date(2020, 12, 31), actor="admin"
    )
    caller = red_list.identify(landline(0))
    assert caller.kind is CallerKind.ENTERPRISE and caller.tier is None


def test_a_number_registered_to_another_firm_is_refused(red_list: RedList) -> None:
    red_list.import_csv(csv_bytes(list(rows(1))), actor="admin")
    other = list(rows(1, start=1))
    other[0][2] = landline(0)
    with pytest.raises(
        ImportRefused, match=f"phone {landline(0)} is registered to {credit_code(0)}"
    ):
        red_list.import_csv(csv_bytes(other), actor="admin")


def test_the_directory_rebuilds_from_sql(red_list: RedList) -> None:
    red_list.import_csv(csv_bytes(list(rows(5, red_every=2))), actor="admin")
    red_list.redis.delete(CALLERS)
    assert red_list.rebuild_directory() == 5
    assert red_list.identify(landline(2)).tier is RedListTier.KEY_FIRM


def test_cells_that_would_run_as_formulas_are_neutralised_and_come_back_whole(
    red_list: RedList,
) -> None:
    body = list(rows(4))
    body[0][1] = '=HYPERLINK("http://evil.example","点我")'
    body[1][1] = "+1+cmd|' /C calc'!A0"
    body[2][4] = "-2+3"
    body[3][4] = "@SUM(1+1)"
    red_list.import_csv(csv_bytes(body), actor="admin")
    with red_list.sessions() as session:
        exported = registry.export_csv(session)
    cells = [cell for line in exported.splitlines()[1:] for cell in line.split(",")]
    risky = [cell.strip('"') for cell in cells if cell.strip('"').startswith(("=", "+", "-", "@"))]
    assert risky == [], risky
    assert "'=HYPERLINK(" in exported and "'@SUM(1+1)" in exported
    again = red_list.import_csv(exported.encode("utf-8"), actor="admin")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)  # the same values
    with red_list.sessions() as session:
        assert registry.get(session, credit_code(0)).name == body[0][1]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (3_000, "line 3: field 2 (name) holds 3000 characters; at most 2000 are taken"),
        (200_000, "line 3: cannot be read as CSV (field larger than field limit"),
    ],
    ids=["3 kB", "200 kB"],
)
def test_an_oversized_field_is_refused_with_its_line(
    red_list: RedList, size: int, expected: str
) -> None:
    body = list(rows(3))
    body[1][1] = "企" * size
    with pytest.raises(ImportRefused) as refused:
        red_list.import_csv(csv_bytes(body), actor="admin")
    assert str(refused.value.problems[0]).startswith(expected), refused.value.problems
    assert _count(red_list, Enterprise) == 0


def test_a_large_file_is_written_in_batches_in_one_transaction(
    red_list: RedList, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad phone owner in the last batch refuses the whole file: earlier batches that
    were already written are rolled back; a phone may move to a firm of an earlier batch."""
    from redlist import importer

    monkeypatch.setattr(importer, "BATCH_ROWS", 5)
    red_list.import_csv(csv_bytes(list(rows(1, start=100))), actor="admin")  # firm 100
    body = list(rows(12))
    body[11][2] = landline(100)  # firm 11 takes firm 100's phone; firm 100 is not in the file
    with pytest.raises(ImportRefused) as refused:
        red_list.import_csv(csv_bytes(body), actor="admin")
    assert [p.line for p in refused.value.problems] == [13]
    assert _count(red_list, Enterprise) == 1
    body = list(rows(12))
    body[0][2] = f"{landline(0)};{landline(11)}"  # firm 0 (first batch) takes firm 11's
    body[11][2] = landline(200)
    red_list.import_csv(csv_bytes(list(rows(12))), actor="admin")
    summary = red_list.import_csv(csv_bytes(body), actor="admin")
    assert summary.updated == 2
    assert red_list.identify(landline(11)).name == "示例企业0有限公司"
    assert red_list.identify(landline(200)).name == "示例企业11有限公司"
