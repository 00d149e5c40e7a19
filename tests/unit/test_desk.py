"""The seat's desk: the level a desk-made order gets and when a seat is reminded (tables);
the classification through the console's API (what is refused and why, the order made with
its working-day deadline, a late wrap-up); the company pane of a caller with a history; the
reports by kind and matter and by order level. The desk in a browser, on a real call, is
tests/integration/test_desk.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallbackRequest, CallLeg
from cdr.reports import Period, calls_by_kind, order_levels
from core import clock, keys
from core.db import make_engine, sessions
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from core.stores import database_url
from desk.rules import CallKind, WrapUp, WrapUpPhase, order_level, wrap_up
from recording.models import Recording
from redlist.models import Enterprise, RedListEntry
from return_visit.models import ReturnVisit
from tests.conftest import WRAP_UP
from tests.unit import web_app
from transfer.deadlines import Level
from transfer.models import TransferRequest, WorkOrder

paths, client = web_app.paths, web_app.client  # the web app on an installation per test

SHANGHAI = ZoneInfo("Asia/Shanghai")
C, A, R, X = CallKind.CONSULTATION, CallKind.APPEAL, CallKind.COMPLAINT, CallKind.OTHER


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


# --- the rules, as tables -----------------------------------------------------------------------

LEVELS = [
    # kind  complex  several departments   level the rules give
    (C,     False,   False,                Level.IMMEDIATE),
    (C,     True,    False,                Level.THREE_DAYS),
    (C,     False,   True,                 Level.SEVEN_DAYS),
    (C,     True,    True,                 Level.SEVEN_DAYS),
    (A,     False,   False,                Level.SEVEN_DAYS),
    (A,     False,   True,                 Level.SEVEN_DAYS),
    (A,     True,    False,                Level.FIFTEEN_DAYS),
    (A,     True,    True,                 Level.FIFTEEN_DAYS),
    (R,     False,   False,                Level.SEVEN_DAYS),
    (R,     True,    True,                 Level.FIFTEEN_DAYS),
    (X,     False,   False,                Level.IMMEDIATE),
    (X,     True,    False,                Level.THREE_DAYS),
    (X,     False,   True,                 Level.SEVEN_DAYS),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "complex_case", "several", "level"), LEVELS)
def test_a_desk_order_gets_the_level_the_rules_give(
    kind: CallKind, complex_case: bool, several: bool, level: Level
) -> None:
    assert order_level(kind, complex_case, several) is level


NOW = local(11, 24, 10)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


WRAP_UPS = [
    # call ended  wrap-up  classified  phase                    seconds left
    (None,        10,      False,      WrapUpPhase.TALKING,     10.0),
    (ago(4),      10,      False,      WrapUpPhase.WRAP_UP,     6.0),
    (ago(10),     10,      False,      WrapUpPhase.LATE,        0.0),
    (ago(99),     10,      False,      WrapUpPhase.LATE,        0.0),
    (ago(0),      0,       False,      WrapUpPhase.LATE,        0.0),
    (ago(99),     10,      True,       WrapUpPhase.CLASSIFIED,  0.0),
    (None,        10,      True,       WrapUpPhase.CLASSIFIED,  0.0),
]  # fmt: skip


@pytest.mark.parametrize(("ended", "seconds", "classified", "phase", "left"), WRAP_UPS)
def test_a_seat_is_reminded_once_the_wrap_up_is_over_and_the_call_unclassified(
    ended: datetime | None, seconds: int, classified: bool, phase: WrapUpPhase, left: float
) -> None:
    assert wrap_up(ended, seconds, NOW, classified) == WrapUp(phase, left)


# --- the classification through the console's API -----------------------------------------------


@pytest.fixture
def records(paths: Paths) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url(paths))
    yield sessions(engine)
    engine.dispose()


@pytest.fixture
def now() -> Iterator[datetime]:
    """Wednesday 30 September 2026, 16:00 in Shanghai: National Day's holiday next."""
    moment = local(9, 30, 16)
    with clock.use(clock.ManualClock(moment.timestamp())):
        yield moment


def bearer(paths: Paths, seat: str = "1001") -> dict[str, str]:
    token = Secrets.load_or_create(paths.secrets_file).console_token(seat)
    return {"Authorization": f"Bearer {token}"}


def admin(paths: Paths) -> dict[str, str]:
    return {"Authorization": f"Bearer {Secrets.load_or_create(paths.secrets_file).admin_token}"}


def answered(
    records: sessionmaker[Session],
    call: str,
    at: datetime,
    *,
    seat: str = "1001",
    number: str = "02150000001",
    enterprise: int | None = None,
    talk: float = 60.0,
    ended: bool = True,
) -> None:
    """A call the seat answered at ``at`` and talked ``talk`` seconds on."""
    with records.begin() as session:
        session.add(CallLeg(
            caller_channel=call, caller_number=number, called_number="12345", seat_id=seat,
            entered_at=at - timedelta(seconds=5), answered_at=at,
            ended_at=at + timedelta(seconds=talk) if ended else None,
            talk_seconds=talk if ended else None, caller_kind="enterprise",
            enterprise_id=enterprise, queue="enterprise", outcome="caller-hangup",
        ))  # fmt: skip


def classify(client: TestClient, paths: Paths, call: str, seat: str = "1001", **said: Any) -> Any:
    return client.post(
        f"/api/console/{seat}/calls/{call}/classification", json=said, headers=bearer(paths, seat)
    )


def test_a_call_answered_from_the_knowledge_base_is_classified_once(
    client: TestClient, paths: Paths, records: sessionmaker[Session], now: datetime
) -> None:
    entry = "code,title,text,matter\nKB-1,增值税专用发票如何开具,登录电子税务局开具。,101\n"
    assert client.post("/api/knowledge/import", content=entry.encode(),
                       headers=admin(paths)).status_code == 200  # fmt: skip
    answered(records, "call-1", now - timedelta(seconds=61))  # ended a second ago
    waiting = client.get("/api/console/1001/wrap-up", headers=bearer(paths)).json()
    assert [(c["call"], c["phase"], c["seconds_left"]) for c in waiting["calls"]] == [
        ("call-1", "wrap-up", WRAP_UP - 1)
    ]
    made = classify(client, paths, "call-1", kind="consultation", matter="101",
                    resolution="direct", knowledge=["KB-1"])  # fmt: skip
    assert made.status_code == 201, made.text
    assert (made.json()["knowledge"], made.json()["wrap_up_seconds"], made.json()["late"]) == (
        ["KB-1"],
        1.0,
        False,
    )
    assert client.get("/api/console/1001/wrap-up", headers=bearer(paths)).json()["calls"] == []
    again = classify(client, paths, "call-1", kind="appeal", matter="101", resolution="direct")
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "call call-1 was classified at 16:00:00",
    )


REFUSALS = [
    # what the seat sends, then the status and the sentence it gets back
    ({"call": "call-of-1002"},
     404, "seat 1001 did not answer call call-of-1002"),
    ({"matter": "999"},
     422, "there is no matter 999"),
    ({"matter": None},
     422, "choose the call's matter (only 'other' may have none)"),
    ({"knowledge": ["KB-404"]},
     422, "no knowledge entry KB-404"),
    ({"resolution": "transferred"},
     422, "no transfer was made on this call: it was answered directly or needs an order"),
    ({"resolution": "order"},
     422, "an order needs the company's request, in the note"),
    ({"resolution": "order", "note": "x", "with_departments": ["moon"]},
     422, "there is no department moon"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "status", "sentence"), REFUSALS)
def test_a_classification_that_contradicts_the_call_is_refused_with_a_sentence(
    client: TestClient,
    paths: Paths,
    records: sessionmaker[Session],
    now: datetime,
    change: dict[str, Any],
    status: int,
    sentence: str,
) -> None:
    answered(records, "call-1", now - timedelta(minutes=2))
    answered(records, "call-of-1002", now - timedelta(minutes=2), seat="1002")
    said = {"call": "call-1", "kind": "consultation", "matter": "101", "resolution": "direct"}
    said |= change
    refused = classify(client, paths, **said)
    assert (refused.status_code, refused.json()["detail"]) == (status, sentence)
    waiting = client.get("/api/console/1001/wrap-up", headers=bearer(paths)).json()
    assert [call["call"] for call in waiting["calls"]] == ["call-1"]  # nothing half-written


def test_another_seats_token_cannot_classify_or_see_a_seats_desk(
    client: TestClient, paths: Paths, records: sessionmaker[Session], now: datetime
) -> None:
    answered(records, "call-1", now - timedelta(minutes=2))
    other = bearer(paths, "1002")
    assert client.get("/api/console/1001/wrap-up", headers=other).status_code == 401
    said = {"kind": "other", "resolution": "direct"}
    address = "/api/console/1001/calls/call-1/classification"
    assert client.post(address, headers=other, json=said).status_code == 401
    assert client.get("/api/console/1001/company?call=call-1", headers=other).status_code == 401


ORDERS_MADE = [
    # kind            complex  other departments  level                 due (Shanghai)
    ("consultation",  False,   [],                Level.IMMEDIATE,      local(10, 8, 9, 30)),
    ("consultation",  True,    [],                Level.THREE_DAYS,     local(10, 10, 17, 30)),
    ("consultation",  False,   ["social"],        Level.SEVEN_DAYS,     local(10, 15, 17, 30)),
    ("appeal",        True,    [],                Level.FIFTEEN_DAYS,   local(10, 27, 17, 30)),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "complex_case", "others", "level", "due"), ORDERS_MADE)
def test_a_desk_order_is_due_by_its_level_in_working_days_with_the_holidays(
    client: TestClient,
    paths: Paths,
    records: sessionmaker[Session],
    now: datetime,
    kind: str,
    complex_case: bool,
    others: list[str],
    level: Level,
    due: datetime,
) -> None:
    """Made on 30 September at 16:00 for the tax bureau (09:00-12:00, 13:30-17:30 on working
    days): 1-7 October are National Day's holiday, Saturday 10 October is a working day."""
    answered(records, "call-1", now - timedelta(minutes=2), enterprise=None)
    made = classify(client, paths, "call-1", kind=kind, matter="101", resolution="order",
                    note="需要税务局核实发票", complex=complex_case,
                    with_departments=others)  # fmt: skip
    assert made.status_code == 201, made.text
    order = made.json()["order"]
    assert (order["level"], order["department_code"], order["reason"]) == (level, "tax", "desk")
    assert datetime.fromisoformat(order["deadline_at"]) == due
    listed = client.get("/api/orders?department=tax", headers=admin(paths)).json()
    assert [o["number"] for o in listed] == [order["number"]]  # in the department's queue
    with records() as session:
        row = session.query(WorkOrder).one()
        assert row.request and row.request.startswith("需要税务局核实发票")
        assert row.caller_channel == "call-1"


def test_a_transfer_that_ended_in_an_order_is_classified_with_that_order(
    client: TestClient, paths: Paths, records: sessionmaker[Session], now: datetime
) -> None:
    answered(records, "call-1", now - timedelta(minutes=2))
    made = client.post("/api/orders", headers=admin(paths), json={
        "department": "tax", "level": "second-urgent", "reason": "unanswered", "matter": "101",
    }).json()  # fmt: skip
    with records.begin() as session:
        order_id = session.query(WorkOrder.id).filter_by(number=made["number"]).scalar()
        session.add(TransferRequest(
            key="t-1", caller_channel="call-1", seat_id="1001", matter_code="101",
            department_code="tax", requested_at=now - timedelta(minutes=1), in_hours=True,
            via="console", outcome="failed", work_order_id=order_id,
        ))  # fmt: skip
    waiting = client.get("/api/console/1001/wrap-up", headers=bearer(paths)).json()
    assert waiting["calls"][0]["transfer"] == {
        "matter": "101",
        "outcome": "failed",
        "order": made["number"],
    }
    said = classify(client, paths, "call-1", kind="consultation", matter="101", resolution="order")
    assert said.status_code == 201, said.text
    assert said.json()["order"]["number"] == made["number"]
    with records() as session:
        assert session.query(WorkOrder).count() == 1


def test_a_seat_that_classifies_after_the_wrap_up_is_reminded_and_counted_late(
    client: TestClient, paths: Paths, records: sessionmaker[Session], now: datetime
) -> None:
    answered(records, "call-1", now - timedelta(seconds=60 + WRAP_UP + 30))
    answered(records, "call-2", now - timedelta(seconds=20), ended=False)  # still talking
    waiting = client.get("/api/console/1001/wrap-up", headers=bearer(paths)).json()
    assert [(c["call"], c["phase"]) for c in waiting["calls"]] == [
        ("call-2", "talking"),
        ("call-1", "late"),
    ]
    assert waiting["late"] == 1
    late = classify(client, paths, "call-1", kind="other", resolution="direct").json()
    assert (late["late"], late["wrap_up_seconds"]) == (True, WRAP_UP + 30)
    during = classify(client, paths, "call-2", kind="consultation", matter="102",
                      resolution="direct").json()  # fmt: skip
    assert (during["late"], during["wrap_up_seconds"]) == (False, 0)


# --- the company pane ---------------------------------------------------------------------------


def a_company_with_a_history(records: sessionmaker[Session], now: datetime) -> int:
    """示例企业 on the red list: two earlier calls (one of them by seat 1002), a recording of
    each, an open order, an answered one with its return visit, a transfer, a call-back."""
    with records.begin() as session:
        firm = Enterprise(uscc="91310000MA1FL00001", name="上海示例科技有限公司",
                          district="浦东新区", industry="软件", created_at=now,
                          updated_at=now)  # fmt: skip
        firm.red_list = RedListEntry(tier="key-firm", reason="重点税源企业", added_by="admin",
                                     added_at=now)  # fmt: skip
        session.add(firm)
        session.flush()
        firm_id = firm.id
    answered(records, "old-1", now - timedelta(days=3), enterprise=firm_id)
    answered(records, "old-2", now - timedelta(days=2), enterprise=firm_id, seat="1002")
    answered(records, "other-firm", now - timedelta(days=1), number="02159999999")
    with records.begin() as session:
        for call in ("old-1", "old-2"):
            session.add(Recording(caller_channel=call, name=f"2026/09/{call}",
                                  started_at=now, state="recorded"))  # fmt: skip
        session.add(TransferRequest(
            key="t-1", caller_channel="old-2", seat_id="1002", matter_code="101",
            department_code="tax", requested_at=now - timedelta(days=2), in_hours=True,
            via="key", outcome="answered", answered_number="02161001001",
        ))  # fmt: skip
        session.add(CallbackRequest(caller_channel="old-2", caller_number="02150000001",
                                    number="02150000001", queue="enterprise", reason="callback",
                                    requested_at=now - timedelta(days=2)))  # fmt: skip
        for number, state, made in (("WO-open", "open", 1), ("WO-done", "replied", 10)):
            session.add(WorkOrder(
                number=number, department_code="tax", matter_code="101", level="7-days",
                reason="desk", state=state, enterprise_id=firm_id,
                created_at=now - timedelta(days=made), deadline_at=now + timedelta(days=5),
                request="发票核实",
            ))  # fmt: skip
        session.add(ReturnVisit(
            order_number="WO-done", department_code="tax", enterprise_id=firm_id, state="done",
            created_at=now, due_at=now, due_by=now, responded=True, resolved=False,
            satisfaction="basically-satisfied", visited_at=now, visited_by="phone",
        ))  # fmt: skip
    with records.begin() as session:
        session.add(WorkOrder(number="WO-other", department_code="tax", level="3-days",
                              reason="desk", state="open", created_at=now,
                              deadline_at=now))  # fmt: skip
    return firm_id


def test_the_desk_shows_the_calling_company_and_its_history_while_it_rings(
    client: TestClient,
    paths: Paths,
    records: sessionmaker[Session],
    now: datetime,
    redis_url: str,
) -> None:
    firm = a_company_with_a_history(records, now)
    with records.begin() as session:  # the new call, ringing seat 1001: no seat on it yet
        session.add(CallLeg(caller_channel="ringing", caller_number="02150000001",
                            called_number="12345", entered_at=now, caller_kind="enterprise",
                            enterprise_id=firm, queue="enterprise"))  # fmt: skip
    Redis.from_url(redis_url).hset(keys.SEATS_BUSY, "1001", "ringing")
    pane = client.get("/api/console/1001/company", headers=bearer(paths)).json()
    company = pane["company"]
    assert (company["uscc"], company["district"], company["industry"]) == (
        "91310000MA1FL00001",
        "浦东新区",
        "软件",
    )
    assert (company["tier"], company["reason"]) == ("key-firm", "重点税源企业")
    assert pane["calls_made"] == 3  # this one and the two earlier
    assert [(c["call"], c["seat"], c["playable"]) for c in pane["calls"]] == [
        ("ringing", None, False),
        ("old-2", "1002", False),  # another seat's recording: not for this seat to hear
        ("old-1", "1001", True),
    ]
    assert [(o["number"], o["open"], o["deadline"]) for o in pane["orders"]] == [
        ("WO-open", True, (now + timedelta(days=5)).isoformat()),
        ("WO-done", False, (now + timedelta(days=5)).isoformat()),
    ]
    assert pane["orders"][1]["visit"] == {
        "state": "done",
        "responded": True,
        "resolved": False,
        "satisfaction": "basically-satisfied",
    }
    assert [(t["matter"], t["outcome"], t["answered_by"]) for t in pane["transfers"]] == [
        ("101", "answered", "02161001001")
    ]
    assert [(c["reason"], c["state"]) for c in pane["callbacks"]] == [("callback", "pending")]
    # an earlier call of its own may be looked at again; another seat's may not
    assert (
        client.get("/api/console/1001/company?call=old-1", headers=bearer(paths)).status_code == 200
    )
    assert (
        client.get("/api/console/1001/company?call=old-2", headers=bearer(paths)).status_code == 404
    )


def test_a_caller_the_line_did_not_identify_is_shown_by_its_number(
    client: TestClient, paths: Paths, records: sessionmaker[Session], now: datetime
) -> None:
    answered(records, "first", now - timedelta(days=1), number="13800138000")
    answered(records, "second", now - timedelta(minutes=5), number="13800138000")
    answered(records, "stranger", now - timedelta(minutes=4), number="13900139000")
    pane = client.get("/api/console/1001/company?call=second", headers=bearer(paths)).json()
    assert pane["company"] is None
    assert [call["call"] for call in pane["calls"]] == ["second", "first"]


# --- the reports ----------------------------------------------------------------------------------


def test_classified_calls_are_reported_by_kind_and_matter_with_the_direct_answer_rate(
    client: TestClient, paths: Paths, records: sessionmaker[Session], now: datetime
) -> None:
    for n in range(5):
        answered(records, f"call-{n}", now - timedelta(minutes=30 - n))
    for call, kind, matter, resolution in (
        ("call-0", "consultation", "101", "direct"),
        ("call-1", "consultation", "101", "direct"),
        ("call-2", "consultation", "102", "order"),
        ("call-3", "appeal", "101", "order"),
    ):
        said = classify(client, paths, call, kind=kind, matter=matter, resolution=resolution,
                        note="请处理")  # fmt: skip
        assert said.status_code == 201, said.text
    period = Period(now.date(), now.date(), SHANGHAI)
    with records() as session:
        report = calls_by_kind(session, period)
        levels = order_levels(session, period, now + timedelta(days=30))
    rows = {(r["kind"], r["matter"]): r for r in report.rows}
    figures = {key: (r["calls"], r["direct"], r["ordered"], r["share"], r["direct_answer_rate"])
               for key, r in rows.items()}  # fmt: skip
    assert figures == {
        ("appeal", ""): (1, 0, 1, 0.2, 0.0),
        ("appeal", "101"): (1, 0, 1, 0.2, 0.0),
        ("consultation", ""): (3, 2, 1, 0.6, 0.6667),
        ("consultation", "101"): (2, 2, 0, 0.4, 1.0),
        ("consultation", "102"): (1, 0, 1, 0.2, 0.0),
        ("unclassified", ""): (1, 0, 0, 0.2, 0.0),
    }
    assert report.total is not None
    assert (report.total["calls"], report.total["direct_answer_rate"]) == (5, 0.4)
    by_level = {r["level"]: (r["orders"], r["due"], r["on_time"]) for r in levels.rows}
    assert by_level == {"immediate": (1, 1, 0), "7-days": (1, 1, 0)}
    assert levels.total is not None and levels.total["on_time_rate"] == 0.0
    drilled = client.get(
        "/api/reports/calls", headers=admin(paths),
        params={"figure": "classified", "from": "2026-09-30", "to": "2026-09-30",
                "kind": "consultation", "matter": "101"},
    ).json()  # fmt: skip
    assert sorted(call["call"] for call in drilled["calls"]) == ["call-0", "call-1"]


# --- the browser phone's account ------------------------------------------------------------------


def test_the_console_gets_its_browser_phones_account_and_switches_the_seat_to_it(
    client: TestClient, paths: Paths, site: Site, redis_url: str
) -> None:
    account = client.get("/api/console/1001/phone", headers=bearer(paths)).json()
    secrets = Secrets.load_or_create(paths.secrets_file)
    assert account == {
        "server": f"wss://{site.sip.bind}:{site.sip.wss_port}/ws",
        "port": site.sip.wss_port,
        "account": "1001-web",
        "password": secrets.seat_passwords["1001-web"],
        "in_browser": False,
    }
    assert client.get("/api/console/1001/phone", headers=bearer(paths, "1002")).status_code == 401
    switched = client.put("/api/console/1001/phone", json={"in_browser": True},
                          headers=bearer(paths))  # fmt: skip
    assert switched.json() == {"in_browser": True}
    assert Redis.from_url(redis_url).sismember(keys.SEATS_IN_BROWSER, "1001")
    client.put("/api/console/1001/phone", json={"in_browser": False}, headers=bearer(paths))
    assert not Redis.from_url(redis_url).sismember(keys.SEATS_IN_BROWSER, "1001")
