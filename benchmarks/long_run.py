"""Benchmark: the long run — a line of two Asterisk nodes behind Kamailio taking calls at a
steady rate for a long while, with a fault every few minutes.

One run brings up its own line (the ``queue_path`` benchmark site as two nodes on this
machine behind the edge: 160 rig seats that answer after 0.3 s and talk ``--talk`` s, no
wrap-up, no survey, no recording notice), places ``--calls`` calls at ``--rate`` a second
and every ``--fault-every`` seconds does the next of these, in turn:

1. node A's Asterisk killed (SIGKILL), started again 10 s later;
2. node B drained, its calls let finish, its Asterisk restarted, undrained (the planned
   restart);
3. node A's app killed, started again 3 s later;
4. Redis frozen (SIGSTOP) for 20 s;
5. node B's machine gone: its Asterisk, front door, app and monitor killed, all started
   again 30 s later.

The callers a dead node cut off are called back (the carrier's SBC answers on 5099, as the
example site's trunk says). At the end it prints: calls placed; the calls in SQL by how they
ended and by node; the call-backs and how many reached a seat; each process life's memory
(RSS, read every minute into ``memory.csv``) after its warm-up.

    python -m benchmarks.long_run [--calls 50000] [--rate 10] [--fault-every 600]

Needs root (the line's private PBX root); the phones run on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import FIRMS
from benchmarks.edge_path import bench_line
from benchmarks.queue_path import ANSWER_PORTS, bench_site
from benchmarks.soak import FaultTurn, inject, rss_mb, settled_calls
from core import clock
from hotline import services
from hotline.line import Line
from hotline.stack import Stack
from redlist.synthetic import landline
from rig.load import LoadRig

CARRIER_SBC_PORT = 5099
"""Where the example site's trunk sends call-backs (its ``outbound_contact``)."""
NODE_SERVICES = ("agi", "app", "monitor")
APP_BACK_WITHIN = 60.0
"""Seconds a restarted app process is given to serve again before the fault is called failed."""
SAMPLE_EVERY = 60.0
"""Seconds between two readings of every process's memory."""
WARM_UP = 120.0
"""Seconds of a process's life its memory is not judged on (caches filling, calls arriving)."""

MemorySample = tuple[float, str, int, float]
"""One reading: seconds into the run, the process's name, its pid, its RSS in MB."""


def process_ids(line: Line) -> dict[str, int | None]:
    """The line's processes by name: the edge, Redis, and each node's."""
    pids: dict[str, int | None] = {
        "kamailio": line.edge.pid(),
        "redis": int(line.redis.pid_file.read_text()),
    }
    for name, stack in line.nodes.items():
        pids[f"{name} asterisk"] = stack.pbx.pid()
        for service in NODE_SERVICES:
            pids[f"{name} {service}"] = services.running_pid(stack.paths, service)
    return pids


async def until(check: Callable[[], bool], within: float) -> bool:
    """Whether ``check`` came true within ``within`` seconds (looked at every 0.2 s)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


class Faults:
    """The faults of the run, one after another; each returns when the fault is over."""

    def __init__(self, line: Line, talk: float) -> None:
        self.line, self.talk = line, talk
        self.a, self.b = line.nodes["pbx-a"], line.nodes["pbx-b"]
        self.log: list[str] = []

    async def _back(self, stack: Stack) -> None:
        """A node's Asterisk and every process of it running and serving again."""
        if stack.pbx.pid() is None:
            await asyncio.to_thread(stack.pbx.up)
        if services.running_pid(stack.paths, "agi") is None:
            await asyncio.to_thread(stack.start_front_door)
        if services.running_pid(stack.paths, "monitor") is None:
            await asyncio.to_thread(stack.start_monitor)
        if services.running_pid(stack.paths, "app") is None:
            # under load the app takes over many calls before it serves: more than 20 s
            # in the first shortened run (docs/benchmarks.md)
            await asyncio.to_thread(stack.start_app, 1, APP_BACK_WITHIN)
        if not await until(stack.app_connected, APP_BACK_WITHIN):
            node, within = stack.paths.node, APP_BACK_WITHIN
            raise RuntimeError(f"{node}'s app did not serve again in {within:g} s")

    async def asterisk_killed(self) -> None:
        os.kill(self.a.pbx.pid() or 0, signal.SIGKILL)
        await asyncio.sleep(10)
        await self._back(self.a)

    async def planned_restart(self) -> None:
        self.line.edge.drain("pbx-b")
        await asyncio.sleep(self.talk + 5)  # its calls go on to their end
        await asyncio.to_thread(self.b.pbx.down)
        await self._back(self.b)
        self.line.edge.undrain("pbx-b")

    async def app_killed(self) -> None:
        await asyncio.to_thread(services.stop, self.a.paths, "app", 5.0, signal.SIGKILL)
        await asyncio.sleep(3)
        await self._back(self.a)

    async def redis_frozen(self) -> None:
        pid = int(self.line.redis.pid_file.read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(20)
        finally:
            os.kill(pid, signal.SIGCONT)

    async def machine_gone(self) -> None:
        pids = [self.b.pbx.pid()] + [
            services.running_pid(self.b.paths, name) for name in NODE_SERVICES
        ]
        for pid in pids:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(30)
        await self._back(self.b)

    def in_turn(self) -> list[FaultTurn]:
        """The faults, by name, in the order they come."""
        return [
            ("pbx-a's Asterisk killed", self.asterisk_killed),
            ("pbx-b drained, restarted, undrained", self.planned_restart),
            ("pbx-a's app killed", self.app_killed),
            ("Redis frozen 20 s", self.redis_frozen),
            ("pbx-b's machine gone 30 s", self.machine_gone),
        ]


def read_memory(line: Line, at: float, csv: Path) -> list[MemorySample]:
    """Every running process's memory now, ``at`` seconds into the run, also added to ``csv``
    (a run that breaks keeps its readings)."""
    readings = [
        (at, name, pid, rss)
        for name, pid in process_ids(line).items()
        if pid is not None and (rss := rss_mb(pid)) is not None
    ]
    with csv.open("a") as out:
        out.writelines(f"{at:.0f},{name},{pid},{rss:.1f}\n" for _, name, pid, rss in readings)
    return readings


async def sample_memory(line: Line, started: float, into: list[MemorySample], csv: Path) -> None:
    """Read every process's memory every ``SAMPLE_EVERY`` seconds until cancelled."""
    while True:
        into += await asyncio.to_thread(read_memory, line, time.monotonic() - started, csv)
        await asyncio.sleep(SAMPLE_EVERY)


def memory_stretches(samples: list[MemorySample], calls_per_second: float) -> list[str]:
    """Each process life's memory after its warm-up (``WARM_UP`` from its first reading):
    first → last reading, the highest, and the growth per thousand calls placed meanwhile —
    a line each, in the order they began; a life too short to judge has none."""
    lives: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for at, name, pid, rss in samples:
        lives.setdefault((name, pid), []).append((at, rss))
    lines = ["memory (RSS MB) of each process life after its warm-up (first → last, highest):"]
    for (name, pid), readings in lives.items():
        born = readings[0][0]
        judged = [(at, rss) for at, rss in readings if at - born >= WARM_UP]
        if len(judged) < 2:
            continue
        (first_at, first), (last_at, last) = judged[0], judged[-1]
        per_thousand = (last - first) / ((last_at - first_at) * calls_per_second / 1000)
        lines.append(
            f"  {name:<16} pid {pid:<8} {first_at / 60:5.0f}-{last_at / 60:<5.0f} min "
            f"{first:7.1f} → {last:7.1f} (highest {max(r for _, r in judged):.1f}), "
            f"{per_thousand:+.2f} MB per 1000 calls"
        )
    return lines


async def long_run(
    line: Line, work: Path, count: int, rate: float, every: float, talk: float
) -> None:
    """Place the calls with the faults; print what became of every caller."""
    sip = (line.site.sip.bind, line.site.sip.port)
    calls = [(landline(n % FIRMS), line.site.hotline_numbers[0]) for n in range(count)]
    since = clock.now()
    print(
        f"{count} calls at {rate:g}/s ({count / rate / 60:.0f} min) over two nodes behind the "
        f"edge; seats answer after 0.3 s and talk {talk:g} s; a fault every {every:g} s"
    )

    faults = Faults(line, talk)
    async with LoadRig(work / "calls", sip, proxied=True) as rig:
        await rig.answer_on(list(ANSWER_PORTS), answer_after=0.3, hold=talk)
        await rig.answer_on([CARRIER_SBC_PORT], answer_after=0.3, hold=talk + 5)
        started = time.monotonic()
        samples: list[MemorySample] = []
        (work / "memory.csv").write_text("seconds,process,pid,rss_mb\n")
        sampler = asyncio.create_task(sample_memory(line, started, samples, work / "memory.csv"))
        injecting = asyncio.create_task(
            inject(faults.in_turn(), faults.log, every, started + count / rate, started)
        )
        report = await rig.place(calls, rate, wait=120.0)
        await injecting
        sampler.cancel()
        legs = await settled_calls(line.paths, since, count)

    print("faults:")
    print("\n".join(faults.log) or "  none")
    print(f"placed {report.placed}; answered at the edge {report.answered}")
    callers = [leg for leg in legs if leg.callback_request is None]
    backs = [leg for leg in legs if leg.callback_request is not None]
    print(f"in SQL: {len(callers)} calls, {sum(1 for c in callers if c.seat_id)} reached a seat")
    for (outcome, node), n in sorted(
        collections.Counter((c.outcome, c.node) for c in callers).items(), key=str
    ):
        print(f"  {outcome or '(still open)':<20} {node or '-':<6} {n}")
    reached = sum(1 for leg in backs if leg.answered_at is not None and leg.seat_id)
    print(f"call-backs: {len(backs)}, {reached} reached a seat")
    print("\n".join(memory_stretches(samples, rate)))
    print(f"every reading: {work / 'memory.csv'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=10.0, help="calls per second")
    parser.add_argument("--fault-every", type=float, default=600.0, help="seconds")
    # 40 calls talking at 10/s: what this 2-core machine carries with every phone on it
    # (talking 8 s, the CPU was all taken and callers were refused within 5 minutes)
    parser.add_argument("--talk", type=float, default=4.0, help="seconds each seat talks")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-long-run-"))
    work.mkdir(parents=True, exist_ok=True)
    # no recording notice: its five seconds would hold 50 more callers on the 2 cores
    with bench_line(work, bench_site(work, 1, notice=False)) as line:
        asyncio.run(long_run(line, work, args.calls, args.rate, args.fault_every, args.talk))


if __name__ == "__main__":
    main()
