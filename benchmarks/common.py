"""What the PBX benchmarks share: a scratch installation at an open moment with the sample
registry, and delays read off the wire."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from core import clock
from core.paths import Paths
from core.site import Site, load_site
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import csv_bytes, rows
from rig.sip_meter import SipMeter

REPO = Path(__file__).resolve().parent.parent
FIRMS = 1000
"""Registered firms loaded into every benchmark installation (landlines of redlist.synthetic)."""
OPEN_MOMENT = "2026-11-23T10:00:00+08:00"
"""The benchmark installation's clock: a Monday morning, when the queues and departments
are open, whatever the date and hour of the run."""


def bench_paths(work: Path) -> Paths:
    """A scratch installation in ``work`` (the PBX root cache shared), made this process's
    own, its clock at :data:`OPEN_MOMENT`."""
    cache = Path(os.environ.get("HOTLINE_CACHE_DIR") or Path.home() / ".cache/hotline")
    paths = Paths(state=work / "state", cache=cache)
    os.environ["HOTLINE_STATE_DIR"], os.environ["HOTLINE_CACHE_DIR"] = str(paths.state), str(cache)
    clock.set_installation_time(datetime.fromisoformat(OPEN_MOMENT), paths.state)
    return paths


def load_sample_registry(site: Site, paths: Paths) -> None:
    """The :data:`FIRMS` sample firms the benchmarks' callers belong to."""
    registry = RedList.for_installation(site, paths)
    registry.import_csv(csv_bytes(list(rows(FIRMS))), actor="benchmark")
    registry.close()


@contextlib.contextmanager
def bench_stack(work: Path, site_file: Path) -> Iterator[Stack]:
    """PBX, Redis, front door, monitor and app of a benchmark site in ``work``, its clock at
    :data:`OPEN_MOMENT` and the sample registry loaded; all brought down afterwards (on
    SIGTERM too). Root is needed for the wire meters."""
    if os.geteuid() != 0:
        raise SystemExit("the wire meters need root (an AF_PACKET socket on lo)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    paths = bench_paths(work)
    stack = Stack(load_site(site_file), site_file, paths)
    try:
        stack.up()
        load_sample_registry(stack.site, paths)
        print(
            f"Asterisk {stack.pbx.install.version}, {os.cpu_count()} cores, phones on this machine"
        )
        yield stack
    finally:
        stack.down()


def ring_delays(meter: SipMeter, seat_ports: set[int], sip_port: int) -> list[float]:
    """Seconds from each caller's INVITE to the PBX to the first INVITE with its number
    that the PBX sends to one of ``seat_ports``."""
    arrived: dict[str, float] = {}
    delays = []
    for invite in sorted(meter.invites, key=lambda i: i.at):
        # the caller's INVITE only: behind an edge, a node's INVITE to the edge (the seat's
        # leg, from the PBX's port) is not a caller arriving again
        if (
            invite.destination_port == sip_port
            and invite.source_port != sip_port
            and invite.calling not in arrived
        ):
            arrived[invite.calling] = invite.at
        elif (
            invite.source_port == sip_port
            and invite.destination_port in seat_ports
            and invite.calling in arrived
        ):
            delays.append(invite.at - arrived.pop(invite.calling))
    return delays


def cpu_seconds(pid: int | None, with_children: bool = False) -> float:
    """CPU seconds (user and system) a process has used, from /proc; with its child
    processes' (Kamailio's workers) when ``with_children``; 0 for no process."""
    if pid is None:
        return 0.0
    pids = [pid]
    if with_children:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(stat.parent.name))
    total = 0
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentile_ms(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0.95: the p95) of samples in seconds, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def delay_line(label: str, samples: list[float]) -> str:
    """One row of delays on the wire: p50, p90 and max in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return f"  {label:<42} nothing measured"
    p50, p90 = statistics.median(ordered), ordered[int(len(ordered) * 0.9)]
    return (
        f"  {label:<42} p50 {p50 * 1000:>6.1f} ms   p90 {p90 * 1000:>6.1f} ms   "
        f"max {ordered[-1] * 1000:>6.1f} ms   (n={len(ordered)})"
    )
