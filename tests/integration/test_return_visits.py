"""Return visits on the real PBX: a work order answered through the admin API is followed up
by a call to the company's number through the trunk (SIPp as the carrier's SBC, with the
hotline's number as caller ID); the company's phone keys 1, 1, 2 over RTP events; the order
shows responded, resolved, basically satisfied, and the department's report counts it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from core.secrets import Secrets
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from return_visit.models import ReturnVisit, ReturnVisitCall
from rig.browser import chromium
from rig.orchestrator import Behaviour, KeyPress, PhoneSpec, Rig, Scenario
from tests.conftest import CARRIER_SBC

pytestmark = pytest.mark.pbx

COMPANY = landline(3)  # an ordinary firm of the registry


def company_phone() -> PhoneSpec:
    """The carrier's SBC, where the company is reached: it picks up, and keys 1 during the
    greeting (the first question), 1 to the second and 2 to the third, then waits for the
    hotline to hang up."""
    keys = (KeyPress(3.0, "1"), KeyPress(6.0, "1"), KeyPress(9.0, "2"))
    return PhoneSpec("carrier-sbc", CARRIER_SBC, Behaviour.ANSWER, answer_after=0.5, keys=keys)


def visit_of(registry: RedList, order: str) -> ReturnVisit | None:
    with registry.sessions() as session:
        visit = session.execute(
            select(ReturnVisit).where(ReturnVisit.order_number == order)
        ).scalar_one_or_none()
        session.expunge_all()
        return visit


async def test_an_answered_order_is_followed_up_and_the_company_answers_by_keypad(
    rig: Rig, stack: Stack, registry: RedList
) -> None:
    secrets = Secrets.load_or_create(stack.paths.secrets_file)
    admin = {"Authorization": f"Bearer {secrets.admin_token}"}
    supervisor = {"Authorization": f"Bearer {secrets.supervisor_token()}"}
    department = stack.site.departments[0].code
    matter = next(m.code for m in stack.site.matters if m.department == department)
    address = stack.start_web()
    async with httpx.AsyncClient(base_url=address, headers=admin, timeout=10) as web:
        made = await web.post("/api/orders", json={
            "department": department, "matter": matter, "caller_number": COMPANY,
        })  # fmt: skip
        assert made.status_code == 201, made.text
        order = made.json()["number"]
        reply = {"reply_to_company": "registered", "report_to_hotline": "the company was told"}
        assert (await web.post(f"/api/orders/{order}/reply", json=reply)).is_success

        async def visited() -> bool:
            visit = visit_of(registry, order)
            return visit is not None and visit.state == "done"

        report = await rig.run(
            Scenario("return-visit", (company_phone(),), ()), until=visited, within=60
        )
        sbc = report.phone("carrier-sbc")
        assert [call.invited for call in sbc.calls] == [(COMPANY, "12345")], report.render()
        assert sbc.rtp_received > 50, "the company heard the questions"

        shown = (await web.get(f"/api/orders/{order}")).json()
        visit = shown["visit"]
        assert (visit["responded"], visit["resolved"], visit["satisfaction"]) == (
            True, True, "basically-satisfied",
        ), report.render()  # fmt: skip
        assert (visit["visited_by"], visit["attempts"]) == ("phone", 1)
        steps = [step["what"] for step in shown["timeline"]]
        assert steps[-2:] == ["return visit: call 1 answered", "return visit: answered"]

        figures = await web.get("/api/reports/return-visits", headers=supervisor)
        assert figures.status_code == 200, figures.text
        (row,) = [r for r in figures.json()["rows"] if r["department"] == department]
        assert (row["visits"], row["visited"], row["by_phone"]) == (1, 1, 1)
        assert (row["responded"], row["responded_answers"], row["response_rate"]) == (1, 1, 1.0)
        assert (row["resolved"], row["resolved_answers"], row["resolution_rate"]) == (1, 1, 1.0)
        assert (row["basically_satisfied"], row["satisfaction_answers"]) == (1, 1)
        assert row["satisfaction_rate"] == 1.0

    # the supervisors' dashboard shows the department's rates with their counts
    async with chromium(f"{address}/dashboard#token={secrets.supervisor_token()}") as page:
        label = f"{department} satisfied"
        shown_note = await page.wait_for(
            "[...document.querySelectorAll('#visits text')].map(t => t.textContent)"
            ".find(t => t === '100.0% (1/1)')"
        )
        assert shown_note
        assert await page.evaluate(
            f"!!document.querySelector('#visits rect[data-label=\"{label}\"]')"
        )

    with registry.sessions() as session:
        calls = session.execute(select(ReturnVisitCall.outcome)).scalars().all()
    assert calls == ["answered"]
