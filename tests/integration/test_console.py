"""The seat console in headless Chromium: it shows the seat's caller (a red-list firm),
starts a transfer with a click and shows it answered; a screenshot is checked."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from ari_app.client import Ari
from core import clock
from core.secrets import Secrets
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.browser import chromium
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import SPECIALIST_A, eventually, seat_phones
from transfer.models import TransferRequest

pytestmark = pytest.mark.pbx

RED_FIRM = landline(0)  # a key firm of the sample registry: 示例企业0有限公司


@pytest.fixture
def web(stack: Stack) -> Iterator[str]:
    address = stack.start_web()
    yield address


def _colour_at(png: bytes, rect: dict[str, float]) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    x, y = int(rect["x"] + 6), int(rect["y"] + rect["height"] / 2)
    return image.getpixel((x, y))  # type: ignore[return-value]


def _close(colour: tuple[int, int, int], hex_colour: str) -> bool:
    wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= 12 for a, b in zip(colour, wanted, strict=True))


async def test_the_console_starts_a_transfer_and_shows_it_answered(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str, web: str
) -> None:
    since = clock.now()
    token = Secrets.load_or_create(stack.paths.secrets_file).console_token(one_seat)
    # a seat's token opens its own console and nothing else
    async with httpx.AsyncClient(base_url=web) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get(f"/api/console/{one_seat}", headers=bearer)).status_code == 200
        assert (await client.get("/api/console/1002", headers=bearer)).status_code == 401
        assert (await client.get("/api/seats", headers=bearer)).status_code == 401

    seat_port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (
        PhoneSpec(one_seat, seat_port, answer_after=0.3, hold=16.0),
        PhoneSpec(SPECIALIST_A, 5081, answer_after=1.0, hold=8.0),
    )
    playing = asyncio.create_task(
        rig.run(Scenario("console", phones, (CallerSpec(RED_FIRM, hold=None),)))
    )

    async def connected() -> bool:
        return any(len(bridge["channels"]) == 2 for bridge in await ari.bridges())

    assert await eventually(connected, within=10), "the seat never answered"
    async with chromium(f"{web}/console/{one_seat}#token={token}") as page:
        number = await page.wait_for("document.getElementById('caller-number').textContent")
        assert number == RED_FIRM
        company = await page.evaluate("document.getElementById('caller-company').textContent")
        assert company == "示例企业0有限公司"
        assert await page.evaluate("getComputedStyle(document.getElementById('red-badge')).display")
        await page.wait_for("!!document.querySelector('button[data-matter=\"901\"]')")
        await page.evaluate("document.querySelector('button[data-matter=\"901\"]').click()")
        await page.wait_for("document.getElementById('transfer-status').className === 'connected'")
        status = await page.evaluate("document.getElementById('transfer-status').textContent")
        assert SPECIALIST_A in status
        rects = await page.evaluate(
            "['transfer-status', 'red-badge'].map(id => "
            "JSON.parse(JSON.stringify(document.getElementById(id).getBoundingClientRect())))"
        )
        png = await page.screenshot()
    (stack.paths.state / "console.png").write_bytes(png)  # kept for a human to look at
    # the screenshot shows the transfer answered (green) and the red-list badge (red)
    assert _close(_colour_at(png, rects[0]), "#1e8e3e"), _colour_at(png, rects[0])
    assert _close(_colour_at(png, rects[1]), "#d93025"), _colour_at(png, rects[1])

    report = await playing
    assert report.callers[0].exit_code == 0, report.render()
    with registry.sessions() as session:
        request = session.execute(
            select(TransferRequest).where(TransferRequest.requested_at >= since)
        ).scalar_one()
    assert (request.via, request.outcome, request.answered_number) == (
        "console",
        "answered",
        SPECIALIST_A,
    )


async def test_the_console_answers_from_the_knowledge_base(stack: Stack, web: str) -> None:
    """Entries imported by the admin; in a seat's console the caller's question finds the
    right one with its words marked, and a matter's "Answers" offers that matter's."""
    secrets = Secrets.load_or_create(stack.paths.secrets_file)
    entries = (
        "code,title,text,matter,keywords\n"
        "DESK-1,增值税专用发票如何开具,登录电子税务局，申请开具增值税专用发票。,101,专票\n"
        "DESK-2,社会保险登记,新设企业三十日内办理社会保险登记。,,社保\n"
    )
    async with httpx.AsyncClient(base_url=web) as client:
        admin = {"Authorization": f"Bearer {secrets.admin_token}"}
        imported = await client.post("/api/knowledge/import", content=entries.encode(),
                                     headers=admin)  # fmt: skip
        assert imported.status_code == 200, imported.text
    seat = stack.site.seats[0].id
    async with chromium(f"{web}/console/{seat}#token={secrets.console_token(seat)}") as page:
        await page.wait_for("!!document.getElementById('knowledge-search')")
        await page.evaluate(_ask("专用发票怎么开"))
        first = await page.wait_for(
            "(document.querySelector('#knowledge .entry') || {}).dataset?.code"
        )
        assert first == "DESK-1"
        marks = await page.evaluate(
            "[...document.querySelectorAll('#knowledge .entry mark')].map(m => m.textContent)"
        )
        assert marks and set(marks) == {"专用发票"}, marks
        await page.evaluate(_ask(""))
        await page.wait_for("!!document.querySelector('button[data-answers=\"101\"]')")
        await page.evaluate("document.querySelector('button[data-answers=\"101\"]').click()")
        offered = await page.wait_for(
            "[...document.querySelectorAll('#knowledge .entry')].map(e => e.dataset.code).join()"
        )
        assert offered == "DESK-1"


def _ask(question: str) -> str:
    """Type a question into the console's knowledge box (JavaScript)."""
    return (
        "(() => { const box = document.getElementById('knowledge-search');"
        f" box.value = '{question}'; box.dispatchEvent(new Event('input')); }})()"
    )
