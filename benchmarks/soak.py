"""Benchmark: a soak — calls at a steady rate for a long while, with a fault every few minutes.

One run brings up its own installation (the ``queue_path`` benchmark site: 160 rig seats that
answer after 0.3 s and talk 20 s, no wrap-up, no survey), places calls at ``--rate`` a second
for ``--minutes``, and every ``--fault-every`` seconds does the next of these, in turn:

1. the Stasis app killed (SIGKILL), started again 3 s later;
2. the front door killed, started again 5 s later;
3. the monitor killed, started again 5 s later;
4. Redis frozen (SIGSTOP) for 20 s;
5. the database locked (SQLite ``BEGIN EXCLUSIVE``) for 40 s;
6. one seat's phone vanishing mid-call (it answers its next call, talks 5 s, then sends no
   more audio and no BYE; a normal phone takes its place once Asterisk has hung it up).

At the end it prints: calls placed; calls that reached a seat (the PBX's INVITE to a seat's
phone, on the wire); the calls in SQL and how each ended; and each process's memory (RSS)
after the first minute and at the end.

    python -m benchmarks.soak [--minutes 30] [--rate 2] [--fault-every 300]

Needs root (the wire meter reads packets on ``lo``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import FIRMS, bench_stack, ring_delays
from benchmarks.queue_path import ANSWER_PORTS, bench_site
from cdr.models import CallLeg
from core import clock
from core.db import make_engine, sessions
from core.paths import Paths
from core.stores import database_url
from hotline import services
from hotline.stack import Stack
from redlist.synthetic import landline
from rig.load import LoadRig
from rig.sip_meter import SipMeter

TALK = 20.0
"""Seconds each seat talks."""
VANISH_PORT = 6109
VANISH_SEAT = "3001"
"""The seat whose phone vanishes (its own SIPp phone, on its own port)."""


def soak_site(work: Path) -> Path:
    """The benchmark site, with the seat that vanishes on a port of its own."""
    path = bench_site(work, 1)
    text = path.read_text(encoding="utf-8")
    seat = f'contact = "sip:{VANISH_SEAT}@127.0.0.1:'
    start = text.index(seat) + len(seat)
    end = text.index('"', start)
    path.write_text(text[:start] + f"{VANISH_PORT}" + text[end:], encoding="utf-8")
    return path


def rss_mb(pid: int | None) -> float | None:
    """A process's resident memory in MB (None: not running)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def process_ids(stack: Stack) -> dict[str, int | None]:
    """The installation's processes by name."""
    pids: dict[str, int | None] = {
        name: services.running_pid(stack.paths, name) for name in ("app", "agi", "monitor")
    }
    pids["redis"] = int(stack.redis.pid_file.read_text())
    pids["asterisk"] = stack.pbx.pid()
    return pids


class Faults:
    """The faults of the soak, one after another; each returns when the fault is over."""

    def __init__(self, stack: Stack, rig: LoadRig, phone: asyncio.subprocess.Process) -> None:
        self.stack = stack
        self.rig = rig
        self.phone = phone
        """The normal phone of the seat that vanishes."""
        self.log: list[str] = []

    async def _kill(self, name: str, down: float, start: Callable[[], None]) -> None:
        await asyncio.to_thread(services.stop, self.stack.paths, name, 5.0, signal.SIGKILL)
        await asyncio.sleep(down)
        await asyncio.to_thread(start)

    async def app(self) -> None:
        await self._kill("app", 3.0, self.stack.start_app)

    async def front_door(self) -> None:
        await self._kill("agi", 5.0, self.stack.start_front_door)

    async def monitor(self) -> None:
        await self._kill("monitor", 5.0, self.stack.start_monitor)

    async def redis(self) -> None:
        pid = int(self.stack.redis.pid_file.read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(20.0)
        finally:
            os.kill(pid, signal.SIGCONT)

    async def database(self) -> None:
        holder = sqlite3.connect(self.stack.paths.state / "hotline.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            await asyncio.sleep(40.0)
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    async def seat_vanishes(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.phone.pid, signal.SIGKILL)
        (vanishing,) = await self.rig.answer_on([VANISH_PORT], 0.3, 5.0, vanish=True)
        with contextlib.suppress(TimeoutError):  # its next call, then the RTP timeout
            await asyncio.wait_for(vanishing.wait(), 240)
        await asyncio.sleep(35)  # Asterisk notices the silence (rtp_timeout 30 s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(vanishing.pid, signal.SIGKILL)
        (self.phone,) = await self.rig.answer_on([VANISH_PORT], 0.3, TALK)

    def in_turn(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        return [
            ("app killed", self.app),
            ("front door killed", self.front_door),
            ("monitor killed", self.monitor),
            ("Redis frozen 20 s", self.redis),
            ("database locked 40 s", self.database),
            (f"seat {VANISH_SEAT}'s phone vanished", self.seat_vanishes),
        ]


FaultTurn = tuple[str, Callable[[], Awaitable[None]]]
"""A fault by name, and what does it (returning when the fault is over)."""


async def inject(
    kinds: list[FaultTurn], log: list[str], every: float, until: float, started: float
) -> None:
    """Every ``every`` seconds (from half of it on) the next of ``kinds``, while calls are
    placed; each written to ``log`` with when it began and ended."""
    turn = 0
    while (due := started + every * turn + every / 2) < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        name, fault = kinds[turn % len(kinds)]
        at = time.monotonic() - started
        try:
            await fault()
        except Exception as error:  # the run goes on; the log says so
            name += f" — the fault itself failed: {error!r}"
        over = time.monotonic() - started
        log.append(f"  {at:>6.0f} s  {name} (over after {over:.0f} s)")
        turn += 1


async def settled_calls(paths: Paths, since: datetime, count: int) -> list[CallLeg]:
    """The run's calls in SQL once ``count`` are there and every one has ended (or after
    two minutes)."""
    engine = make_engine(database_url(paths))
    factory = sessions(engine)
    deadline = time.monotonic() + 120
    try:
        while True:
            with factory() as session:
                legs = list(
                    session.execute(select(CallLeg).where(CallLeg.entered_at >= since)).scalars()
                )
                session.expunge_all()
            ended = len(legs) >= count and all(leg.outcome for leg in legs)
            if ended or time.monotonic() > deadline:
                return legs
            await asyncio.sleep(1)
    finally:
        engine.dispose()


def memory_lines(start: dict[str, float | None], end: dict[str, float | None]) -> list[str]:
    """Each process's memory after the first minute → at the end, a line each."""
    width = max(map(len, start), default=0)
    lines = ["memory (RSS MB) after the first minute → at the end:"]
    for name, before in start.items():
        after = end.get(name)
        shown = f"{before:.1f}" if before is not None else "-"
        lines.append(
            f"  {name:<{width}} {shown:>8} → {after:.1f}" if after is not None else f"  {name} gone"
        )
    return lines


async def soak(stack: Stack, work: Path, minutes: float, rate: float, every: float) -> None:
    sip = (stack.site.sip.bind, stack.site.sip.port)
    count = int(minutes * 60 * rate)
    calls = [(landline(n % FIRMS), stack.site.hotline_numbers[0]) for n in range(count)]
    memory_start: dict[str, float | None] = {}
    since = clock.now()
    print(
        f"\n{count} calls at {rate:g}/s over {minutes:g} min; seats answer after 0.3 s and "
        f"talk {TALK:.0f} s; a fault every {every:.0f} s"
    )

    async def warm() -> None:
        await asyncio.sleep(60)
        memory_start.update({n: rss_mb(p) for n, p in process_ids(stack).items()})

    async with LoadRig(work / "soak", sip) as rig:
        await rig.answer_on(list(ANSWER_PORTS), answer_after=0.3, hold=TALK)
        (phone,) = await rig.answer_on([VANISH_PORT], answer_after=0.3, hold=TALK)
        faults = Faults(stack, rig, phone)
        started = time.monotonic()
        with SipMeter(only_port=stack.site.sip.port) as meter:
            helpers = [
                asyncio.create_task(warm()),
                asyncio.create_task(
                    inject(faults.in_turn(), faults.log, every, started + count / rate, started)
                ),
            ]
            report = await rig.place(calls, rate, wait=90.0)
            await asyncio.gather(*helpers)
        reached = ring_delays(meter, {*ANSWER_PORTS, VANISH_PORT}, stack.site.sip.port)
    memory_end = {n: rss_mb(p) for n, p in process_ids(stack).items()}

    legs = await settled_calls(stack.paths, since, count)

    print("faults:")
    print("\n".join(faults.log) or "  none")
    print(f"placed {report.placed}; answered by the PBX {report.answered}")
    print(f"reached a seat (the PBX rang a seat's phone for it): {len(reached)}")
    outcomes = collections.Counter(leg.outcome or "(still open)" for leg in legs)
    answered = sum(1 for leg in legs if leg.answered_at is not None)
    print(f"in SQL: {len(legs)} calls, {answered} answered by a seat the app saw")
    for outcome, n in outcomes.most_common():
        print(f"  {outcome:<20} {n}")
    print("\n".join(memory_lines(memory_start, memory_end)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2.0, help="calls per second")
    parser.add_argument("--fault-every", type=float, default=300.0, help="seconds")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    with bench_stack(work, soak_site(work)) as stack:
        asyncio.run(soak(stack, work, args.minutes, args.rate, args.fault_every))


if __name__ == "__main__":
    main()
