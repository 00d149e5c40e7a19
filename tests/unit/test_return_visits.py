"""Return visits: when they are due (Chinese working days), the book that plans one per
answered order and hands each call to one process, the call on the scripted PBX (the
questions, the keys, a busy company, Asterisk lost), what is written, a visit made by hand
through the API, and the report's rates with their numerators and denominators. The real
call — a company's phone that keys 1, 1, 2 — is tests/integration/test_return_visits.py."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.reports import Period, return_visits
from core import clock
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from core.worktime import DayRule, Schedule
from core.worktime import Period as Hours
from return_visit.book import STALE_AFTER, ReturnVisits
from return_visit.models import ReturnVisit, ReturnVisitCall
from return_visit.recorder import ReturnVisitRecords
from return_visit.records import VisitCallEnded
from return_visit.rules import VisitRules
from tests.unit import web_app
from tests.unit.ari_script import Script, scripted_site
from transfer.deadlines import Level
from transfer.orders import WorkOrders
from transfer.plan import TransferPlan

paths, client = web_app.paths, web_app.client  # the web app on an installation per test

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = Schedule(
    DayRule.WORKING_DAYS, (Hours.parse("09:00-12:00"), Hours.parse("13:30-17:30")), SHANGHAI
)
RULES = VisitRules(OFFICE, after=timedelta(minutes=60), within_days=3)
CARRIER = [
    {
        "name": "carrier",
        "match": ["127.0.0.2"],
        "numbers": ["12345"],
        "outbound_contact": "sip:127.0.0.2:5060",
    }
]
ALWAYS = {"days": "every-day", "periods": ["00:00-24:00"]}


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# --- when ---------------------------------------------------------------------------------------


def test_the_first_call_comes_an_hour_of_visit_hours_after_the_answer() -> None:
    assert RULES.first_call(local(2026, 11, 24, 10)) == local(2026, 11, 24, 11)
    # answered at 11:30: half an hour before lunch, half an hour after it
    assert RULES.first_call(local(2026, 11, 24, 11, 30)) == local(2026, 11, 24, 14)
    # answered on a Friday evening: Monday 10:00
    assert RULES.first_call(local(2026, 11, 27, 19)) == local(2026, 11, 30, 10)


def test_the_visit_must_be_made_within_three_working_days_holidays_and_make_up_days_known() -> None:
    """Answered on 30 September 2026: National Day (1-7 October) is no working day, Saturday
    10 October is (a make-up day): the third working day is 10 October."""
    assert RULES.due_by(local(2026, 9, 30, 16)) == local(2026, 10, 10, 17, 30)
    assert RULES.first_call(local(2026, 9, 30, 17)) == local(2026, 10, 8, 9, 30)


def test_no_call_after_the_last_attempt_or_the_last_moment() -> None:
    now, due_by = local(2026, 11, 24, 10), local(2026, 11, 27, 17, 30)
    # two hours of the hours from 10:00 end at noon, when they close: after lunch
    assert RULES.next_call(1, now, due_by) == local(2026, 11, 24, 13, 30)
    assert RULES.next_call(3, now, due_by) is None
    assert RULES.next_call(1, now, local(2026, 11, 24, 12)) is None


# --- the book -----------------------------------------------------------------------------------


@pytest.fixture
def orders(factory: sessionmaker[Session]) -> WorkOrders:
    site = scripted_site(trunks=CARRIER)
    TransferPlan(factory, site.timezone).seed(site)
    return WorkOrders(factory, site.timezone, visits=ReturnVisits(factory, RULES, "21"))


def answered_order(orders: WorkOrders, at: datetime, number: str | None = "6100 1001") -> str:
    """An order of the tax bureau from ``number``, answered at ``at``; its number."""
    order = orders.create("tax", Level.THREE_DAYS, "manual", at - timedelta(hours=2),
                          matter="101", caller_number=number)  # fmt: skip
    orders.act(order["number"], "reply", at, "answered by phone", "the company was told")
    return str(order["number"])


def test_an_answered_order_gets_its_visit_to_the_number_it_came_from(orders: WorkOrders) -> None:
    answered = local(2026, 11, 24, 10)
    number = answered_order(orders, answered)
    visit = orders.get(number)["visit"]  # type: ignore[index]
    assert (visit["state"], visit["number"], visit["department_code"], visit["matter_code"]) == (
        "pending", "02161001001", "tax", "101",
    )  # fmt: skip
    assert visit["due_at"] == local(2026, 11, 24, 11)
    assert visit["due_by"] == local(2026, 11, 27, 17, 30)


def test_an_order_without_a_number_waits_for_a_visit_by_hand(orders: WorkOrders) -> None:
    number = answered_order(orders, local(2026, 11, 24, 10), number="not a number; DROP")
    assert orders.get(number)["visit"]["state"] == "by-hand"  # type: ignore[index]


def test_one_process_only_claims_a_visit_and_only_when_it_is_due(
    orders: WorkOrders, factory: sessionmaker[Session]
) -> None:
    answered_order(orders, local(2026, 11, 24, 10))
    book = ReturnVisits(factory, RULES, "21")
    assert book.due(local(2026, 11, 24, 10, 59)) == []
    (visit,) = book.due(local(2026, 11, 24, 11))
    first = book.claim(visit, "visit-a", local(2026, 11, 24, 11))
    second = book.claim(visit, "visit-b", local(2026, 11, 24, 11))
    assert first is not None and second is None
    assert (first.attempt, first.number) == (1, "02161001001")
    assert book.due(local(2026, 11, 24, 11, 1)) == []


def test_a_call_left_by_a_dead_process_is_taken_back_and_a_late_visit_given_up(
    orders: WorkOrders, factory: sessionmaker[Session]
) -> None:
    answered_order(orders, local(2026, 11, 24, 10))
    book = ReturnVisits(factory, RULES, "21")
    (visit,) = book.due(local(2026, 11, 24, 11))
    assert book.claim(visit, "visit-a", local(2026, 11, 24, 11))
    book.tidy(local(2026, 11, 24, 11) + STALE_AFTER - timedelta(seconds=1))
    assert book.due(local(2026, 11, 24, 11, 20)) == []
    book.tidy(local(2026, 11, 24, 11, 20))
    assert book.due(local(2026, 11, 24, 11, 20)) == [visit]
    book.tidy(local(2026, 11, 27, 17, 31))
    with factory() as session:
        assert session.get_one(ReturnVisit, visit).state == "given-up"


# --- what a call writes -------------------------------------------------------------------------


def _ended(visit: int, channel: str, outcome: str, **fields: Any) -> VisitCallEnded:
    at = fields.pop("at", local(2026, 11, 24, 11, 1))
    values: dict[str, Any] = {"cause": None, "answers": (), "next_due": None, "counted": True}
    return VisitCallEnded(visit, fields.pop("attempt", 1), channel, at - timedelta(seconds=30),
                          at, outcome, **(values | fields))  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "fields", "state", "attempts", "due_at"),
    [
        ("answered", {"answers": (("responded", "yes"), ("satisfaction", "dissatisfied"))},
         "done", 1, local(2026, 11, 24, 11)),
        ("busy", {"next_due": local(2026, 11, 24, 14)}, "pending", 1, local(2026, 11, 24, 14)),
        ("no-answer", {"attempt": 3}, "given-up", 3, local(2026, 11, 24, 11)),
        ("interrupted", {"attempt": 2, "counted": False, "next_due": local(2026, 11, 24, 11, 1)},
         "pending", 0, local(2026, 11, 24, 11, 1)),
    ],
)  # fmt: skip
def test_what_a_call_found_moves_its_visit(
    orders: WorkOrders,
    factory: sessionmaker[Session],
    outcome: str,
    fields: dict[str, Any],
    state: str,
    attempts: int,
    due_at: datetime,
) -> None:
    answered_order(orders, local(2026, 11, 24, 10))
    book = ReturnVisits(factory, RULES, "21")
    (visit,) = book.due(local(2026, 11, 24, 11))
    assert book.claim(visit, "visit-a", local(2026, 11, 24, 11))
    record = pickle.loads(pickle.dumps(_ended(visit, "visit-a", outcome, **fields)))  # journaled
    for _ in range(2):  # applied twice: changed once
        with factory.begin() as session:
            ReturnVisitRecords().apply(session, record)
    with factory() as session:
        row = session.get_one(ReturnVisit, visit)
        assert (row.state, row.attempts, row.due_at, row.channel) == (state, attempts, due_at, None)
        calls = session.execute(select(ReturnVisitCall.outcome)).scalars().all()
        assert calls == [outcome]
        if state == "done":
            assert (row.responded, row.resolved, row.satisfaction) == (True, None, "dissatisfied")
            assert row.visited_by == "phone"


def test_a_late_record_of_a_call_taken_back_changes_nothing_but_its_own_row(
    orders: WorkOrders, factory: sessionmaker[Session]
) -> None:
    answered_order(orders, local(2026, 11, 24, 10))
    book = ReturnVisits(factory, RULES, "21")
    (visit,) = book.due(local(2026, 11, 24, 11))
    assert book.claim(visit, "visit-old", local(2026, 11, 24, 11))
    book.tidy(local(2026, 11, 24, 11, 30))
    assert book.claim(visit, "visit-new", local(2026, 11, 24, 11, 30))
    with factory.begin() as session:
        ReturnVisitRecords().apply(session, _ended(visit, "visit-old", "busy"))
    with factory() as session:
        assert session.get_one(ReturnVisit, visit).channel == "visit-new"


# --- the call, on the scripted PBX --------------------------------------------------------------


@pytest.fixture
async def script(
    redis: Redis, factory: sessionmaker[Session], time: clock.ManualClock
) -> AsyncIterator[Script]:
    site = scripted_site(
        trunks=CARRIER, visits={"hours": ALWAYS, "after_minutes": 0, "attempts": 2}
    )
    async with Script(redis, factory, time, site) as running:
        yield running


def _planned(script: Script, number: str = "02150000001") -> str:
    """An order answered now for ``number``; its order number."""
    orders = WorkOrders(script.sessions, script.site.timezone, visits=script.visits)
    order = orders.create("tax", Level.THREE_DAYS, "manual", clock.now(), caller_number=number)
    orders.act(order["number"], "reply", clock.now(), "done", "told them")
    return str(order["number"])


def _visit(script: Script, order: str) -> ReturnVisit:
    with script.sessions() as session:
        row = session.execute(
            select(ReturnVisit).where(ReturnVisit.order_number == order)
        ).scalar_one()
        session.expunge(row)
        return row


async def _dialled(script: Script) -> str:
    (caller,) = await script.app.visits.start_due()
    leg = caller.call.channel
    await script.until(lambda: leg in script.ari.channels_, "the company's phone rings")
    return leg


async def _asked(script: Script, prompt: str) -> None:
    await script.until(lambda: any(m.endswith(f"/{prompt}") for m in script.playing()), prompt)


async def test_the_company_answers_three_questions_by_keypad(script: Script) -> None:
    order = _planned(script)
    leg = await _dialled(script)
    channel = script.ari.channels_[leg]
    assert (channel.endpoint, channel.caller) == ("PJSIP/02150000001@carrier", "12345")
    script.answer(leg)
    await _asked(script, "visit-greeting")
    script.finish_prompts("visit-greeting")
    await _asked(script, "visit-responded")
    script.key(leg, "1")  # while the question plays: it stops
    await _asked(script, "visit-resolved")
    assert not any(m.endswith("/visit-responded") for m in script.playing())
    script.finish_prompts("visit-resolved")
    await script.quiet()
    script.key(leg, "1")
    await _asked(script, "visit-satisfied")
    script.key(leg, "2")
    await _asked(script, "visit-thanks")
    script.finish_prompts("visit-thanks")
    await script.until(lambda: leg not in script.ari.channels_, "the hotline hangs up")
    await script.records()
    visit = _visit(script, order)
    assert (visit.state, visit.responded, visit.resolved, visit.satisfaction) == (
        "done", True, True, "basically-satisfied",
    )  # fmt: skip
    shown = WorkOrders(script.sessions, script.site.timezone, visits=script.visits).get(order)
    assert shown is not None
    said = [step for step in shown["timeline"] if step["what"].startswith("return visit")]
    assert [step["what"] for step in said] == ["return visit: call 1 answered",
                                               "return visit: answered"]  # fmt: skip
    assert said[1]["satisfaction"] == "basically-satisfied" and said[1]["by"] == "phone"


async def test_a_busy_company_is_called_again_then_the_visit_is_given_up(script: Script) -> None:
    order = _planned(script)
    script.fail(await _dialled(script), 17)
    await script.until(lambda: not script.app.visits.live, "the call ends")
    await script.records()
    visit = _visit(script, order)
    assert (visit.state, visit.attempts) == ("pending", 1)
    assert visit.due_at == clock.now() + timedelta(minutes=120)
    await script.advance(120 * 60)
    script.fail(await _dialled(script), 19)
    await script.until(lambda: not script.app.visits.live, "the call ends")
    await script.records()
    assert (_visit(script, order).state, _visit(script, order).attempts) == ("given-up", 2)


async def test_a_company_that_picks_up_and_says_nothing_is_asked_twice_then_called_again(
    script: Script,
) -> None:
    order = _planned(script)
    leg = await _dialled(script)
    script.answer(leg)
    await _asked(script, "visit-greeting")
    script.finish_prompts()
    for _ in range(3 * 2):  # each question asked twice, no key
        await script.until(lambda: bool(script.playing()), "a question")
        script.finish_prompts()
        await script.quiet()
        await script.advance(8)
    await script.until(lambda: leg not in script.ari.channels_, "the hotline hangs up")
    await script.records()
    visit = _visit(script, order)
    assert (visit.state, visit.attempts) == ("pending", 1)
    with script.sessions() as session:
        assert session.execute(select(ReturnVisitCall.outcome)).scalars().all() == ["no-key"]


async def test_a_visit_asterisk_took_with_it_is_due_again_at_once(script: Script) -> None:
    order = _planned(script)
    leg = await _dialled(script)
    script.answer(leg)
    await _asked(script, "visit-greeting")
    await script.app.notice_restart()  # the first connection: nothing lost
    script.ari.startup = "2026-11-23T10:00:05.000+0800"
    script.ari.channels_.clear()
    await script.app.notice_restart()
    await script.until(lambda: not script.app.visits.live, "the call is cut")
    await script.records()
    visit = _visit(script, order)
    assert (visit.state, visit.attempts, visit.due_at) == ("pending", 0, clock.now())
    assert await script.app.visits.start_due(), "called again at once"


async def test_no_call_while_the_visit_hours_are_closed(
    redis: Redis, factory: sessionmaker[Session], time: clock.ManualClock
) -> None:
    night = {"days": "every-day", "periods": ["01:00-02:00"]}
    site = scripted_site(trunks=CARRIER, visits={"hours": night, "after_minutes": 0})
    async with Script(redis, factory, time, site) as script:
        _planned(script)
        assert await script.app.visits.start_due() == []
        await asyncio.sleep(0)


# --- by hand, through the API -------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_seat_records_a_visit_made_by_hand(client: TestClient, paths: Paths, site: Site) -> None:
    secrets = Secrets.load_or_create(paths.secrets_file)
    admin, seat = _bearer(secrets.admin_token), site.seats[0].id
    made = client.post("/api/orders", headers=admin, json={
        "department": site.departments[0].code, "level": "3-days", "caller_number": "",
    }).json()  # fmt: skip
    number = made["number"]
    visit = f"/api/orders/{number}/visit"
    answers = {"responded": True, "resolved": False, "satisfaction": "satisfied"}
    assert client.post(visit, json=answers).status_code == 401
    assert client.post(visit, json=answers, headers=admin).status_code == 409  # not answered
    reply = {"reply_to_company": "done", "report_to_hotline": "told them"}
    assert client.post(f"/api/orders/{number}/reply", headers=admin, json=reply).is_success
    waiting = client.get("/api/visits", headers=_bearer(secrets.supervisor_token())).json()
    assert [(v["order_number"], v["state"]) for v in waiting] == [(number, "by-hand")]
    console = _bearer(secrets.console_token(seat))
    bad = client.post(visit, json={"satisfaction": "delighted"}, headers=console)
    assert bad.status_code == 422 and "satisfied" in bad.json()["detail"]
    assert client.post(visit, json={}, headers=console).status_code == 422
    done = client.post(visit, json={**answers, "note": "called from the desk"}, headers=console)
    assert done.status_code == 200, done.text
    assert (done.json()["visited_by"], done.json()["satisfaction"]) == (f"seat:{seat}", "satisfied")
    assert client.post(visit, json=answers, headers=admin).status_code == 409  # made already
    assert client.post("/api/orders/WO1-1/visit", json=answers, headers=admin).status_code == 404
    shown = client.get(f"/api/orders/{number}", headers=admin).json()
    assert (shown["visit"]["responded"], shown["visit"]["resolved"]) == (True, False)


# --- the report ---------------------------------------------------------------------------------


def test_the_report_gives_each_rate_with_its_numerator_and_denominator(
    factory: sessionmaker[Session],
) -> None:
    day = local(2026, 11, 24, 10).astimezone(UTC)
    rows = [
        # department, matter, state, by, responded, resolved, satisfaction
        ("tax", "101", "done", "phone", True, True, "satisfied"),
        ("tax", "101", "done", "phone", True, False, "dissatisfied"),
        ("tax", "101", "done", "seat:1001", False, None, "basically-satisfied"),
        ("tax", "101", "given-up", None, None, None, None),
        ("tax", "102", "pending", None, None, None, None),
        ("social", None, "done", "phone", True, True, None),
    ]
    with factory.begin() as session:
        for n, (dept, matter, state, by, responded, resolved, satisfaction) in enumerate(rows):
            session.add(ReturnVisit(
                order_number=f"WO-{n}", department_code=dept, matter_code=matter, state=state,
                created_at=day, due_at=day, due_by=day, attempts=1, visited_by=by,
                responded=responded, resolved=resolved, satisfaction=satisfaction,
            ))  # fmt: skip
        session.add(ReturnVisit(order_number="WO-other-day", department_code="tax", state="done",
                                created_at=day - timedelta(days=1), due_at=day, due_by=day,
                                attempts=1, responded=False))  # fmt: skip
    with factory() as session:
        report = return_visits(session, Period(day.date(), day.date(), SHANGHAI))
    by_key = {(row["department"], row["matter"]): row for row in report.rows}
    tax = by_key[("tax", "101")]
    assert (tax["visits"], tax["visited"], tax["by_phone"], tax["given_up"]) == (4, 3, 2, 1)
    assert (tax["responded"], tax["responded_answers"], tax["response_rate"]) == (2, 3, 0.6667)
    assert (tax["resolved"], tax["resolved_answers"], tax["resolution_rate"]) == (1, 2, 0.5)
    assert (tax["satisfied"], tax["basically_satisfied"], tax["dissatisfied"]) == (1, 1, 1)
    assert (tax["satisfaction_answers"], tax["satisfaction_rate"]) == (3, 0.6667)
    assert by_key[("tax", "102")]["response_rate"] is None  # nobody asked: no misleading 0 %
    assert by_key[("social", "-")]["satisfaction_rate"] is None
    total = report.total
    assert total is not None
    assert (total["visits"], total["not_yet"], total["visit_rate"]) == (6, 1, 0.6667)
    assert (total["responded"], total["responded_answers"]) == (3, 4)
    assert set(report.definitions) == {"response_rate", "resolution_rate", "satisfaction_rate",
                                       "visit_rate"}  # fmt: skip
