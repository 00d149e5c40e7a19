"""The seat's desk in headless Chromium on real calls: a red-list firm calls, the seat talks
to it and classifies the call in the page as an appeal made a work order; the firm calls
again and, while the seat's phone still rings, the page shows the firm with that call and
its order; the seat lets the wrap-up run out and is reminded (checked in a screenshot), then
classifies the call as answered from a knowledge entry; the reports count both."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from cdr.models import CallLeg
from core import clock
from core.secrets import Secrets
from desk.models import CallClassification
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.browser import Page, chromium
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import seat_phones
from transfer.deadlines import Level, deadline
from transfer.models import Department, WorkOrder
from transfer.plan import schedule_of

pytestmark = pytest.mark.pbx

FIRM = landline(0)  # 示例企业0有限公司, a key firm of the sample registry


@pytest.fixture
def web(stack: Stack) -> Iterator[str]:
    yield stack.start_web()


async def _nothing_left_to_classify(web: str, seat: str, token: str) -> None:
    """Earlier tests' calls of this seat are classified, so the page's form is this test's."""
    async with httpx.AsyncClient(base_url=web, headers={"Authorization": f"Bearer {token}"}) as c:
        for call in (await c.get(f"/api/console/{seat}/wrap-up")).json()["calls"]:
            said = {"kind": "other", "resolution": "direct"}
            await c.post(f"/api/console/{seat}/calls/{call['call']}/classification", json=said)


def _the_call(registry: RedList, since: datetime) -> str:
    with registry.sessions() as session:
        return session.execute(
            select(CallLeg.caller_channel)
            .where(CallLeg.caller_number == FIRM, CallLeg.entered_at >= since)
            .order_by(CallLeg.entered_at.desc())
            .limit(1)
        ).scalar_one()


async def _set(page: Page, selector: str, value: str) -> None:
    await page.evaluate(
        f"(() => {{ const e = document.querySelector('{selector}'); e.value = '{value}';"
        " e.dispatchEvent(new Event('change')); })()"
    )


def _colour_at(png: bytes, rect: dict[str, float]) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return image.getpixel((int(rect["x"] + 4), int(rect["y"] + 4)))  # type: ignore[return-value]


async def test_a_seat_sees_the_callers_history_classifies_its_calls_and_is_reminded(
    rig: Rig,
    stack: Stack,
    registry: RedList,
    one_seat: str,
    web: str,
    no_callback_pending: None,
) -> None:
    secrets = Secrets.load_or_create(stack.paths.secrets_file)
    token = secrets.console_token(one_seat)
    admin = {"Authorization": f"Bearer {secrets.admin_token}"}
    await _nothing_left_to_classify(web, one_seat, token)
    entry = "code,title,text,matter\nDESK-9,发票遗失怎么办,登报声明后到税务局补办。,101\n"
    async with httpx.AsyncClient(base_url=web) as client:
        imported = await client.post("/api/knowledge/import", content=entry.encode(), headers=admin)
        assert imported.status_code == 200, imported.text
    seat_port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    since = clock.now()

    async with chromium(f"{web}/console/{one_seat}#token={token}") as page:
        # the first call: talked for 3 s, then classified in the page as an appeal → an order
        seat = PhoneSpec(one_seat, seat_port, answer_after=0.3, hold=3.0)
        first = await rig.run(Scenario("desk-1", (seat,), (CallerSpec(FIRM, hold=None),)))
        assert first.callers[0].exit_code == 0, first.render()
        call_1 = _the_call(registry, since)
        await page.wait_for("!document.getElementById('wrap-up-box').hidden")
        await _set(page, "#wrap-kind", "appeal")
        await _set(page, "#wrap-matter", "101")
        await page.click("input[name=resolution][value=order]")
        await page.click("#wrap-complex")
        await _set(page, "#wrap-note", "发票被退回，需要税务局核实")
        await page.click("#wrap-save")
        made = await page.wait_for("document.getElementById('wrap-up-error').textContent")
        assert made.startswith("Order WO"), made
        with registry.sessions() as session:
            order = session.execute(
                select(WorkOrder).where(WorkOrder.caller_channel == call_1)
            ).scalar_one()
            tax = session.get(Department, "tax")
            assert tax is not None
            hours = schedule_of(tax, stack.site.timezone)
        assert (order.level, order.department_code, order.reason) == ("15-days", "tax", "desk")
        assert order.deadline_at == deadline(Level.FIFTEEN_DAYS, order.created_at, hours)

        # the second call: the page shows the firm and its history before the seat answers
        slow_seat = PhoneSpec(one_seat, seat_port, answer_after=3.0, hold=2.0)  # rings 3 s of 5
        ringing_long = Scenario("desk-2", (slow_seat,), (CallerSpec(FIRM, hold=None),))
        second = asyncio.create_task(rig.run(ringing_long))
        shown = await page.wait_for(  # the call ringing the seat (not a call to classify)
            f"(box => !box.hidden && box.dataset.call !== '{call_1}' && current && current.caller"
            " && box.dataset.call === current.caller.call && box.dataset.call)"
            "(document.getElementById('company-box'))"
        )
        call_2 = _the_call(registry, since)
        assert shown == call_2 != call_1
        name = await page.evaluate("document.getElementById('company-name').textContent")
        assert name == "示例企业0有限公司"
        with registry.sessions() as session:
            leg = session.execute(select(CallLeg).where(CallLeg.caller_channel == call_2))
            assert leg.scalar_one().answered_at is None, "the page showed the firm too late"
        earlier = await page.evaluate(
            "[...document.querySelectorAll('#company-calls tr')][1].textContent"
        )
        assert "appeal" in earlier and "101" in earlier and order.number in earlier, earlier
        orders = await page.evaluate("document.getElementById('company-orders').textContent")
        assert order.number in orders and "15-days" in orders, orders
        assert await page.evaluate("document.getElementById('company-tier').textContent") != "—"
        report = await second
        assert report.callers[0].exit_code == 0, report.render()

        # nobody classifies it: once the wrap-up is over the seat is reminded, in red
        await page.wait_for("document.getElementById('wrap-up-banner').className === 'late'")
        png = await page.screenshot(whole_page=True)  # scrolled to the top: page coordinates
        rect = await page.evaluate(
            "JSON.parse(JSON.stringify("
            "document.getElementById('wrap-up-banner').getBoundingClientRect()))"
        )
        (stack.paths.state / "desk.png").write_bytes(png)  # kept for a human to look at
        colour = _colour_at(png, rect)
        assert all(abs(a - b) <= 12 for a, b in zip(colour, (0xC5, 0x22, 0x1F), strict=True)), (
            colour
        )

        # answered from the knowledge base: the entry is found, marked used, the call saved
        await page.evaluate(
            "(() => { const box = document.getElementById('knowledge-search');"
            " box.value = '发票丢了'; box.dispatchEvent(new Event('input')); })()"
        )
        await page.wait_for("!!document.querySelector('button[data-use=\"DESK-9\"]')")
        await page.click('button[data-use="DESK-9"]')
        await _set(page, "#wrap-kind", "consultation")
        await _set(page, "#wrap-matter", "101")
        await page.click("input[name=resolution][value=direct]")
        await page.click("#wrap-save")
        await page.wait_for("document.getElementById('wrap-up-box').hidden")

    with registry.sessions() as session:
        said = {
            row.caller_channel: (row.kind, row.matter_code, row.resolution, row.knowledge, row.late)
            for row in session.execute(
                select(CallClassification).where(
                    CallClassification.caller_channel.in_([call_1, call_2])
                )
            ).scalars()
        }
    assert said == {
        call_1: ("appeal", "101", "order", [], False),
        call_2: ("consultation", "101", "direct", ["DESK-9"], True),
    }
    day = clock.now().astimezone(stack.site.timezone).date().isoformat()
    async with httpx.AsyncClient(base_url=web, headers=admin) as client:
        kinds = (await client.get("/api/reports/calls-by-kind", params={"from": day})).json()
        rows = {(row["kind"], row["matter"]): row for row in kinds["rows"]}
        assert rows["appeal", "101"]["ordered"] >= 1
        assert rows["consultation", "101"]["from_knowledge"] >= 1
        for kind, call in (("appeal", call_1), ("consultation", call_2)):
            behind = await client.get("/api/reports/calls", params={
                "figure": "classified", "from": day, "kind": kind, "matter": "101"})  # fmt: skip
            assert call in [c["caller_channel"] for c in behind.json()["calls"]]
        levels = (await client.get("/api/reports/order-levels", params={"from": day})).json()
        assert any(row["level"] == "15-days" and row["orders"] >= 1 for row in levels["rows"])
