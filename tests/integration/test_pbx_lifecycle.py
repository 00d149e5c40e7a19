"""`hotline pbx up | status | down` and `hotline services up | status | down` from the
command line, on their own ports and state directory, as the README says: a fresh
installation serves a call, a killed service comes back by itself, and down leaves no
process and no mount behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdr.models import AsteriskCdr, CallLeg, SeatAttempt
from core import clock
from core.db import make_engine
from core.keys import CALLBACKS_DUE
from core.paths import Paths
from core.stores import database_url
from hotline import services
from hotline.system import process_alive
from queues.line import WaitingLine
from queues.seats import SeatPool
from redlist.synthetic import csv_bytes, landline, rows
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import CARRIER_SBC, EXAMPLE_SITE, OPEN_MOMENT, eventually

pytestmark = pytest.mark.pbx


def _hotline(site: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state)}
    env.pop("REDIS_URL", None)  # the installation's own Redis
    return subprocess.run(
        [sys.executable, "-m", "hotline", "--site", str(site), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


_running = process_alive


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts]


def test_pbx_up_status_down_leaves_nothing_behind(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    text = EXAMPLE_SITE.read_text()
    text = text.replace("port = 5060", "port = 5160").replace("ari_port = 8088", "ari_port = 8188")
    text = text.replace("ami_port = 5038", "ami_port = 5138")
    text = text.replace("wss_port = 8089", "wss_port = 8189")
    site.write_text(text)
    state = tmp_path / "state"

    up = _hotline(site, state, "pbx", "up")
    assert up.returncode == 0, up.stderr
    assert "SIP  udp:127.0.0.1:5160" in up.stdout
    assert "ARI  http://127.0.0.1:8188/ari" in up.stdout
    assert "AMI  127.0.0.1:5138" in up.stdout
    pid = int((state / "run" / "asterisk.pid").read_text())
    secrets = state / "secrets.json"
    assert secrets.stat().st_mode & 0o777 == 0o600

    status = _hotline(site, state, "pbx", "status")
    assert "running: True" in status.stdout and "ari_answers: True" in status.stdout
    if "root: system" not in status.stdout:  # a private root says what it was built with
        assert re.search(r"root built: \S+ with Asterisk \d+\.", status.stdout), status.stdout
    version = _hotline(site, state, "pbx", "cli", "core show version")
    # (without an ethernet interface, as in a private network namespace, a warning comes first)
    assert "\nAsterisk 2" in "\n" + version.stdout, version.stdout + version.stderr
    modules = _hotline(site, state, "pbx", "cli", "module show like chan_")
    assert "chan_pjsip" in modules.stdout and "chan_iax2" not in modules.stdout  # explicit list

    down = _hotline(site, state, "pbx", "down")
    assert down.returncode == 0, down.stderr
    assert not _running(pid), "Asterisk is still running"
    root = Paths.from_env().cache / "asterisk-root"
    left = [m for m in _mounts() if m.startswith(str(root) + "/")]
    other_installations = [m for m in left if "/installs/" in m]
    # proc and dev stay only while another installation (the test session's PBX) uses the root
    assert left == [] or other_installations, f"mounts left behind: {left}"
    assert not any(str(state.name) in m for m in left)
    status = _hotline(site, state, "pbx", "status")
    assert "running: False" in status.stdout


SEAT_PORTS = {"5071": "5171", "5072": "5172", "5073": "5173", "5074": "5174"}
OWN_SBC = 5199
"""Where this installation's trunk dials out (the carrier's SBC, played by a rig phone)."""


NOTICE = 5.5
"""Seconds the example site's recording notice takes (5.0 s of speech) before a seat rings."""
HOLD = 8.0
"""Seconds each caller of the fresh installation holds: the notice plays before a seat rings."""


def _second_site(tmp_path: Path) -> Path:
    """The example site on ports of its own (beside the test session's installation)."""
    text = EXAMPLE_SITE.read_text()
    for example, own in {
        "port = 5060": "port = 5160",
        "ari_port = 8088": "ari_port = 8188",
        "ami_port = 5038": "ami_port = 5138",
        "agi_port = 4573": "agi_port = 4673",
        "web_port = 8080": "web_port = 8180",
        "wss_port = 8089": "wss_port = 8189",
        "rtp_ports = [10000, 20000]": "rtp_ports = [40000, 41000]",
        **{f"127.0.0.1:{a}": f"127.0.0.1:{b}" for a, b in SEAT_PORTS.items()},
        f"127.0.0.1:{CARRIER_SBC}": f"127.0.0.1:{OWN_SBC}",
    }.items():
        assert example in text, example
        text = text.replace(example, own)
    site = tmp_path / "site.toml"
    site.write_text(text)
    return site


async def test_services_up_on_a_fresh_installation_serve_a_call_and_come_back_when_killed(
    tmp_path: Path,
) -> None:
    site, state = _second_site(tmp_path), tmp_path / "state"
    firms = tmp_path / "firms.csv"
    firms.write_bytes(csv_bytes(list(rows(8))))

    def hotline(*args: str) -> subprocess.CompletedProcess[str]:
        return _hotline(site, state, *args)

    try:
        up = await asyncio.to_thread(hotline, "pbx", "up")
        assert up.returncode == 0, up.stderr
        assert hotline("clock", "set", OPEN_MOMENT).returncode == 0
        imported = hotline("redlist", "import", str(firms))
        assert imported.returncode == 0, imported.stderr
        # what the README says to run next, on a state directory with no database yet
        started = await asyncio.to_thread(hotline, "services", "up", "--timeout", "15")
        assert started.returncode == 0, started.stdout + started.stderr
        for name in ("agi", "app", "monitor", "web"):
            assert f"{name}: running, pid" in started.stdout, started.stdout

        rig = Rig(state / "rig", pbx=("127.0.0.1", 5160), first_port=33000)
        seats = tuple(PhoneSpec(f"seat-{p}", int(p), answer_after=0.3) for p in SEAT_PORTS.values())
        report = await rig.run(
            Scenario(
                "fresh-installation", phones=seats, callers=(CallerSpec(landline(1), hold=HOLD),)
            )
        )
        assert report.callers[0].exit_code == 0, report.callers[0].errors
        assert sum(phone.answered for phone in report.phones) == 1, report.render()

        # a service killed outright is brought back by the supervisor, doing its work again
        paths = Paths(state=state, cache=tmp_path)  # only its pid files are read
        killed = services.running_pid(paths, "app")
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        async def back() -> bool:
            status = await asyncio.to_thread(hotline, "services", "status")
            pid = services.running_pid(paths, "app")
            return pid not in (None, killed) and " app: running, pid" in status.stdout

        assert await eventually(back, within=20, every=0.5), hotline("services", "status").stdout

        # a front door alive but frozen: the supervisor's health check replaces it, and a
        # call arriving meanwhile goes on without it and reaches a seat within 5 s
        door = services.running_pid(paths, "agi")
        assert door is not None
        os.kill(door, signal.SIGSTOP)
        try:
            report = await rig.run(
                Scenario("frozen-door", phones=seats, callers=(CallerSpec(landline(2), hold=HOLD),))
            )
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(door, signal.SIGCONT)
        caller = report.callers[0]
        assert caller.exit_code == 0 and caller.started_at is not None, report.render()
        offset = clock.read_offset(clock.clock_file(state))
        with Session(make_engine(database_url(paths))) as session:
            leg = session.execute(select(CallLeg).where(CallLeg.caller_number == landline(2)))
            answered = leg.scalar_one().answered_at
        assert answered is not None
        setup = answered.timestamp() - offset - caller.started_at
        # the seat answers after the notice: what the frozen door may add is the rest
        assert setup < 5.0 + NOTICE, f"the call waited {setup:.1f} s for a frozen front door"
        assert not _running(door) or services.running_pid(paths, "agi") != door

        # Asterisk killed outright: the supervisor starts it again, the app, the front door
        # and the monitor find it by themselves, and the line answers within 15 s of the kill
        pbx = services.running_pid(paths, services.PBX)
        assert pbx is not None
        killed_at = time.time()
        os.kill(pbx, signal.SIGKILL)

        async def serving_again() -> bool:
            status = await asyncio.to_thread(hotline, "services", "status")
            pid = services.running_pid(paths, services.PBX)
            return pid not in (None, pbx) and " app: running, pid" in status.stdout

        assert await eventually(serving_again, within=15, every=0.5), hotline("pbx", "status")
        report = await rig.run(
            Scenario("after-pbx-death", phones=seats, callers=(CallerSpec(landline(0), hold=HOLD),))
        )
        assert report.callers[0].exit_code == 0, report.render()
        assert sum(phone.answered for phone in report.phones) == 1, report.render()

        def answered_cdr() -> datetime | None:
            with Session(make_engine(database_url(paths))) as session:
                return session.execute(
                    select(AsteriskCdr.answer_at).where(AsteriskCdr.src == landline(0))
                ).scalar()

        async def recorded() -> bool:
            return answered_cdr() is not None

        assert await eventually(recorded, within=15, every=0.5), "no CDR: the monitor is not back"
        answer = answered_cdr()
        assert answer is not None
        back_after = answer.timestamp() + 1.0 - killed_at  # CDR times are whole seconds
        dialled = (report.callers[0].started_at or 0) - killed_at
        print(
            f"Asterisk SIGKILLed: a call dialled {dialled:.1f} s later was answered "
            f"by {back_after:.0f} s after the kill"
        )
        assert back_after < 15.0

        await _callers_of_a_dead_pbx_are_called_back(hotline, paths, rig)
    finally:
        pids = [int(path.read_text()) for path in (state / "run").glob("*.pid") if path.exists()]
        down = hotline("services", "down")
        pbx_down = hotline("pbx", "down")
    assert down.returncode == 0, down.stderr
    assert pbx_down.returncode == 0, pbx_down.stderr
    assert "supervisor: not running" in down.stdout, down.stdout
    left = [pid for pid in pids if _running(pid)]
    assert not left, f"processes of the installation left running: {left}"
    assert not any(str(state) in mount for mount in _mounts())


def _first_rung(registry: Session, leg: CallLeg) -> datetime:
    """When a seat was first rung for a called-back company (its attempt's channel)."""
    first = select(func.min(SeatAttempt.rung_at))
    rung = registry.execute(first.where(SeatAttempt.caller_channel == leg.caller_channel)).scalar()
    assert rung is not None, leg.caller_channel
    return rung


async def _callers_of_a_dead_pbx_are_called_back(
    hotline: Callable[..., subprocess.CompletedProcess[str]], paths: Paths, rig: Rig
) -> None:
    """Asterisk SIGKILLed under two talking and two waiting callers: once the supervisor has
    started it again, the talking two are called back at once with their seats, the waiting
    two in their order, through the carrier's SBC; nothing is left held in Redis."""
    for seat in ("1003", "1004", "1005"):
        assert hotline("seats", "pause", seat, "--reason", "test").returncode == 0
    talking, waiting = (landline(3), landline(4)), (landline(5), landline(6))
    phones = tuple(
        PhoneSpec(f"seat-{port}", int(port), answer_after=0.3) for port in ("5171", "5172")
    )
    callers = tuple(CallerSpec(n, at=i * 1.5, hold=None) for i, n in enumerate(talking + waiting))
    redis = Redis.from_url(f"unix://{paths.redis / 'redis.sock'}")  # its own, whatever REDIS_URL
    line = WaitingLine(redis, "enterprise", 0)
    cut = asyncio.create_task(rig.run(Scenario("cut-off", phones, callers)))

    async def two_and_two() -> bool:
        return len(await SeatPool(redis).busy()) == 2 and len(await line.callers()) == 2

    assert await eventually(two_and_two, within=20), "two talking and two waiting never came"
    pbx = services.running_pid(paths, services.PBX)
    assert pbx is not None
    os.kill(pbx, signal.SIGKILL)
    await rig.kill_all()  # the phones and callers of the calls Asterisk took with it
    await cut
    registry = Session(make_engine(database_url(paths)))

    def called_back_to() -> list[CallLeg]:
        registry.expire_all()
        return list(
            registry.execute(
                select(CallLeg)
                .where(CallLeg.callback_request.is_not(None))
                .order_by(CallLeg.entered_at)
            ).scalars()
        )

    async def all_four_talked() -> bool:
        legs = called_back_to()
        return len(legs) == 4 and all(leg.ended_at for leg in legs)

    sbc = PhoneSpec("carrier-sbc", OWN_SBC, answer_after=0.3, hold=1.0, tone=660)
    report = await rig.run(
        Scenario("called-back", (*phones, sbc), ()), until=all_four_talked, within=60
    )
    assert await all_four_talked(), report.render()
    invited = [call.invited[0] for call in report.phone("carrier-sbc").calls if call.invited]
    assert sorted(invited[:2]) == sorted(talking) and sorted(invited[2:]) == sorted(waiting)
    by_number = {leg.caller_number: leg for leg in called_back_to()}
    # the waiting two in their order: the line offers a seat to the first one first (the two
    # seats free together, so which company's phone rings first is the seats' race)
    served = sorted(waiting, key=lambda number: _first_rung(registry, by_number[number]))
    assert served == list(waiting), [_first_rung(registry, by_number[n]) for n in waiting]
    cut_off = {
        leg.caller_number: leg
        for leg in registry.execute(select(CallLeg).where(CallLeg.outcome == "pbx-lost")).scalars()
    }
    assert sorted(cut_off) == sorted(talking + waiting)
    for number in talking:  # the seat it was talking to
        assert by_number[number].seat_id == cut_off[number].seat_id, number
    registry.close()

    async def nothing_held() -> bool:
        busy = await SeatPool(redis).busy()
        return not busy and not await line.callers() and not await redis.zcard(CALLBACKS_DUE)

    assert await eventually(nothing_held, within=15), "something is still held in Redis"
    await redis.aclose()
