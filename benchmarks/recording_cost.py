"""Benchmark: what recording every call costs — the line with recording off, then on.

Two installations in turn (the ``queue_path`` benchmark site: 160 rig seats that answer
after 0.2 s and hang up after ``--talk`` seconds, no wrap-up, no survey), the first with
``[recordings] enabled = false``, the second with recording on (the notice off, so that
setup compares the same path). On each, at ``--rate`` calls a second for ``--seconds``:

- plain ``Dial()`` to a seat (the floor, never recorded) and the hotline's full path;
- **setup**: the caller's INVITE reaching the PBX → the PBX's INVITE to a seat, on the wire;
- **CPU per call**: Asterisk's, and the app's with the front door's, from /proc.

    python -m benchmarks.recording_cost [--rate 25] [--seconds 8] [--talk 5]

Needs root (the wire meter reads packets on ``lo``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path

from benchmarks.common import bench_stack, cpu_seconds
from benchmarks.queue_path import (
    ANSWER_PORTS,
    DIAL_PREFIX,
    FIRST_SEAT,
    SEATS,
    bench_site,
    describe,
    run_step,
)
from hotline.stack import Stack
from recording.files import spool_directory
from rig.load import LoadRig


def _site(work: Path, recording: bool) -> Path:
    path = bench_site(work, app_processes=1)
    text, found = re.subn(
        r"\[recordings\][^\n]*\nenabled = true\nnotice = true[^\n]*",
        f"[recordings]\nenabled = {'true' if recording else 'false'}\nnotice = false",
        path.read_text(encoding="utf-8"),
    )
    assert found == 1, "the example site's [recordings] changed"
    path.write_text(text, encoding="utf-8")
    return path


async def _measure(stack: Stack, work: Path, rate: float, seconds: float, talk: float) -> None:
    sip = (stack.site.sip.bind, stack.site.sip.port)
    seat_ids = [str(FIRST_SEAT + n) for n in range(SEATS)]
    count = int(rate * seconds)
    first = 0
    async with LoadRig(work / "calls", sip) as rig:
        await rig.answer_on(list(ANSWER_PORTS), answer_after=0.2, hold=talk)
        for label, hotline in (("plain Dial()", False), ("hotline", True)):
            numbers = [
                stack.site.hotline_numbers[0] if hotline else DIAL_PREFIX + seat_ids[n % SEATS]
                for n in range(count)
            ]
            asterisk_before = cpu_seconds(stack.pbx.pid())
            step = await run_step(rig, stack, numbers, rate, first, hotline)
            asterisk_ms = (cpu_seconds(stack.pbx.pid()) - asterisk_before) * 1000 / count
            first += count
            app = (
                f"   app+front door {step.cpu_ms_per_call:5.1f}"
                f"   sent on to Asterisk's queue (not recorded): {step.to_asterisk_queue}"
                if step.cpu_ms_per_call
                else ""
            )
            print(
                f"    {label:<13} {describe(step.setup)}   reached a seat "
                f"{step.reached_seat:>3}/{step.placed}   CPU ms/call: Asterisk {asterisk_ms:5.1f}"
                f"{app}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=25.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of calls")
    parser.add_argument("--talk", type=float, default=5.0, help="seconds each seat talks")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    print(
        f"{args.rate:g} calls/s for {args.seconds:g} s; seats answer after 0.2 s and talk "
        f"{args.talk:g} s; setup = caller INVITE → seat INVITE on the wire"
    )
    for recording in (False, True):
        run = work / ("recorded" if recording else "unrecorded")
        run.mkdir(parents=True, exist_ok=True)
        with bench_stack(run, _site(run, recording)) as stack:
            stack.pbx.rx(
                f"dialplan add extension _{DIAL_PREFIX}XXXX,1,Dial(PJSIP/${{EXTEN:2}},30) "
                "into hotline-inbound"
            )
            print(f"  recording {'on' if recording else 'off'}:")
            asyncio.run(_measure(stack, run, args.rate, args.seconds, args.talk))
            files = list(spool_directory(stack.paths).rglob("*.ogg"))
            size = sum(f.stat().st_size for f in files)
            print(f"    recordings written: {len(files)}, {size / 1000:.0f} KB")


if __name__ == "__main__":
    main()
