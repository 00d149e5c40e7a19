"""Benchmark: the three-way transfer.

1. The time from the seat's last key (the first RFC 4733 end packet of ``#`` in ``*101#``)
   to the PBX's INVITE reaching the specialist's phone, timed on the wire; beside it, in the
   same run, the queue's caller INVITE → seat INVITE (one front door + one originate), the
   reference for what a single ARI originate costs on this machine.
2. Simultaneous three-way calls with audio: N callers, N seats and the specialists talking at
   once, in steps; for each step, whether every call reached the three-way bridge and kept
   its audio (RTP counted on the wire), and the CPU Asterisk and the app used per call.

    python -m benchmarks.transfer_path [--transfers 20] [--steps 5,10,15,20]

Brings up its own PBX, Redis and app with a benchmark site (20 enterprise rig seats);
the SIPp phones run on the same 2-core machine. Needs root (the wire meters).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from ari_app.client import Ari
from ari_app.main import ari_config
from benchmarks.common import FIRMS, REPO, bench_stack, delay_line, ring_delays
from hotline import services
from hotline.stack import Stack
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, KeyPress, PhoneSpec, Rig, Scenario
from rig.sip_meter import SipMeter

SPECIALIST, SPECIALIST_PORT = "02161001001", 5081
"""The tax bureau's first number (matter 101) on the example site: a rig phone."""
TICK = os.sysconf("SC_CLK_TCK")
DESKS = 20
"""Specialists' phones (and one matter each, 9NN) added for the simultaneous calls."""


def desk(n: int) -> tuple[str, int, str]:
    """The number, rig port and matter code of bench specialist ``n``."""
    return f"0216200{n:04d}", 5201 + n, f"9{n:02d}"


RIG_SEATS = 15
"""Rig seats added to the example's five: one per simultaneous three-way call."""


def transfer_site(work: Path) -> Path:
    """The example site with 20 rig seats (no wrap-up) and one specialist's phone and
    matter per seat."""
    text = (REPO / "sites" / "example.toml").read_text(encoding="utf-8")
    text = text.replace("wrap_up = 10", "wrap_up = 0").replace("max_wait = 600", "max_wait = 120")
    for n in range(RIG_SEATS):
        text += (
            f'\n[[seats]]\nid = "{1100 + n}"\nname = "Bench seat {n}"\n'
            f'queues = ["enterprise"]\ncontact = "sip:127.0.0.1:{5101 + n}"\n'
        )
    for n in range(DESKS):
        number, port, code = desk(n)
        text += (
            f'\n[[phones]]\nnumber = "{number}"\ncontact = "sip:127.0.0.1:{port}"\n'
            f'\n[[matters]]\ncode = "{code}"\nname = "Bench desk {n}"\n'
            f'department = "tax"\nnumbers = ["{number}"]\n'
        )
    path = work / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _seats(
    stack: Stack, keys_at: float, hold: float, own_desks: bool = False
) -> tuple[PhoneSpec, ...]:
    """A rig phone on every enterprise seat that keys ``*101#`` (or, with ``own_desks``,
    the matter of its own bench specialist) ``keys_at`` seconds into each call."""
    seats = [seat for seat in stack.site.seats_of("enterprise") if seat.contact]
    return tuple(
        PhoneSpec(
            seat.id,
            int(str(seat.contact).rsplit(":", 1)[1]),
            answer_after=0.3,
            hold=hold,
            keys=(KeyPress(keys_at, f"*{desk(n)[2] if own_desks else '101'}#"),),
        )
        for n, seat in enumerate(seats)
    )


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def bench_key_to_invite(stack: Stack, rig: Rig, transfers: int) -> None:
    phones = (
        *_seats(stack, keys_at=1.0, hold=3.0),
        PhoneSpec(SPECIALIST, SPECIALIST_PORT, answer_after=0.3, hold=1.5),
    )
    callers = tuple(CallerSpec(landline(n), at=n * 2.5, hold=None) for n in range(transfers))
    with SipMeter() as meter:
        report = await rig.run(Scenario("key-to-invite", phones, callers), grace=4.0)
    keys = [key for key in meter.keys if key.key == "#"]
    invites = sorted(
        (i for i in meter.invites if i.destination_port == SPECIALIST_PORT), key=lambda i: i.at
    )
    delays = []
    for key in keys:
        following = next((i for i in invites if i.at >= key.at), None)
        if following is not None:
            delays.append(following.at - key.at)
            invites.remove(following)
    queue = ring_delays(meter, {phone.port for phone in phones}, stack.site.sip.port)
    failed = sum(1 for caller in report.callers if caller.exit_code != 0)
    print(
        f"seat's last key → specialist INVITE, on the wire ({transfers} transfers, {failed} failed)"
    )
    print(delay_line("transfer: '#' → specialist INVITE", delays))
    print(delay_line("reference: caller INVITE → seat INVITE", queue))


async def bench_simultaneous(stack: Stack, rig: Rig, steps: list[int]) -> None:
    ari = Ari(ari_config(stack.site, stack.paths))
    asterisk = stack.pbx.pid()
    app = services.running_pid(stack.paths, "app")
    print("\nsimultaneous three-way calls with audio (10 s measured with all of them up)")
    print(
        f"  {'calls':>5}  {'3-way reached':>13}  {'audio ok':>8}  {'Asterisk CPU':>13}  "
        f"{'per call':>9}  {'app CPU':>8}  {'machine load':>12}"
    )
    seats = len(_seats(stack, 1.0, 1.0))
    for count in steps:
        if count > seats:
            print(f"  {count:>5}  (only {seats} rig seats; skipped)")
            continue
        talk = 22.0
        phones = (
            *_seats(stack, keys_at=1.0, hold=talk, own_desks=True),
            *(PhoneSpec(desk(n)[0], desk(n)[1], answer_after=0.3) for n in range(DESKS)),
        )
        callers = tuple(
            CallerSpec(landline(n % FIRMS), at=n * 0.25, hold=talk + 2.0) for n in range(count)
        )
        playing = asyncio.create_task(rig.run(Scenario(f"3way-{count}", phones, callers)))
        reached, deadline = 0, time.monotonic() + 60  # the rig may first build its media
        while reached < count and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            bridges = await ari.bridges()
            reached = sum(1 for bridge in bridges if len(bridge["channels"]) == 3)
        cpu_before = (_cpu_seconds(asterisk), _cpu_seconds(app), os.getloadavg()[0])
        started = time.monotonic()
        await asyncio.sleep(10.0)
        seconds = time.monotonic() - started
        asterisk_cpu = (_cpu_seconds(asterisk) - cpu_before[0]) / seconds
        app_cpu = (_cpu_seconds(app) - cpu_before[1]) / seconds
        load = os.getloadavg()[0]
        report = await playing
        seat_ok = [phone for phone in report.phones if phone.name != SPECIALIST and phone.answered]
        audio_ok = sum(1 for phone in seat_ok if phone.rtp_received > 0.8 * 50 * talk)
        audio_ok = min(audio_ok, sum(1 for c in report.callers if c.rtp_received > 0.8 * 50 * talk))
        print(
            f"  {count:>5}  {reached:>13}  {audio_ok:>8}  {asterisk_cpu * 100:>12.1f}%  "
            f"{asterisk_cpu * 100 / max(reached, 1):>8.2f}%  {app_cpu * 100:>7.1f}%  "
            f"{load:>12.1f}"
        )
        await asyncio.sleep(3.0)
    await ari.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=20)
    parser.add_argument("--steps", default="5,10,15,20")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    with bench_stack(work, transfer_site(work)) as stack:
        sip = (stack.site.sip.bind, stack.site.sip.port)
        rig = Rig(stack.paths.state / "rig", pbx=sip, caller_ip="127.0.0.2")
        asyncio.run(bench_key_to_invite(stack, rig, args.transfers))
        asyncio.run(bench_simultaneous(stack, rig, [int(n) for n in args.steps.split(",")]))


if __name__ == "__main__":
    main()
