"""Benchmark: what the line's edge costs a call, and what two nodes carry on this machine.

One run brings up, one after the other, two installations of the same benchmark site (the
queue benchmark's: 160 rig seats, no wrap-up, no survey; and no recording notice) and places
the same calls on each:

1. **One PBX**, no edge: the carrier's INVITE goes straight to Asterisk.
2. **Two nodes behind Kamailio**: the same site as a line of two Asterisk nodes on this
   machine (``hotline.line.on_nodes``), Kamailio where the PBX listened; each call goes
   carrier → edge → a node, and the seat is rung node → edge → phone.

For each, at each rate (calls/s): the setup on the wire (the caller's INVITE reaching the
PBX or the edge → the INVITE reaching a seat's phone), p50 and p99, how many callers
reached a seat and how many seats were rung again for a caller (a seat that did not answer
in time, or answered busy), and the CPU per call of each part (each Asterisk, each node's
app with its front door, Kamailio with its workers), from /proc. The difference is what
the proxy costs (two more SIP hops, and a second Asterisk on the same two cores).

    python -m benchmarks.edge_path [--rates 10,25,50,75] [--seconds 6]

Needs root (the wire meter reads packets on ``lo``); the phones run on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.common import (
    FIRMS,
    bench_paths,
    bench_stack,
    cpu_seconds,
    load_sample_registry,
    ring_delays,
)
from benchmarks.queue_path import ANSWER_PORTS, bench_site, describe
from core.site import Site, load_site
from hotline import services
from hotline.line import Line, on_nodes
from hotline.stack import Stack
from redlist.synthetic import landline
from rig.load import LoadRig
from rig.sip_meter import SipMeter


@contextlib.contextmanager
def bench_line(work: Path, site_file: Path, supervised: bool = False) -> Iterator[Line]:
    """The benchmark site as two nodes behind Kamailio, at the benchmark's open moment with
    the sample registry (each node under its supervisor if ``supervised``); brought down
    afterwards."""
    site = load_site(site_file)
    line_file = work / "line.toml"
    line_file.write_text(
        on_nodes(site_file.read_text("utf-8"), 2, (site.sip.bind, site.sip.port)), "utf-8"
    )
    paths = bench_paths(work)
    line = Line(load_site(line_file), line_file, paths, supervised=supervised)
    try:
        line.up()
        load_sample_registry(line.site, paths)
        yield line
    finally:
        line.down()


CpuNow = Callable[[], dict[str, float]]
"""CPU seconds used so far by each part of an installation, by name."""


def stack_cpu(stack: Stack, name: str = "") -> dict[str, float]:
    """An installation's (or a node's) Asterisk, and its app processes with the front door."""
    apps = [services.app_service(n) for n in range(1, stack.site.services.app_processes + 1)]
    helpers = sum(
        cpu_seconds(services.running_pid(stack.paths, service)) for service in ("agi", *apps)
    )
    prefix = f"{name} " if name else ""
    return {f"{prefix}Asterisk": cpu_seconds(stack.pbx.pid()), f"{prefix}app": helpers}


def line_cpu(line: Line) -> dict[str, float]:
    """Every node's parts, and Kamailio with its worker processes."""
    figures = {"Kamailio": cpu_seconds(line.edge.pid(), with_children=True)}
    for name, stack in line.nodes.items():
        figures |= stack_cpu(stack, name)
    return figures


def seat_rings(meter: SipMeter, seat_ports: set[int], sip_port: int) -> Counter[str]:
    """How many times a seat was rung for each caller (each new INVITE from the PBX or the
    edge to a seat's phone, by the calling number)."""
    return Counter(
        invite.calling
        for invite in meter.invites
        if invite.source_port == sip_port and invite.destination_port in seat_ports
    )


async def setup_steps(
    site: Site, work: Path, rates: list[int], seconds: float, proxied: bool, cpu: CpuNow
) -> list[str]:
    """Calls to the hotline number at each rate; a line of figures per rate, and one of
    CPU milliseconds per call."""
    sip = (site.sip.bind, site.sip.port)
    lines, first = [], 0
    async with LoadRig(work, sip, proxied=proxied) as rig:
        await rig.answer_on(list(ANSWER_PORTS), answer_after=0.2, hold=2.0)
        for rate in rates:
            count = int(rate * seconds)
            calls = [(landline((first + n) % FIRMS), site.hotline_numbers[0]) for n in range(count)]
            first += count
            before = cpu()
            with SipMeter(only_port=site.sip.port) as meter:
                await rig.place(calls, rate)
            used = {part: (spent - before[part]) * 1000 / count for part, spent in cpu().items()}
            delays = ring_delays(meter, set(ANSWER_PORTS), site.sip.port)
            rings = seat_rings(meter, set(ANSWER_PORTS), site.sip.port)
            again = sum(times - 1 for times in rings.values())
            lines.append(
                f"  {rate:>3}/s  {describe(delays)}   reached a seat {len(delays):>3}/{count}"
                f"   seats rung again {again}"
            )
            lines.append(
                "         CPU ms/call: " + ", ".join(f"{k} {v:.1f}" for k, v in used.items())
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,25,50,75", help="calls per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of calls per rate")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    rates = [int(rate) for rate in args.rates.split(",")]
    # no recording notice: the setup is the path's, not a prompt's five seconds
    site_file = bench_site(work, 1, notice=False)
    print(
        f"caller INVITE → seat INVITE on the wire; 160 seats answer after 0.2 s and hang up "
        f"after 2 s; {args.seconds:.0f} s of calls at each rate"
    )
    (work / "one").mkdir()
    with bench_stack(work / "one", site_file) as stack:
        one = asyncio.run(
            setup_steps(
                stack.site,
                work / "one" / "load",
                rates,
                args.seconds,
                False,
                lambda: stack_cpu(stack),
            )
        )
    print("one PBX, the carrier straight to Asterisk:")
    print("\n".join(one))
    (work / "line").mkdir()
    with bench_line(work / "line", site_file) as line:
        two = asyncio.run(
            setup_steps(
                line.site,
                work / "line" / "load",
                rates,
                args.seconds,
                True,
                lambda: line_cpu(line),
            )
        )
    print("two nodes behind Kamailio (the carrier to the edge, the edge to a node and back):")
    print("\n".join(two))


if __name__ == "__main__":
    main()
