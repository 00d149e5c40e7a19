"""The figures from real calls: 40 transfer requests with a known outcome each give exactly
the expected connect rate, dials by reason and work orders in the API, the CSV and the
terminal; the caller's rating reaches the reports; a burst of failed transfers raises the
alert (event, wallboard, webhook) and recovery clears it; the dashboard in Chromium shows
the waiting caller and the connect-rate chart."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image
from redis.asyncio import Redis
from sqlalchemy import select

from cdr.models import CallLeg
from core import clock
from core.secrets import Secrets
from core.stores import redis_url
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import csv_bytes, landline, rows
from rig.browser import chromium
from rig.orchestrator import Behaviour, CallerSpec, KeyPress, PhoneSpec, Rig, Scenario
from tests.conftest import (
    ALERT_WEBHOOK_PORT,
    DESK_PHONE,
    SPECIALIST_A,
    SPECIALIST_B,
    SPECIALIST_C,
    EventLog,
    ended_calls,
    eventually,
    move_clock,
    seat_phones,
    secrets_in_logs,
)
from transfer.models import TransferAttempt, TransferRequest, WorkOrder

pytestmark = pytest.mark.pbx

FIRST_FIRM = 100
"""The scenario's callers: firms 100-139 of the synthetic registry (not on the red list)."""
PLAN = [("921", 16), ("922", 8), ("923", 6), ("924", 6), ("925", 4)]
"""Matter → requests, all for the test departments ``forty`` and ``forty-closed`` (nothing
else uses them, so their figures are the scenario's alone). 921: specialist B answers the
first number. 922: A is busy, B (the busy-forward number) answers. 923: C rings out, then
the desk phone is not registered. 924: only the unregistered desk phone. 925: a department
closed now."""
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def web(stack: Stack) -> Iterator[str]:
    yield stack.start_web()


@pytest.fixture
def tokens(stack: Stack) -> dict[str, str]:
    secrets = Secrets.load_or_create(stack.paths.secrets_file)
    return {"admin": secrets.admin_token, "supervisor": secrets.supervisor_token()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _period() -> dict[str, str]:
    """The day before to the day after the installation's clock in Shanghai: every record
    of this run, whatever the hour."""
    today = clock.now().astimezone(SHANGHAI).date()
    return {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }


async def _transfer_each_answered_call(
    web: str,
    token: str,
    registry: RedList,
    since: datetime,
    matters: dict[str, str],
    done: asyncio.Event,
) -> Counter[str]:
    """Ask for the caller's matter (through the API, like the console) as soon as a seat
    answers each call of the scenario."""
    asked: set[str] = set()
    sent: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=web, headers=_bearer(token)) as client:
        while not done.is_set() or len(asked) < len(matters):
            with registry.sessions() as session:
                answered = session.execute(
                    select(CallLeg.caller_channel, CallLeg.caller_number).where(
                        CallLeg.entered_at >= since, CallLeg.answered_at.is_not(None)
                    )
                ).all()
            for channel, number in answered:
                if channel in asked or number not in matters:
                    continue
                response = await client.post(
                    f"/api/calls/{channel}/transfer", json={"matter": matters[number]}
                )
                assert response.status_code == 202, response.text
                asked.add(channel)
                sent[matters[number]] += 1
            if done.is_set():
                break
            await asyncio.sleep(0.2)
    return sent


async def test_forty_transfer_requests_give_exactly_the_expected_figures(
    rig: Rig, stack: Stack, registry: RedList, web: str, tokens: dict[str, str]
) -> None:
    registry.import_csv(csv_bytes(list(rows(40, start=FIRST_FIRM))), actor="test")
    matters: dict[str, str] = {}
    callers = []
    index = 0
    for matter, count in PLAN:
        for _ in range(count):
            number = landline(FIRST_FIRM + index)
            matters[number] = matter
            callers.append(CallerSpec(number, at=4.0 * index, hold=16.0))
            index += 1
    # interleave the matters so every seat sees every kind
    order = sorted(range(40), key=lambda i: (i % 5, i))
    callers = [CallerSpec(callers[i].number, at=4.0 * n, hold=16.0) for n, i in enumerate(order)]
    phones = (
        *seat_phones(stack.site, "enterprise", answer_after=0.3, hold=None),
        PhoneSpec(SPECIALIST_A, 5081, behaviour=Behaviour.BUSY),
        PhoneSpec(SPECIALIST_B, 5082, answer_after=0.5, hold=2.0),
        PhoneSpec(SPECIALIST_C, 5083, behaviour=Behaviour.RING),
    )
    since = clock.now()
    done = asyncio.Event()
    asking = asyncio.create_task(
        _transfer_each_answered_call(web, tokens["admin"], registry, since, matters, done)
    )
    try:
        report = await rig.run(Scenario("forty-transfers", phones, tuple(callers)))
    finally:
        done.set()
    sent = await asking
    assert all(caller.exit_code == 0 for caller in report.callers), report.render()
    assert sent == Counter(dict(PLAN))

    # every request decided as planned, straight from the records
    await ended_calls(registry, since, count=len(callers), within=30)
    with registry.sessions() as session:
        requests = list(
            session.execute(
                select(TransferRequest).where(TransferRequest.requested_at >= since)
            ).scalars()
        )
        outcomes = Counter(
            (request.matter_code, request.outcome, request.in_hours) for request in requests
        )
        dials = Counter(
            (attempt.number, attempt.outcome)
            for attempt in session.execute(
                select(TransferAttempt).where(TransferAttempt.started_at >= since)
            ).scalars()
        )
        orders = Counter(
            (order.department_code, order.reason, order.state)
            for order in session.execute(
                select(WorkOrder).where(
                    WorkOrder.transfer_request_id.in_([request.id for request in requests])
                )
            ).scalars()
        )
    assert outcomes == Counter(
        {
            ("921", "answered", True): 16,
            ("922", "answered", True): 8,
            ("923", "failed", True): 6,
            ("924", "failed", True): 6,
            ("925", "closed", False): 4,
        }
    )
    assert dials == Counter(
        {
            (SPECIALIST_B, "answered"): 24,
            (SPECIALIST_A, "busy"): 8,
            (SPECIALIST_C, "no-answer"): 6,
            (DESK_PHONE, "unavailable"): 12,
        }
    )
    assert orders == Counter(
        {("forty", "unanswered", "open"): 12, ("forty-closed", "closed", "open"): 4}
    )

    # the same figures in the API (as a supervisor), the CSV and the terminal
    period = _period()
    async with httpx.AsyncClient(base_url=web, headers=_bearer(tokens["supervisor"])) as client:
        body = (await client.get("/api/reports/connect-rate", params=period)).json()
        rows_by = {row["department"]: row for row in body["rows"]}
        forty, closed = rows_by["forty"], rows_by["forty-closed"]
        assert (forty["answered"], forty["requests"], forty["connect_rate"]) == (24, 36, 0.6667)
        assert (forty["answered_forward"], forty["failed"], forty["off_hours_requests"]) == (
            8,
            12,
            0,
        )
        assert (closed["requests"], closed["off_hours_requests"], closed["closed"]) == (0, 4, 4)
        reasons = (
            await client.get(
                "/api/reports/failed-attempts", params={**period, "department": "forty"}
            )
        ).json()
        by_reason = {row["reason"]: row["attempts"] for row in reasons["rows"]}
        assert by_reason == {
            "busy": 8,
            "no-answer": 6,
            "rejected": 0,
            "unavailable": 12,
            "failed": 0,
            "cancelled": 0,
            "abandoned": 0,
        }
        work = (await client.get("/api/reports/work-orders", params=period)).json()
        work_by = {row["department"]: row for row in work["rows"]}
        assert (work_by["forty"]["orders"], work_by["forty"]["open"]) == (12, 12)
        assert work_by["forty-closed"]["orders"] == 4
        drill = (await client.get(forty["calls"] + "&outcome=failed")).json()["calls"]
        assert len(drill) == 12 and {call["matter"] for call in drill} == {"923", "924"}
        journey = (await client.get(drill[0]["journey"])).json()
        assert [a["outcome"] for a in journey["transfers"][0]["attempts"]][-1] == "unavailable"
        assert journey["asterisk_cdrs"], "Asterisk's records are part of the journey"
        text = (
            await client.get("/api/reports/connect-rate", params={**period, "format": "csv"})
        ).text
    table = {row[0]: row for row in csv.reader(io.StringIO(text))}
    assert table["forty"][1:4] == ["24", "36", "0.6667"]
    assert table["forty-closed"][1:3] + table["forty-closed"][9:11] == ["0", "0", "0", "4"]

    terminal = await _hotline(
        stack, "report", "connect-rate", "--from", period["from"], "--to", period["to"]
    )
    line = next(line for line in terminal.splitlines() if line.split()[:1] == ["forty"])
    assert line.split()[:4] == ["forty", "24", "36", "66.7%"], terminal
    reasons_text = await _hotline(
        stack, "report", "failed-attempts", "--department", "forty",
        "--from", period["from"], "--to", period["to"],
    )  # fmt: skip
    counts = {
        words[0]: words[1]
        for words in (line.split() for line in reasons_text.splitlines())
        if len(words) > 1 and words[0] in ("busy", "no-answer", "unavailable")
    }
    assert counts == {"busy": "8", "no-answer": "6", "unavailable": "12"}, reasons_text


async def _hotline(stack: Stack, *argv: str) -> str:
    """Run the ``hotline`` command on the test installation; what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "--site", str(stack.site_file), *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOTLINE_STATE_DIR": str(stack.paths.state)},
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_caller_rates_the_seat_after_it_hangs_up(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str, web: str, tokens: dict[str, str]
) -> None:
    since = clock.now()
    caller = landline(3)
    seat_port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (PhoneSpec(one_seat, seat_port, answer_after=0.3, hold=3.0),)
    # the seat hangs up ~4 s in; the key comes while the survey's question (10 s) plays
    keys = (KeyPress(8.0, "2"),)
    report = await rig.run(Scenario("survey", phones, (CallerSpec(caller, hold=None, keys=keys),)))
    assert report.callers[0].exit_code == 0, report.render()
    assert report.callers[0].calls[0].events[-1] == "remote-hangup"
    (leg,) = await ended_calls(registry, since)
    assert (leg.outcome, leg.satisfaction) == ("seat-hangup", "basically-satisfied")
    async with httpx.AsyncClient(base_url=web, headers=_bearer(tokens["supervisor"])) as client:
        seats = (await client.get("/api/reports/seats", params=_period())).json()
        mine = next(row for row in seats["rows"] if row["seat"] == one_seat)
        assert mine["basically_satisfied"] >= 1 and mine["satisfaction"] is not None
        rated = (
            await client.get(
                "/api/reports/calls",
                params={**_period(), "figure": "rated", "rating": "basically-satisfied"},
            )
        ).json()["calls"]
        assert leg.caller_channel in {call["caller_channel"] for call in rated}


class Webhook:
    """A local HTTP server that keeps what the alert webhook posts."""

    def __init__(self) -> None:
        self.posts: list[dict[str, object]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        self.posts.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    server = await asyncio.start_server(hook.handle, "127.0.0.1", ALERT_WEBHOOK_PORT)
    try:
        yield hook
    finally:
        server.close()
        await server.wait_closed()


async def test_a_burst_of_failed_transfers_raises_the_alert_and_recovery_clears_it(
    rig: Rig,
    stack: Stack,
    registry: RedList,
    one_seat: str,
    web: str,
    tokens: dict[str, str],
    webhook: Webhook,
) -> None:
    """The desk department: three requests fail (its phone is not registered), then after
    its one-minute window has passed, one is answered."""
    seat_port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (
        PhoneSpec(one_seat, seat_port, answer_after=0.3, hold=None),
        PhoneSpec(SPECIALIST_C, 5083, answer_after=0.5, hold=2.0),
    )
    since = clock.now()
    admin = _bearer(tokens["admin"])
    scenario = Scenario("alert", phones, (CallerSpec(landline(5), hold=95.0),))
    async with (
        playing_in_background(rig, scenario) as playing,
        EventLog(redis_url(stack.paths)) as events,
        httpx.AsyncClient(base_url=web, headers=admin) as client,
    ):

        def requests_done() -> list[TransferRequest]:
            with registry.sessions() as session:
                return list(
                    session.execute(
                        select(TransferRequest).where(
                            TransferRequest.requested_at >= since,
                            TransferRequest.outcome.is_not(None),
                        )
                    ).scalars()
                )

        async def ask(matter: str, done: int) -> None:
            with registry.sessions() as session:
                channel = session.execute(
                    select(CallLeg.caller_channel).where(
                        CallLeg.entered_at >= since, CallLeg.answered_at.is_not(None)
                    )
                ).scalar_one()
            response = await client.post(f"/api/calls/{channel}/transfer", json={"matter": matter})
            assert response.status_code == 202
            assert await eventually(lambda: _async(len(requests_done()) == done), within=15)

            async def message_over() -> bool:  # before the next request
                status = await client.get(f"/api/calls/{channel}/transfer")
                return status.status_code == 200 and not status.json()["message_pending"]

            # the message to caller and seat, in Mandarin then English, lasts ~16 s
            assert await eventually(message_over, within=30), "the failure message never ended"

        async def seat_answered() -> bool:
            with registry.sessions() as session:
                return (
                    session.execute(
                        select(CallLeg).where(
                            CallLeg.entered_at >= since, CallLeg.answered_at.is_not(None)
                        )
                    ).first()
                    is not None
                )

        assert await eventually(seat_answered, within=15)
        for done in (1, 2, 3):
            await ask("904", done)
        failed_at = clock.now()
        raised = await _event(events, "alert-raised", "desk", within=60)
        assert (clock.now() - failed_at).total_seconds() < 60
        assert (raised["answered"], raised["requests"], raised["rate"]) == (0, 3, 0.0)
        live = (await client.get("/api/live", headers=_bearer(tokens["supervisor"]))).json()
        assert "desk" in [alert["department"] for alert in live["alerts"]]

        move_clock(stack.paths, by=62 - (clock.now() - failed_at).total_seconds())  # the window
        await ask("905", 4)
        cleared = await _event(events, "alert-cleared", "desk", within=30)
        assert (cleared["answered"], cleared["requests"]) == (1, 1)
        live = (await client.get("/api/live", headers=_bearer(tokens["supervisor"]))).json()
        assert "desk" not in [alert["department"] for alert in live["alerts"]]
        report = await playing
    assert report.callers[0].exit_code == 0, report.render()
    assert [post["event"] for post in webhook.posts if post["department"] == "desk"] == [
        "alert-raised",
        "alert-cleared",
    ]


@contextlib.asynccontextmanager
async def playing_in_background(rig: Rig, scenario: Scenario) -> AsyncIterator[asyncio.Task[Any]]:
    """Play a scenario while the test goes on; if the test fails first, its phones are
    stopped (the rig kills its SIPp processes when cancelled), not left for the next test."""
    task = asyncio.create_task(rig.run(scenario))
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _event(events: EventLog, kind: str, department: str, within: float) -> dict[str, object]:
    async def seen() -> bool:
        return any(e["type"] == kind and e.get("department") == department for e in events.events)

    assert await eventually(seen, within=within), f"no {kind} for {department}"
    return next(e for e in events.events if e["type"] == kind and e.get("department") == department)


async def _async(value: bool) -> bool:
    return value


async def test_the_dashboard_shows_the_waiting_caller_and_the_connect_rate_chart(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str, web: str, tokens: dict[str, str]
) -> None:
    """A seat brings a specialist in (so the charts have a transfer); then every seat is
    paused, so a red-list firm waits: the dashboard shows it in the line with its tier, and
    the connect-rate charts with the 90% line."""
    seat_port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    transfer = Scenario(
        "dashboard-transfer",
        (
            PhoneSpec(one_seat, seat_port, answer_after=0.3, keys=(KeyPress(1.0, "*921#"),)),
            PhoneSpec(SPECIALIST_B, 5082, answer_after=0.5, hold=2.0),
        ),
        (CallerSpec(landline(7), hold=6.0),),
    )
    first = await rig.run(transfer)
    assert first.phone(SPECIALIST_B).answered == 1, first.render()
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    for seat in stack.site.seats:
        await seats.pause(seat.id, "test: nobody answers")
    red_firm = landline(0)
    waiting = Scenario("dashboard", (), (CallerSpec(red_firm, hold=12.0),))
    async with playing_in_background(rig, waiting) as playing:
        png, rects = await _look_at_the_dashboard(stack, web, tokens, red_firm, seats, redis)
        report = await playing
    assert report.callers[0].exit_code == 0, report.render()
    (stack.paths.state / "dashboard.png").write_bytes(png)  # kept for a human to look at
    image = Image.open(io.BytesIO(png)).convert("RGB")
    target_line, first_bar, tier_pill = rects
    middle = int(target_line["y"] + target_line["height"] / 2)
    along = [
        image.getpixel((x, y))
        for x in range(int(target_line["x"]) + 2, int(target_line["x"]) + 60)
        for y in (middle - 1, middle)
    ]
    assert any(_close(colour, "#d93025") for colour in along), "no red 90% line drawn"
    bar_colour = image.getpixel(
        (
            int(first_bar["x"] + first_bar["width"] / 2),
            int(first_bar["y"] + first_bar["height"] - 2),
        )
    )
    assert _close(bar_colour, "#c5221f") or _close(bar_colour, "#1e8e3e"), bar_colour
    pill_colour = image.getpixel(
        (int(tier_pill["x"] + 4), int(tier_pill["y"] + tier_pill["height"] / 2))
    )
    assert _close(pill_colour, "#d93025"), pill_colour
    assert secrets_in_logs(stack.paths, stack.site) == []


async def _look_at_the_dashboard(
    stack: Stack, web: str, tokens: dict[str, str], red_firm: str, seats: SeatPool, redis: Redis
) -> tuple[bytes, list[dict[str, float]]]:
    """Open the dashboard while the red-list firm waits; a screenshot and where the target
    line, the first report bar and the tier pill are. The seats are resumed afterwards."""
    try:
        address = f"{web}/dashboard#token={tokens['supervisor']}"
        async with chromium(address, size=(1400, 1000)) as page:
            row = await page.wait_for(
                "[...document.querySelectorAll('tr.waiting-caller')].map(r => r.textContent)"
                ".find(t => t.includes('" + red_firm + "'))"
            )
            assert "红名单" in row
            await page.wait_for("!!document.getElementById('live-rates-target')")
            await page.wait_for("document.querySelectorAll('#report-rates rect').length > 0")
            await page.evaluate("window.scrollTo(0, 0)")
            rects = await page.evaluate(
                "[document.getElementById('live-rates-target'),"
                " document.querySelector('#report-rates rect'),"
                " document.querySelector('tr.waiting-caller .tier')]"
                ".map(e => JSON.parse(JSON.stringify(e.getBoundingClientRect())))"
            )
            png = await page.screenshot(whole_page=True)
    finally:
        for seat in stack.site.seats:
            await seats.resume(seat.id)
        await redis.aclose()
    return png, rects


def _close(colour: object, hex_colour: str) -> bool:
    wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= 16 for a, b in zip(colour, wanted, strict=True))  # type: ignore[call-overload]
