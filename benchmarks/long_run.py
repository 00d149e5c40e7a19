"""Benchmark: the long run — a line of two Asterisk nodes behind Kamailio taking calls at a
steady rate for a long while, with a fault every few minutes.

One run brings up its own line (the ``queue_path`` benchmark site as two nodes on this
machine behind the edge: 160 rig seats that answer after 0.3 s and talk ``--talk`` s, no
wrap-up, no survey, no recording notice), places ``--calls`` calls at ``--rate`` a second
and every ``--fault-every`` seconds does the next of these, in turn:

1. node A's Asterisk killed (SIGKILL);
2. node B drained, its calls let finish, its Asterisk restarted, undrained (the planned
   restart);
3. node A's app killed (SIGKILL);
4. Redis frozen (SIGSTOP) for 20 s;
5. node B's machine gone: its supervisor, Asterisk, front door, app and monitor killed,
   its supervisor started again 30 s later (as the machine's systemd would at boot).

Each node runs under its own supervisor (``hotline services up --node NAME``), which brings
back what a fault killed; a fault is over once the node serves again.

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
BACK_WITHIN = 90.0
"""Seconds a node is given to serve again after a fault before the fault is called failed
(under load its app takes over many calls before it serves: over 60 s in the last run)."""
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
        for service in (services.SUPERVISOR, *NODE_SERVICES):
            pids[f"{name} {service}"] = services.running_pid(stack.paths, service)
    return pids


class Faults:
    """The faults of the run, one after another; each returns when the fault is over."""

    def __init__(self, line: Line, talk: float) -> None:
        self.line, self.talk = line, talk
        self.a, self.b = line.nodes["pbx-a"], line.nodes["pbx-b"]
        self.log: list[str] = []

    async def _back(self, stack: Stack) -> None:
        """Wait until the node's supervisor has its Asterisk and every process of it running
        and serving again."""

        def serving() -> bool:
            return (
                stack.pbx.pid() is not None
                and all(services.ready(stack.paths, stack.site, n) for n in NODE_SERVICES)
                and stack.app_connected()
            )

        async def check() -> bool:
            return await asyncio.to_thread(serving)

        deadline = time.monotonic() + BACK_WITHIN
        while not await check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{stack.paths.node} did not serve again in {BACK_WITHIN:g} s")
            await asyncio.sleep(0.5)

    async def asterisk_killed(self) -> None:
        os.kill(self.a.pbx.pid() or 0, signal.SIGKILL)
        await asyncio.sleep(1)
        await self._back(self.a)

    async def planned_restart(self) -> None:
        self.line.edge.drain("pbx-b")
        await asyncio.sleep(self.talk + 5)  # its calls go on to their end
        await asyncio.to_thread(self.b.pbx.down)  # its supervisor lets it be
        await asyncio.to_thread(self.b.pbx.up)
        await self._back(self.b)
        self.line.edge.undrain("pbx-b")

    async def app_killed(self) -> None:
        os.kill(services.running_pid(self.a.paths, "app") or 0, signal.SIGKILL)
        await asyncio.sleep(1)
        await self._back(self.a)

    async def redis_frozen(self) -> None:
        pid = int(self.line.redis.pid_file.read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(20)
        finally:
            os.kill(pid, signal.SIGCONT)

    async def machine_gone(self) -> None:
        supervisor = services.running_pid(self.b.paths, services.SUPERVISOR)
        pids = [supervisor, self.b.pbx.pid()] + [
            services.running_pid(self.b.paths, name) for name in NODE_SERVICES
        ]
        for pid in pids:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(30)
        await asyncio.to_thread(services.start_supervisor, self.b.paths, self.b.site_file)
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
    with bench_line(work, bench_site(work, 1, notice=False), supervised=True) as line:
        asyncio.run(long_run(line, work, args.calls, args.rate, args.fault_every, args.talk))


if __name__ == "__main__":
    main()
