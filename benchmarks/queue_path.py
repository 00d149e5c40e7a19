"""Benchmark: a caller reaching a seat, and a seat handed to the next caller, on the wire.

One run brings up its own PBX, Redis and app (a benchmark site: the example site with 160
rig seats, no wrap-up, no survey) and times, on the same PBX with the same SIPp phones:

1. **Setup**: the caller's INVITE reaching the PBX → the PBX's INVITE reaching a seat's
   phone, at each rate (calls/s), for three paths: plain ``Dial()`` to a seat (the floor),
   Asterisk's ``Queue()`` over the same seats, and the hotline's full path (FastAGI front
   door, Stasis, the Redis line and dispatch, the originate). Every caller holds until the
   seat hangs up; a call counts as reaching a seat when a seat's phone was rung for it.
2. **Hand-off**: one seat, ten callers waiting; the seat's BYE → the PBX's next INVITE to
   that seat, for Asterisk's ``Queue()`` and the hotline.
3. **Cost**: CPU milliseconds the app and the front door spent per call at each rate.

    python -m benchmarks.queue_path [--rates 10,25,50] [--seconds 6] [--app-processes 1]

The phones (eight SIPp answering processes, 20 seats each, and one SIPp caller process per
step) run on the same machine, so the figures are for the whole machine. Needs root (the
wire meter reads packets on ``lo``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import FIRMS, REPO, bench_stack, ring_delays
from core.events import EVENTS
from core.paths import Paths
from core.stores import redis_url
from hotline import services
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.synthetic import landline
from rig.load import LoadRig
from rig.sip_meter import SipMeter

SEATS = 160
FIRST_SEAT = 3000
ANSWER_PORTS = tuple(range(6101, 6109))
"""Eight answering SIPp processes; seat n is on port ANSWER_PORTS[n % 8]."""
HANDOFF_SEAT = str(FIRST_SEAT)
DIAL_PREFIX, QUEUE_NUMBER, HANDOFF_NUMBER = "99", "98000", "98001"
DIALPLAN = (
    f"_{DIAL_PREFIX}XXXX,1,Dial(PJSIP/${{EXTEN:2}},30)",
    f"{QUEUE_NUMBER},1,Answer()",
    f"{QUEUE_NUMBER},2,Queue(enterprise)",
    f"{HANDOFF_NUMBER},1,Answer()",
    f"{HANDOFF_NUMBER},2,Queue(handoff)",
)
"""The baselines, added to the running PBX's inbound context for this run only."""


def bench_site(work: Path, app_processes: int, notice: bool = True) -> Path:
    """The example site without its rig seats: 160 benchmark seats in the enterprise queue,
    no wrap-up or survey; a ``handoff`` queue holding the first seat alone for Asterisk's
    ``Queue()``. ``notice``: callers hear the recording notice (five seconds) first."""
    text = (REPO / "sites" / "example.toml").read_text(encoding="utf-8")
    if not notice:
        assert "notice = true" in text, "the example site's [recordings] changed"
        text = text.replace("notice = true", "notice = false")
    text = re.sub(r"\[\[seats\]\]\n(?:(?!\n\[).)*\n", "", text, flags=re.DOTALL)
    text = text.replace("wrap_up = 10", "wrap_up = 0").replace("survey = true", "survey = false")
    text = text.replace("app_processes = 1", f"app_processes = {app_processes}")
    text += '\n[[queues]]\nname = "handoff"\nwrap_up = 0\n'
    for n in range(SEATS):
        queues = '"enterprise", "handoff"' if n == 0 else '"enterprise"'
        queues = '"enterprise", "citizen"' if n == SEATS - 1 else queues
        seat = FIRST_SEAT + n
        port = ANSWER_PORTS[n % len(ANSWER_PORTS)]
        text += (
            f'\n[[seats]]\nid = "{seat}"\nname = "Bench seat {n}"\nqueues = [{queues}]\n'
            f'contact = "sip:{seat}@127.0.0.1:{port}"\n'
        )
    path = work / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Step:
    """What one step of calls showed on the wire."""

    placed: int
    reached_seat: int
    setup: list[float]
    """Seconds from each caller's INVITE to the PBX's INVITE to a seat."""
    cpu_ms_per_call: float | None = None
    to_asterisk_queue: int = 0
    """Callers the app sent on to Asterisk's queue because it was behind."""


def handoff_delays(meter: SipMeter, sip_port: int, seat_port: int) -> list[float]:
    """Seconds from each BYE the seat's phone sends → the PBX's next INVITE to it."""
    byes = sorted(
        b.at for b in meter.byes if (b.source_port, b.destination_port) == (seat_port, sip_port)
    )
    invites = sorted(
        i.at for i in meter.invites if (i.source_port, i.destination_port) == (sip_port, seat_port)
    )
    delays = []
    for bye in byes:
        following = [at for at in invites if at > bye]
        if following:
            delays.append(following[0] - bye)
    return delays


def cpu_seconds(paths: Paths, names: list[str]) -> float:
    """User + system CPU seconds the named services have used so far."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for name in names:
        pid = services.running_pid(paths, name)
        if pid is None:
            continue
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def run_step(
    rig: LoadRig, stack: Stack, dialled: list[str], rate: float, first: int, hotline: bool
) -> Step:
    """Place one call per dialled number at ``rate``; time them on the wire."""
    names = ["agi"] + [
        services.app_service(n + 1) for n in range(stack.site.services.app_processes)
    ]
    calls = [(landline((first + n) % FIRMS), number) for n, number in enumerate(dialled)]
    cpu_before = cpu_seconds(stack.paths, names)
    redis = Redis.from_url(redis_url(stack.paths))
    events = redis.pubsub()
    await events.subscribe(EVENTS)
    with SipMeter(only_port=stack.site.sip.port) as meter:
        await rig.place(calls, rate)
    cpu = cpu_seconds(stack.paths, names) - cpu_before
    handed, quiet_since = 0, time.monotonic()
    while time.monotonic() - quiet_since < 1.0:  # until a second passes with no event
        message = await events.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            quiet_since = time.monotonic()
            handed += json.loads(message["data"]).get("type") == "caller-to-asterisk-queue"
    await events.aclose()
    await redis.aclose()
    delays = ring_delays(meter, set(ANSWER_PORTS), stack.site.sip.port)
    cost = cpu * 1000 / len(calls) if hotline else None
    return Step(len(calls), len(delays), delays, cost, handed)


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def describe(samples: list[float]) -> str:
    if not samples:
        return "nothing measured"
    return f"p50 {statistics.median(samples) * 1000:>7.1f} ms  p99 {_ms(samples, 0.99):>8.1f} ms"


async def bench_setup(stack: Stack, work: Path, rates: list[int], seconds: float) -> None:
    sip = (stack.site.sip.bind, stack.site.sip.port)
    seat_ids = [str(FIRST_SEAT + n) for n in range(SEATS)]
    paths: dict[str, Callable[[int], str]] = {
        "plain Dial()": lambda n: DIAL_PREFIX + seat_ids[n % SEATS],
        "Asterisk Queue()": lambda n: QUEUE_NUMBER,
        "hotline": lambda n: stack.site.hotline_numbers[0],
    }
    print(
        f"\ncaller INVITE → seat INVITE on the wire; {SEATS} seats answer after 0.2 s and "
        f"hang up after 2 s; callers hold until then; {seconds:.0f} s at each rate"
    )
    first = 0
    async with LoadRig(work / "setup", sip) as rig:
        await rig.answer_on(list(ANSWER_PORTS), answer_after=0.2, hold=2.0)
        for rate in rates:
            count = int(rate * seconds)
            for label, number in paths.items():
                step = await run_step(
                    rig, stack, [number(n) for n in range(count)], rate, first, label == "hotline"
                )
                first += count
                cost = (
                    f"   app+front door {step.cpu_ms_per_call:.1f} CPU ms/call"
                    f"   the app queued {step.placed - step.to_asterisk_queue},"
                    f" sent on to Asterisk's queue {step.to_asterisk_queue}"
                    if step.cpu_ms_per_call is not None
                    else ""
                )
                print(
                    f"  {rate:>3}/s  {label:<17} {describe(step.setup)}   "
                    f"reached a seat {step.reached_seat:>3}/{step.placed}{cost}"
                )


async def bench_handoff(stack: Stack, work: Path, rounds: int, waiting: int) -> None:
    sip = (stack.site.sip.bind, stack.site.sip.port)
    port = ANSWER_PORTS[0]
    print(
        f"\nhand-off: one seat, {waiting} callers waiting; the seat talks 0.5 s; "
        f"its BYE → the PBX's next INVITE to it ({rounds} rounds)"
    )
    redis = Redis.from_url(redis_url(stack.paths))
    pool = SeatPool(redis)
    others = [seat.id for seat in stack.site.seats if seat.id != HANDOFF_SEAT]
    for seat in others:  # the hotline's line: one seat; Asterisk's handoff queue has just it
        await pool.pause(seat, "benchmark: one seat")
    try:
        for label, number in (
            ("Asterisk Queue()", HANDOFF_NUMBER),
            ("hotline", stack.site.hotline_numbers[0]),
        ):
            delays: list[float] = []
            async with LoadRig(work / f"handoff-{number}", sip) as rig:
                await rig.answer_on([port], answer_after=0.1, hold=0.5)
                for n in range(rounds):
                    calls = [(landline(n * waiting + k), number) for k in range(waiting)]
                    with SipMeter(only_port=stack.site.sip.port) as meter:
                        await rig.place(calls, rate=50)
                    delays += handoff_delays(meter, stack.site.sip.port, port)
            print(f"  {label:<17} {describe(delays)}   (n={len(delays)})")
    finally:
        for seat in others:
            await pool.resume(seat)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,25,50", help="calls per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of calls per rate")
    parser.add_argument("--rounds", type=int, default=3, help="hand-off rounds of ten callers")
    parser.add_argument("--app-processes", type=int, default=1)
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    with bench_stack(work, bench_site(work, args.app_processes)) as stack:
        for line in DIALPLAN:
            stack.pbx.rx(f"dialplan add extension {line} into hotline-inbound")
        print(f"{args.app_processes} app process(es)")
        rates = [int(rate) for rate in args.rates.split(",")]
        asyncio.run(bench_setup(stack, work, rates, args.seconds))
        asyncio.run(bench_handoff(stack, work, args.rounds, waiting=10))


if __name__ == "__main__":
    main()
