"""Benchmark: a caller reaching a seat whose phone is the console in a browser, beside the
same seat on a SIPp phone, in one run on one PBX.

The example site with seat 1001 alone (the others paused; no wrap-up, no survey). First the
browser: headless Chromium (generated microphone) opens 1001's console, its phone registers
over WSS with auto-answer on; ``--calls`` callers dial one after another, each hanging up a
second after the answer. Setup = the caller's INVITE reaching the PBX (read off the wire on
``lo``) → the page's phone ringing (SIP.js handed the page the INVITE, after TLS and the
WebSocket: the page's clock). Then 1001 goes back to its desk phone, a SIPp phone that
answers at once, and the same callers: the caller's INVITE → the PBX's INVITE reaching the
SIPp phone. Same machine, same clock (the wall clock), so the figures compare.

    python -m benchmarks.browser_phone [--calls 20]

Needs root (the wire meter reads packets on ``lo``) and Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import REPO, bench_stack, delay_line, ring_delays
from core.secrets import Secrets
from core.stores import redis_url
from hotline.stack import Stack
from queues.seats import SeatPool
from redlist.synthetic import landline
from rig.browser import chromium
from rig.network import browser_media_address
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from rig.sip_meter import SipMeter

SEAT, SEAT_PORT = "1001", 5071
SPACING = 3.0
"""Seconds between callers: each is answered and gone before the next dials."""


def bench_site(work: Path) -> Path:
    """The example site: no wrap-up, survey or recording notice; the browsers' audio on a
    non-loopback address of this machine."""
    text = (REPO / "sites" / "example.toml").read_text(encoding="utf-8")
    text = text.replace("wrap_up = 10", "wrap_up = 0").replace("survey = true", "survey = false")
    text = text.replace("notice = true ", "notice = false ")
    address = browser_media_address()
    if address is None:
        raise SystemExit("no address but loopback for the browser's audio (see rig/network.py)")
    text = text.replace("wss_port = 8089", f'wss_port = 8089\nwebrtc_address = "{address}"')
    path = work / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def callers(count: int) -> tuple[CallerSpec, ...]:
    return tuple(CallerSpec(landline(n % 10), at=n * SPACING, hold=1.0) for n in range(count))


async def browser_setups(stack: Stack, rig: Rig, web: str, count: int) -> list[float]:
    """Seconds from each caller's INVITE on the wire to the page's ringing."""
    token = Secrets.load_or_create(stack.paths.secrets_file).console_token(SEAT)
    offset = time.time() - time.monotonic()  # the meter's clock → the wall clock
    async with chromium(f"{web}/console/{SEAT}#token={token}", webrtc=True) as page:
        await page.wait_for("window.phone && window.phone.loaded")
        await page.evaluate("document.getElementById('phone-on').click()")
        await page.wait_for("window.phone.state === 'ready'")
        await page.evaluate("document.getElementById('phone-auto').checked = true")
        with SipMeter(only_port=stack.site.sip.port) as meter:
            report = await rig.run(Scenario("browser", (), callers(count)))
            rings = [ms / 1000 for ms in await page.evaluate("window.phone.rings")]
        await page.evaluate("document.getElementById('phone-off').click()")
        await page.wait_for("window.phone.state === 'desk'")
    answered = sum(1 for caller in report.callers if caller.exit_code == 0)
    print(f"  browser: {len(rings)} of {count} calls rang the page, {answered} ended cleanly")
    arrivals = sorted(
        invite.at + offset
        for invite in meter.invites
        if invite.destination_port == stack.site.sip.port and invite.source_port != SEAT_PORT
    )
    first_invites = _first_per_call(arrivals)
    return [ring - arrived for arrived, ring in zip(first_invites, sorted(rings), strict=False)]


def _first_per_call(moments: list[float]) -> list[float]:
    """The first INVITE of each caller (a re-sent INVITE comes within the spacing)."""
    firsts: list[float] = []
    for moment in moments:
        if not firsts or moment - firsts[-1] > SPACING / 2:
            firsts.append(moment)
    return firsts


async def sipp_setups(stack: Stack, rig: Rig, count: int) -> list[float]:
    """Seconds from each caller's INVITE to the PBX's INVITE reaching the SIPp seat."""
    phone = PhoneSpec(SEAT, SEAT_PORT, answer_after=0.0, hold=None)
    with SipMeter(only_port=stack.site.sip.port) as meter:
        report = await rig.run(Scenario("sipp", (phone,), callers(count)))
    print(f"  SIPp: {report.phone(SEAT).answered} of {count} calls answered by the seat's phone")
    return ring_delays(meter, {SEAT_PORT}, stack.site.sip.port)


async def measure(stack: Stack, work: Path, count: int) -> None:
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    for seat in stack.site.seats:
        if seat.id != SEAT:
            await seats.pause(seat.id, "benchmark: one seat")
    await redis.aclose()
    rig = Rig(work / "rig", pbx=(stack.site.sip.bind, stack.site.sip.port))
    web = stack.start_web()
    browser = await browser_setups(stack, rig, web, count)
    sipp = await sipp_setups(stack, rig, count)
    print("\nsetup: the caller's INVITE → the seat's phone rings")
    print(delay_line("plain SIPp phone (INVITE on its port)", sipp))
    print(delay_line("browser phone (the page's ringing)", browser))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as scratch:
        work = Path(scratch)
        with bench_stack(work, bench_site(work)) as stack:
            asyncio.run(measure(stack, work, options.calls))


if __name__ == "__main__":
    main()
