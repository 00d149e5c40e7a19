"""Work orders chased: the stages as a table (an order in a state, a moment → what is sent),
and the reminders on the wire — a department's webhook and a local SMTP sink receive them,
the supervisors' escalation follows, a target that does not take one is tried three times,
and the order's timeline shows each try."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.ari_script import scripted_site
from transfer.chasing import Audience, ChaseRules, OrderView, Stage, due
from transfer.deadlines import Level
from transfer.orders import WorkOrders
from transfer.plan import TransferPlan
from transfer.reminders import TRIES, Reminders

MADE = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DUE = MADE + timedelta(hours=24)
RULES = ChaseRules(remind_at=0.8, escalate_after=timedelta(hours=4))
D, S = Audience.DEPARTMENT, Audience.SUPERVISORS
ALWAYS = {"days": "every-day", "periods": ["00:00-24:00"]}


def order(state: str = "open") -> OrderView:
    return OrderView("WO-1", "tax", state, MADE, DUE)


CASES = {
    # name: (state, hours after it was made, stages done) → stages sent now
    "early: nothing": (("open", 1.0, set()), []),
    "80% of its time gone: the department": (("open", 19.2, set()), [(Stage.NEAR, D)]),
    "reminded already: nothing more": (("accepted", 20.0, {Stage.NEAR}), []),
    "past the deadline: overdue, not near": (("overdue", 25.0, set()), [(Stage.OVERDUE, D)]),
    "past the deadline after the near one": (
        ("overdue", 25.0, {Stage.NEAR}),
        [(Stage.OVERDUE, D)],
    ),
    "four hours later: the supervisors": (
        ("overdue", 28.0, {Stage.OVERDUE}),
        [(Stage.ESCALATED, S)],
    ),
    "seen late: overdue and escalated at once": (
        ("overdue", 30.0, set()),
        [(Stage.OVERDUE, D), (Stage.ESCALATED, S)],
    ),
    "replied: chased no more": (("replied", 30.0, set()), []),
    "closed: chased no more": (("closed", 30.0, set()), []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_stage_of_the_chase(name: str) -> None:
    (state, hours, done), expected = CASES[name]
    assert due(order(state), done, MADE + timedelta(hours=hours), RULES) == expected


class Webhook(ThreadingHTTPServer):
    """Takes POSTed JSON and keeps it."""

    def __init__(self) -> None:
        self.posted: list[dict[str, object]] = []
        received = self.posted

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/orders"


class SmtpSink:
    """A mail server that accepts every message and keeps it (just enough SMTP)."""

    def __init__(self) -> None:
        self.mails: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ready\r\n")
        lines: list[bytes] | None = None
        while line := await reader.readline():
            if lines is not None:  # the message, until a lone dot
                if line == b".\r\n":
                    self.mails.append(b"".join(lines).decode())
                    lines = None
                    writer.write(b"250 kept\r\n")
                else:
                    lines.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                lines = []
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink()
    await server.start()
    yield server
    assert server.server is not None
    server.server.close()


async def test_an_order_is_chased_by_webhook_and_email_then_escalated(
    factory: sessionmaker[Session], webhook: Webhook, sink: SmtpSink
) -> None:
    assert sink.server is not None
    port = int(sink.server.sockets[0].getsockname()[1])
    site = scripted_site(
        departments=[
            {"code": "tax", "name": "Tax", "numbers": ["02161001001"], "webhook": webhook.url,
             "email": "tax@example.gov.cn", "hours": ALWAYS},
        ],
        matters=[],
        orders={"remind_at": 0.8, "escalate_after": 4,
                "supervisors_webhook": f"http://127.0.0.1:{_dead_port()}/x",
                "supervisors_email": "chiefs@example.gov.cn"},
        smtp={"host": "127.0.0.1", "port": port, "sender": "hotline@example.gov.cn"},
    )  # fmt: skip
    TransferPlan(factory, site.timezone).seed(site)
    orders = WorkOrders(factory, site.timezone)
    number = orders.create("tax", Level.SECOND_URGENT, "unanswered", MADE)["number"]
    reminders = Reminders(site, factory)

    assert await reminders.round(MADE + timedelta(hours=1)) == 0
    assert await reminders.round(MADE + timedelta(hours=20)) == 2  # near: webhook and mail
    assert [p["stage"] for p in webhook.posted] == ["near-deadline"]
    assert await reminders.round(MADE + timedelta(hours=20, minutes=1)) == 0, "sent once"
    assert await reminders.round(MADE + timedelta(hours=25)) == 2  # overdue
    assert webhook.posted[-1]["order"] == number and webhook.posted[-1]["stage"] == "overdue"
    assert len(sink.mails) == 2 and "tax@example.gov.cn" in sink.mails[-1]
    assert number in sink.mails[-1]

    later = MADE + timedelta(hours=29)
    assert await reminders.round(later) == 1  # the escalation: mail yes, webhook down
    assert "chiefs@example.gov.cn" in sink.mails[-1]
    for minute in range(1, 5):  # the webhook is tried again, three times in all
        await reminders.round(later + timedelta(minutes=minute))
    found = orders.get(number)
    assert found is not None
    steps = [(s["what"], s.get("channel"), s.get("delivered")) for s in found["timeline"]]
    assert steps[0] == ("made", None, None)
    escalated = [s for s in steps if s[0] == "reminder: escalated"]
    assert escalated.count(("reminder: escalated", "webhook", False)) == TRIES
    assert ("reminder: escalated", "email", True) in escalated
    assert sum(1 for s in steps if s[2]) == 5, steps
