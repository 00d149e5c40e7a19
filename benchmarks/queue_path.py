"""Benchmark: the queue, from a Redis claim to a ringing seat phone.

1. Seat claims per second in Redis: :meth:`queues.seats.SeatPool.claim` for the caller
   whose turn it is (the Lua script that checks the line) and without a line, against the
   baseline of a bare MULTI ZPOPMIN + HSET (no turn, no pause or wrap-up checks).
2. The time from the caller's INVITE reaching the PBX to the PBX's INVITE reaching the
   seat's phone, timed on the wire: the full path (front door, Stasis, queue, ring) against
   Asterisk's own ``Queue()`` on the same PBX (the dialplan's fallback: app and front door
   stopped, so the AGI connection is refused at once).
3. The highest rate of calls per second each path carries with zero failed calls, in
   steps: every call must be answered by a seat and end cleanly for its caller.

    python -m benchmarks.queue_path [--claims 20000] [--calls 30] [--rates 2,4,6,8]

Brings up its own PBX, Redis and app in a scratch directory with a benchmark site (the
example site with 20 enterprise seats and no wrap-up); the rig's SIPp phones run on the
same machine, so the figures are for the whole machine. Needs root (the wire meter).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from redis.asyncio import Redis

from core.paths import Paths
from core.site import load_site
from hotline.redis_server import PrivateRedis
from hotline.stack import Stack
from queues.line import WaitingLine
from queues.seats import BUSY, IDLE, SeatPool
from redlist.service import RedList
from redlist.synthetic import csv_bytes, landline, rows
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, RigReport, Scenario
from rig.sip_meter import SipMeter

REPO = Path(__file__).resolve().parent.parent
EXTRA_SEATS = 15
"""Seats added to the example's five rig seats: enough that seats never limit the rate."""
FIRMS = 1000
OPEN_MOMENT = "2026-11-23T10:00:00+08:00"


# --- 1. claims in Redis ------------------------------------------------------------------


async def _timed(
    operation: Callable[[], Awaitable[str]], undo: Callable[[str], Awaitable[None]], count: int
) -> list[float]:
    """Seconds each ``operation`` took; ``undo`` (not timed) puts things back after it."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        result = await operation()
        samples.append(time.perf_counter() - started)
        await undo(result)
    return samples


def _line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    rate = len(samples) / sum(samples)
    return f"  {name:<46}{rate:>9,.0f} /s   p50 {p50 * 1e6:>5.0f} µs   p99 {p99 * 1e6:>5.0f} µs"


async def bench_claims(url: str, count: int) -> None:
    redis = Redis.from_url(url)
    await redis.flushdb()
    pool = SeatPool(redis)
    seats = [f"{1000 + n}" for n in range(20)]
    await pool.sync(seats)
    line = WaitingLine(redis, "enterprise", 60)
    for n in range(50):
        await line.join(f"caller-{n}", time.time() + n, None)

    async def claim_in_turn() -> str:
        seat = await pool.claim("caller-0", seats, line)
        assert seat is not None
        return seat

    async def undo_in_turn(seat: str) -> None:
        await pool.release(seat, "caller-0")
        await line.not_answered("caller-0")

    async def claim_alone() -> str:
        seat = await pool.claim("call", seats)
        assert seat is not None
        return seat

    async def undo_alone(seat: str) -> None:
        await pool.release(seat, "call")

    async def bare() -> str:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zpopmin(IDLE)
            pipe.hset(BUSY, "x", "call")
            popped, _ = await pipe.execute()
        return str(popped[0][0].decode())

    async def undo_bare(seat: str) -> None:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hdel(BUSY, "x")
            pipe.zadd(IDLE, {seat: time.time()})
            await pipe.execute()

    print(f"seat claims in Redis ({count:,} each, one client, one round trip per claim)")
    line_claims = await _timed(claim_in_turn, undo_in_turn, count)
    print(_line("claim in turn (Lua, 50 callers in line)", line_claims))
    print(_line("claim without a line (Lua)", await _timed(claim_alone, undo_alone, count)))
    print(_line("baseline: bare MULTI ZPOPMIN+HSET", await _timed(bare, undo_bare, count)))

    async def worker(n: int) -> int:
        done = 0
        for _ in range(count // 16):
            seat = await pool.claim(f"w{n}", seats)
            if seat is not None:
                await pool.release(seat, f"w{n}")
                done += 1
        return done

    started = time.perf_counter()
    claimed = sum(await asyncio.gather(*(worker(n) for n in range(16))))
    seconds = time.perf_counter() - started
    print(f"  16 concurrent clients, claim + release:       {claimed / seconds:>9,.0f} /s")
    await redis.aclose()


# --- 2 and 3. the path through the PBX ---------------------------------------------------


@contextlib.contextmanager
def scratch_dir(work: Path | None) -> Iterator[tuple[Path, Paths]]:
    """A benchmark's scratch directory and the installation state in it (the PBX root
    cache is the usual one). Root is needed for the wire meters; SIGTERM still runs the
    clean-up of whatever the benchmark brought up."""
    if os.geteuid() != 0:
        raise SystemExit("the wire meters need root (an AF_PACKET socket on lo)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = work or Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    cache = Path(os.environ.get("HOTLINE_CACHE_DIR") or Path.home() / ".cache/hotline")
    paths = Paths(state=work / "state", cache=cache)
    os.environ["HOTLINE_STATE_DIR"], os.environ["HOTLINE_CACHE_DIR"] = str(paths.state), str(cache)
    yield work, paths


@contextlib.contextmanager
def bench_stack(site_file: Path, paths: Paths) -> Iterator[tuple[Stack, Rig]]:
    """The PBX, Redis and app of a benchmark site, its queues and departments open (the
    app's clock is a Monday 10:00), the sample registry loaded, and a rig; all brought down
    afterwards."""
    site = load_site(site_file)
    stack = Stack(site, site_file, paths)
    stack.app_env = {"HOTLINE_CLOCK": OPEN_MOMENT}
    try:
        stack.up()
        registry = RedList.for_installation(site, paths)
        registry.import_csv(csv_bytes(list(rows(FIRMS))), actor="benchmark")
        registry.close()
        print(
            f"\nAsterisk {stack.pbx.install.version}, {os.cpu_count()} cores, "
            "the rig on the same machine"
        )
        yield (
            stack,
            Rig(paths.state / "rig", pbx=(site.sip.bind, site.sip.port), caller_ip="127.0.0.2"),
        )
    finally:
        stack.down()


def bench_site(work: Path) -> Path:
    """The example site with 15 more rig seats, no wrap-up and short rings."""
    text = (REPO / "sites" / "example.toml").read_text(encoding="utf-8")
    text = text.replace("wrap_up = 10", "wrap_up = 0").replace("max_wait = 600", "max_wait = 120")
    for n in range(EXTRA_SEATS):
        text += (
            f'\n[[seats]]\nid = "{1100 + n}"\nname = "Bench seat {n}"\n'
            f'queues = ["enterprise"]\ncontact = "sip:127.0.0.1:{5101 + n}"\n'
        )
    path = work / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _phones(stack: Stack, talk: float) -> tuple[PhoneSpec, ...]:
    """A rig phone on every enterprise seat: answers after 0.2 s, hangs up after ``talk``."""
    return tuple(
        PhoneSpec(seat.id, int(seat.contact.rsplit(":", 1)[1]), answer_after=0.2, hold=talk)
        for seat in stack.site.seats_of("enterprise")
        if seat.contact
    )


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


def ring_delays(meter: SipMeter, seat_ports: set[int], sip_port: int) -> list[float]:
    """Seconds from each caller's INVITE to the first seat INVITE with its number."""
    arrived: dict[str, float] = {}
    delays = []
    for invite in sorted(meter.invites, key=lambda i: i.at):
        if invite.destination_port == sip_port and invite.calling not in arrived:
            arrived[invite.calling] = invite.at
        elif (
            invite.source_port == sip_port
            and invite.destination_port in seat_ports
            and invite.calling in arrived
        ):
            delays.append(invite.at - arrived.pop(invite.calling))
    return delays


async def _play(
    rig: Rig, phones: tuple[PhoneSpec, ...], name: str, callers: tuple[CallerSpec, ...]
) -> RigReport:
    report = await rig.run(Scenario(name, phones, callers), grace=4.0)
    await asyncio.sleep(2.0)  # the last calls' seats are free again
    return report


def _failed(report: RigReport) -> int:
    unclean = sum(1 for caller in report.callers if caller.exit_code != 0)
    unanswered = len(report.callers) - sum(phone.answered for phone in report.phones)
    return max(unclean, unanswered)


async def bench_path(
    stack: Stack, rig: Rig, calls: int, rates: list[int], step: float, talk: float
) -> None:
    phones = _phones(stack, talk)
    seat_ports = {phone.port for phone in phones}
    sip_port = stack.site.sip.port
    paths = {"full path (front door, Stasis, queue)": True, "baseline: Asterisk Queue()": False}
    delays: dict[str, list[float]] = {}
    carried: dict[str, list[tuple[int, int, int]]] = {}
    first = 0
    for label, full in paths.items():
        if full:
            stack.start_front_door()
            stack.start_app()
        else:
            stack.stop_app()
            stack.stop_front_door()
        callers = tuple(
            CallerSpec(landline(first + n), at=n * 0.7, hold=None) for n in range(calls)
        )
        first += calls
        with SipMeter() as meter:
            report = await _play(rig, phones, "latency", callers)
        delays[label] = ring_delays(meter, seat_ports, sip_port)
        if _failed(report):
            print(f"  ({label}: {_failed(report)} of {calls} latency calls failed)")
        carried[label] = []
        for rate in rates:
            count = int(rate * step)
            callers = tuple(
                CallerSpec(landline((first + n) % FIRMS), at=n / rate, hold=None)
                for n in range(count)
            )
            first += count
            report = await _play(rig, phones, f"rate-{rate}", callers)
            carried[label].append((rate, count, _failed(report)))

    print(f"\ncaller INVITE → seat INVITE, on the wire ({calls} calls each, one every 0.7 s)")
    for label, samples in delays.items():
        print(delay_line(label, samples))
    print(
        f"\ncalls per second carried with zero failed calls ({step:.0f} s at each rate, "
        f"seats talk {talk:.1f} s)"
    )
    for label, steps in carried.items():
        cells = "  ".join(f"{rate}/s: {failed} failed of {count}" for rate, count, failed in steps)
        best = 0
        for rate, _, failed in steps:  # the highest rate with no failure at it or below
            if failed:
                break
            best = rate
        print(f"  {label:<42} highest clean rate {best}/s   ({cells})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rates", default="2,4,6,8")
    parser.add_argument("--step", type=float, default=10.0, help="seconds at each rate")
    parser.add_argument("--talk", type=float, default=1.0, help="seconds a seat talks")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    with scratch_dir(args.work) as (work, paths):
        scratch = PrivateRedis(Paths(state=work / "claims", cache=work / "claims"))
        url = scratch.up()
        try:
            asyncio.run(bench_claims(url, args.claims))
        finally:
            scratch.down()
        with bench_stack(bench_site(work), paths) as (stack, rig):
            rates = [int(rate) for rate in args.rates.split(",")]
            asyncio.run(bench_path(stack, rig, args.calls, rates, args.step, args.talk))


if __name__ == "__main__":
    main()
