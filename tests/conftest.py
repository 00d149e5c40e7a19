"""Shared fixtures. Integration tests (marked ``pbx``) run against one real Asterisk, one
Redis and the Stasis app for the whole session, with SIPp phones."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ari_app.client import Ari
from ari_app.main import ari_config
from core import clock
from core.paths import Paths
from core.site import Site, load_site
from hotline.stack import Stack
from redlist.service import RedList
from rig.network import browser_media_address
from rig.orchestrator import PhoneSpec, Rig

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from cdr.models import CallLeg
    from hotline.redis_server import SentinelSet

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = REPO / "sites" / "example.toml"


HEAD_START = 5
"""The red-list head start of the test site (60 s in the example): the aging rule is
tested in seconds, not minutes."""
RING_TIMEOUT = 5
WRAP_UP = 2
MAX_WAIT = 45
SPECIALIST_RING_TIMEOUT = 5
OPEN_MOMENT = "2026-11-23T10:00:00+08:00"
"""The installation's clock in tests: a Monday morning in Shanghai, when every queue is open.
Every process of the test installation runs on from it (``core.clock``), whatever the date."""


SPECIALIST_A, SPECIALIST_B, SPECIALIST_C = "02161001001", "02161001002", "02161002001"
"""Rig specialists' phones of the example site (ports 5081, 5082, 5083)."""
DESK_PHONE = "02161001009"
"""A specialist's desk phone that registers: never registered in the tests (unavailable)."""
TLS_PORT = 5061
TEST_PLAN = f"""
[[matters]]
code = "901"
name = "Test: two numbers"
department = "tax"
numbers = ["{SPECIALIST_A}", "{SPECIALIST_B}"]

[[matters]]
code = "902"
name = "Test: rings out, unregistered, answers"
department = "tax"
numbers = ["{SPECIALIST_A}", "{DESK_PHONE}", "{SPECIALIST_B}"]

[[departments]]
code = "night"
name = "Test: a department open at night only"
numbers = ["{SPECIALIST_A}"]
hours = {{ days = "every-day", periods = ["01:00-02:00"] }}

[[matters]]
code = "903"
name = "Test: closed department"
department = "night"

[[departments]]
code = "forty"
name = "Test: the forty-request scenario's department"
numbers = ["{SPECIALIST_B}"]

[[departments]]
code = "forty-closed"
name = "Test: the forty-request scenario's closed department"
numbers = ["{SPECIALIST_B}"]
hours = {{ days = "every-day", periods = ["01:00-02:00"] }}

[[matters]]
code = "921"
name = "Test: one number"
department = "forty"

[[matters]]
code = "922"
name = "Test: busy, then the busy-forward number"
department = "forty"
numbers = ["{SPECIALIST_A}", "{SPECIALIST_B}"]

[[matters]]
code = "923"
name = "Test: rings out, then unregistered"
department = "forty"
numbers = ["{SPECIALIST_C}", "{DESK_PHONE}"]

[[matters]]
code = "924"
name = "Test: unregistered only"
department = "forty"
numbers = ["{DESK_PHONE}"]

[[matters]]
code = "925"
name = "Test: a closed department"
department = "forty-closed"

[[departments]]
code = "desk"
name = "Test: a department whose alert is watched"
numbers = ["{DESK_PHONE}"]

[[matters]]
code = "904"
name = "Test: the desk phone nobody registered"
department = "desk"

[[matters]]
code = "905"
name = "Test: the desk department's answering phone"
department = "desk"
numbers = ["{SPECIALIST_C}"]
"""
"""Matters of the test site with known numbers; the app's clock is Monday 10:00 in Shanghai,
when the tax bureau is open and the night department closed."""


ALERT_WEBHOOK_PORT = 18099
REPORT_SETTINGS = {
    "alert_window = 15": "alert_window = 1",
    "alert_min_requests = 10": "alert_min_requests = 3",
    '# alert_webhook = "http://127.0.0.1:9000/alerts"': (
        f'alert_webhook = "http://127.0.0.1:{ALERT_WEBHOOK_PORT}/alerts"'
    ),
    "survey_wait = 8": "survey_wait = 2",
    "notice = true ": "notice = false ",
    'how satisfied?\nhours = { days = "working-days", periods = ["09:00-12:00", "13:30-17:30"] }': (
        'how satisfied?\nhours = { days = "every-day", periods = ["00:00-24:00"] }'
    ),
    "after_minutes = 60 ": "after_minutes = 0 ",
}
"""Alerts over one minute from three requests (a webhook the alert test listens on), a
short wait for the survey's key, no recording notice, and return visits called at once
whenever the clock says."""


@pytest.fixture(scope="session")
def site_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example site, with a short red-list head start, ring timeout, wrap-up and
    maximum wait, and two Stasis app processes."""
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    keys = ("red_list_head_start = 60", "ring_timeout = 15", "wrap_up = 10", "max_wait = 600")
    keys_too = ("app_processes = 1",)
    assert all(key in text for key in keys + keys_too)
    text = text.replace("red_list_head_start = 60", f"red_list_head_start = {HEAD_START}")
    text = text.replace("ring_timeout = 15", f"ring_timeout = {RING_TIMEOUT}")
    text = text.replace("wrap_up = 10", f"wrap_up = {WRAP_UP}")
    text = text.replace("max_wait = 600", f"max_wait = {MAX_WAIT}")
    # the dialplan knows two app processes; one runs unless a test starts the second
    text = text.replace("app_processes = 1", "app_processes = 2")
    assert "ring_timeout = 20" in text
    text = text.replace("ring_timeout = 20", f"ring_timeout = {SPECIALIST_RING_TIMEOUT}")
    for example, test in REPORT_SETTINGS.items():
        assert example in text, example
        text = text.replace(example, test)
    # the browser phones' audio on an address Asterisk offers to a browser (not loopback)
    assert "wss_port = 8089" in text
    address = browser_media_address()
    if address is not None:
        text = text.replace("wss_port = 8089", f'wss_port = 8089\nwebrtc_address = "{address}"')
    # the desk phone's seat is encrypted (TLS and SRTP; a real baresip registers as it)
    text = text.replace("# tls_port = 5061", f"tls_port = {TLS_PORT}")
    text = text.replace("# encrypted = true", "encrypted = true")
    text += TEST_PLAN
    path = tmp_path_factory.mktemp("site") / "site.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.fixture(scope="session")
def site(site_file: Path) -> Site:
    return load_site(site_file)


@pytest.fixture(scope="session")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A fresh state directory per test session; the PBX root cache is shared."""
    state = tmp_path_factory.mktemp("state")
    cache = Path(os.environ.get("HOTLINE_CACHE_DIR") or Path.home() / ".cache/hotline")
    os.environ["HOTLINE_STATE_DIR"] = str(state)
    os.environ["HOTLINE_CACHE_DIR"] = str(cache)
    return Paths(state=state, cache=cache)


def seat_phones(
    site: Site, queue: str | None = None, answer_after: float = 0.5, hold: float | None = None
) -> tuple[PhoneSpec, ...]:
    """A rig phone on every seat with a fixed contact (of one queue, or all)."""
    seats = site.seats_of(queue) if queue else site.seats
    return tuple(
        PhoneSpec(
            seat.id, int(seat.contact.rsplit(":", 1)[1]), answer_after=answer_after, hold=hold
        )
        for seat in seats
        if seat.contact
    )


def run_hotline(site_file: Path, paths: Paths, *argv: str) -> str:
    """A ``hotline`` command on this installation, as an admin types it; its output."""
    env = {
        **os.environ,
        "HOTLINE_STATE_DIR": str(paths.state),
        "HOTLINE_CACHE_DIR": str(paths.cache),
    }
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "--site", str(site_file), *argv],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_ports(count: int) -> tuple[int, ...]:
    """Loopback TCP ports nothing listens on now (for servers a test starts)."""
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = tuple(each.getsockname()[1] for each in sockets)
    for each in sockets:
        each.close()
    return ports


def restart_services(stack: Stack) -> None:
    """An installation's (or a node's) front door, monitor and app again, reading
    ``REDIS_URL`` afresh; its Asterisk goes on."""
    stack.stop_app()
    stack.stop_front_door()
    stack.stop_monitor()
    stack.start_front_door()
    stack.start_monitor()
    stack.start_app()


@contextlib.asynccontextmanager
async def on_sentinels(
    directory: Path, monkeypatch: pytest.MonkeyPatch, stacks: list[Stack]
) -> AsyncIterator[SentinelSet]:
    """``stacks``' processes moved onto a Redis Sentinel set (a primary, a replica, three
    sentinels on loopback) for the block, and back onto their own Redis afterwards."""
    from hotline.redis_server import SentinelSet

    a, b, c, d, e = free_ports(5)
    redis_set = SentinelSet(directory, (a, b, c, d, e))

    def restart_all() -> None:
        for stack in stacks:
            restart_services(stack)

    monkeypatch.setenv("REDIS_URL", await asyncio.to_thread(redis_set.up))
    try:
        await asyncio.to_thread(restart_all)
        yield redis_set
    finally:
        monkeypatch.delenv("REDIS_URL")
        await asyncio.to_thread(restart_all)
        redis_set.down()


def move_clock(paths: Paths, to: str | None = None, by: float = 0.0) -> None:
    """Move the test installation's clock: every process follows within a quarter second.
    Only forward, so that no timer of a running process sees time go back."""
    if to is not None:
        moment = datetime.fromisoformat(to)
        assert moment >= clock.now(), f"the clock moves forward only: {to} is in its past"
        clock.set_installation_time(moment, paths.state)
    else:
        assert by >= 0, "the clock moves forward only"
        clock.advance_installation_time(by, paths.state)


async def ended_calls(
    registry: RedList, since: datetime, count: int | None = None, within: float = 15.0
) -> list[CallLeg]:
    """The calls that entered since ``since`` (at least ``count`` of them), once every one has
    its end recorded: records are written off the call's path, a moment after it ends."""
    from sqlalchemy import select

    from cdr.models import CallLeg

    legs: list[CallLeg] = []

    async def recorded() -> bool:
        nonlocal legs
        with registry.sessions() as session:
            legs = list(
                session.execute(
                    select(CallLeg).where(CallLeg.entered_at >= since).order_by(CallLeg.entered_at)
                ).scalars()
            )
            session.expunge_all()
        enough = len(legs) >= (count or 1)
        return enough and all(leg.ended_at is not None for leg in legs)

    assert await eventually(recorded, within=within), f"calls since {since} not all recorded"
    return legs


CARRIER_SBC = 5099
"""The port of the carrier's SBC in the example site (the trunk's ``outbound_contact``):
a rig phone there answers what the hotline dials out (call-backs, outside numbers)."""


def called_back(registry: RedList, number: str) -> list[CallLeg]:
    """The calls the hotline made to ``number`` that reached it (call-backs), in order."""
    from sqlalchemy import select

    from cdr.models import CallLeg

    with registry.sessions() as session:
        legs = list(
            session.execute(
                select(CallLeg)
                .where(CallLeg.caller_number == number, CallLeg.callback_request.is_not(None))
                .order_by(CallLeg.entered_at)
            ).scalars()
        )
        session.expunge_all()
    return legs


def secrets_in_logs(paths: Paths, site: Site) -> list[str]:
    """Which of the installation's secrets (tokens, passwords) appear in a file under its
    logs directory, as ``file: secret name``; none should."""
    from core.secrets import Secrets

    secrets = Secrets.load_or_create(paths.secrets_file)
    known = {
        "admin token": secrets.admin_token,
        "supervisor token": secrets.supervisor_token(),
        "ARI password": secrets.ari_password,
        "AMI secret": secrets.ami_secret,
    }
    seats = json.loads(paths.secrets_file.read_text()).get("seat_passwords", {})
    known |= {f"seat {seat}'s password": password for seat, password in seats.items()}
    consoles = {f"seat {s.id}'s console token": secrets.console_token(s.id) for s in site.seats}
    known |= consoles
    found = []
    for log in sorted(paths.logs.rglob("*")):
        if log.is_file():
            text = log.read_text(encoding="utf-8", errors="replace")
            found += [f"{log.name}: {name}" for name, value in known.items() if value in text]
    return found


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 10.0, every: float = 0.1
) -> bool:
    """Poll ``check`` until it is true or ``within`` seconds pass; never sleeps blindly."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)


async def holds(check: Callable[[], Awaitable[bool]], during: float, every: float = 0.1) -> bool:
    """Poll ``check`` for ``during`` seconds: true only if it held at every look (a state
    that must last, such as a call that stays up while its application is down)."""
    deadline = time.monotonic() + during
    while time.monotonic() < deadline:
        if not await check():
            return False
        await asyncio.sleep(every)
    return await check()


class EventLog:
    """The events published on the bus while a test runs (see core.events). Leaving the
    block waits until every call the log has seen start has published its end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, object]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventLog:
        import json

        from redis.asyncio import Redis

        from core.events import EVENTS

        redis = Redis.from_url(self.url)
        pubsub = redis.pubsub()
        await pubsub.subscribe(EVENTS)
        await pubsub.get_message(timeout=5)  # subscribed: nothing published from now is missed

        async def listen() -> None:
            try:
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    if message is not None:
                        self.events.append(json.loads(message["data"]))
            finally:
                await pubsub.aclose()
                await redis.aclose()

        self._task = asyncio.create_task(listen())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None

        async def every_call_ended() -> bool:
            started = {e["caller"] for e in self.events if e["type"] == "caller-joined"}
            ended = {e["caller"] for e in self.events if e["type"] == "call-ended"}
            return started <= ended

        await eventually(every_call_ended, within=10)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def of(self, caller: str) -> list[dict[str, object]]:
        """The events about one caller's channel, in order."""
        return [event for event in self.events if event.get("caller") == caller]


@pytest.fixture(scope="session")
def stack(site: Site, site_file: Path, paths: Paths) -> Iterator[Stack]:
    running = Stack(site, site_file, paths)
    # the queues' hours must not depend on when the tests run: the installation lives at an
    # open moment (every process, this one included, reads the same clock)
    paths.ensure()
    clock.set_installation_time(datetime.fromisoformat(OPEN_MOMENT), paths.state)
    running.app_processes = 1
    try:
        running.up()
        yield running
    finally:
        running.down()
    assert running.pbx.pid() is None, "Asterisk still runs after down()"
    own = running.pbx.prefix.lstrip("/")
    assert not any(own in mount for mount in running.pbx.mounts()), "a mount was left behind"


@pytest.fixture(scope="session")
def registry(stack: Stack) -> Iterator[RedList]:
    """The sample registry in the running stack: firms 0-9 of :mod:`redlist.synthetic`
    (landlines 02150000000-09); the even ones are key firms on the red list."""
    from redlist.synthetic import csv_bytes, rows

    red_list = RedList.for_installation(stack.site, stack.paths)
    red_list.import_csv(csv_bytes(list(rows(10, red_every=2))), actor="test")
    yield red_list
    red_list.close()


@pytest.fixture
async def ari(stack: Stack) -> AsyncIterator[Ari]:
    client = Ari(ari_config(stack.site, stack.paths))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def rig(stack: Stack, paths: Paths, site: Site) -> Rig:
    return Rig(paths.state / "rig", pbx=(site.sip.bind, site.sip.port), caller_ip="127.0.0.2")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for tests that need one: REDIS_URL, or a private server of their own."""
    from hotline.redis_server import PrivateRedis

    state = tmp_path_factory.mktemp("redis-state")
    server = PrivateRedis(Paths(state=state, cache=state))
    url = server.up()
    try:
        yield url
    finally:
        server.down()


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (Debian's postgresql package, run as the postgres user
    on a unix socket only) that a test may stop and start again."""

    PORT = "55432"

    def __init__(self) -> None:
        import shutil
        import tempfile

        from hotline.system import ensure_packages

        if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            ensure_packages("postgresql")
        self.bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self.data = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data.chmod(0o755)
        shutil.chown(self.data, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.data / "db"), "-A", "trust", "-U", "postgres")
        self.start()
        self._as_postgres("createdb", "-h", str(self.data), "-p", self.PORT, "hotline")
        self.url = f"postgresql+psycopg://postgres@/hotline?host={self.data}&port={self.PORT}"

    def _as_postgres(self, tool: str, *argv: str) -> None:
        import subprocess

        command = ["runuser", "-u", "postgres", "--", str(self.bindir / tool), *argv]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        options = f"-k {self.data} -p {self.PORT} -c listen_addresses=''"
        db, log = str(self.data / "db"), str(self.data / "log")
        self._as_postgres("pg_ctl", "-D", db, "-w", "-l", log, "-o", options, "start")

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``: like a crash, connections cut)."""
        self._as_postgres("pg_ctl", "-D", str(self.data / "db"), "-m", "immediate", "stop")

    def remove(self) -> None:
        import shutil

        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PrivatePostgres | None]:
    """The private PostgreSQL cluster, or None when ``HOTLINE_TEST_POSTGRES_URL`` names one
    (which the tests must not stop)."""
    if os.environ.get("HOTLINE_TEST_POSTGRES_URL"):
        yield None
        return
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PrivatePostgres | None) -> str:
    """A real PostgreSQL: ``HOTLINE_TEST_POSTGRES_URL``, or the private throw-away cluster."""
    if postgres_server is None:
        return os.environ["HOTLINE_TEST_POSTGRES_URL"]
    return postgres_server.url


@pytest.fixture
async def no_callback_pending(stack: Stack, one_seat: str) -> None:
    """Call-backs earlier tests left pending are cancelled, and the seat is free: a due one
    would ring the seat first (the line's rule), before the test's own caller."""
    from redis.asyncio import Redis

    from callback.book import CallbackBook
    from core.stores import redis_url
    from queues.seats import SeatPool

    redis = Redis.from_url(redis_url(stack.paths))
    book = CallbackBook(redis)
    for booked, _ in await book.pending():
        await book.cancel(booked.number)

    async def free() -> bool:
        return await SeatPool(redis).busy_with(one_seat) is None

    assert await eventually(free, within=30), f"seat {one_seat} stayed busy"
    await redis.aclose()


@pytest.fixture
async def one_seat(stack: Stack) -> AsyncIterator[str]:
    """Every seat but 1001 paused for the test."""
    from redis.asyncio import Redis

    from core.stores import redis_url
    from queues.seats import SeatPool

    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    others = [seat.id for seat in stack.site.seats if seat.id != "1001"]
    for seat in others:
        await seats.pause(seat, "test: one seat only")
    await seats.resume("1001")  # a call an earlier test left unanswered may have paused it
    try:
        yield "1001"
    finally:
        for seat in others:
            await seats.resume(seat)
        await seats.use_browser("1001", False)
        await redis.aclose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test here runs on SQLite (the default) and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hotline.db'}"
        return
    from sqlalchemy import text

    from core.db import make_engine

    url = request.getfixturevalue("postgres_url")
    yield url
    engine = make_engine(url)
    with engine.begin() as connection:  # a clean schema for the next test
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def factory(database: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database: SQLite, and PostgreSQL where marked."""
    from core.db import make_engine, sessions
    from hotline.schema import migrate

    migrate(database)
    engine = make_engine(database)
    yield sessions(engine)
    engine.dispose()
