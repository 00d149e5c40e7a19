"""A rig caller (a registered company, so no menu) dials the hotline; a seat phone rings,
answers and talks; whoever hangs up, the other leg is hung up too and Asterisk is left with
no channel and no bridge."""

from __future__ import annotations

import socket

import pytest

from ari_app.client import Ari
from core import clock
from core.site import Site
from hotline.stack import Stack
from queues.seats import IDLE
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import Behaviour, CallerSpec, PhoneResult, PhoneSpec, Rig, RigReport, Scenario
from tests.conftest import ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

# 50 packets/s of 20 ms audio: a few seconds of talk must show hundreds, not a handful
MIN_PACKETS = 100


def the_seat_that_answered(report: RigReport) -> PhoneResult:
    rung = [phone for phone in report.phones if phone.calls]
    assert len(rung) == 1, f"expected one seat rung, got {[p.summary() for p in rung]}"
    return rung[0]


async def _nothing_left(ari: Ari) -> bool:
    return not await ari.channels() and not await ari.bridges()


async def test_caller_hangs_up_and_the_seat_leg_follows(
    rig: Rig, ari: Ari, site: Site, registry: RedList
) -> None:
    scenario = Scenario(
        "caller-hangs-up",
        phones=seat_phones(site, "enterprise", hold=None),
        callers=(CallerSpec(landline(3), hold=4.0),),
    )
    report = await rig.run(scenario)

    caller, seat = report.callers[0], the_seat_that_answered(report)
    assert caller.exit_code == 0, caller.errors
    assert [c.events for c in seat.calls] == [["ringing", "answered", "remote-hangup"]]
    assert caller.calls[0].events == ["calling", "answered", "local-hangup"]
    # RTP flowed both ways for each phone, counted on the wire, not just SIP
    assert seat.rtp_received >= MIN_PACKETS and seat.rtp_sent >= MIN_PACKETS
    assert caller.rtp_received >= MIN_PACKETS and caller.rtp_sent >= MIN_PACKETS
    assert await eventually(lambda: _nothing_left(ari), within=5), "a channel or bridge was left"


async def test_seat_hangs_up_and_the_caller_leg_follows(
    rig: Rig, ari: Ari, site: Site, registry: RedList
) -> None:
    scenario = Scenario(
        "seat-hangs-up",
        phones=seat_phones(site, "enterprise", hold=3.0),
        callers=(CallerSpec(landline(5), hold=None),),
    )
    report = await rig.run(scenario)

    caller, seat = report.callers[0], the_seat_that_answered(report)
    assert caller.exit_code == 0, caller.errors
    assert [c.events for c in seat.calls] == [["ringing", "answered", "local-hangup"]]
    assert caller.calls[0].events == ["calling", "answered", "remote-hangup"]
    assert seat.rtp_received >= MIN_PACKETS and seat.rtp_sent >= MIN_PACKETS
    assert caller.rtp_received >= MIN_PACKETS and caller.rtp_sent >= MIN_PACKETS
    assert await eventually(lambda: _nothing_left(ari), within=5), "a channel or bridge was left"


async def test_a_busy_seat_is_passed_over_for_the_next_one(
    rig: Rig, ari: Ari, site: Site, registry: RedList
) -> None:
    busy, *others = seat_phones(site, "enterprise", hold=None)
    scenario = Scenario(
        "busy-seat",
        phones=(PhoneSpec(busy.name, busy.port, behaviour=Behaviour.BUSY), *others),
        callers=(CallerSpec(landline(7), hold=3.0),),
    )
    # make the busy phone the longest idle, so that it is rung first
    registry.redis.zadd(IDLE, {busy.name: -1}, xx=True)
    report = await rig.run(scenario)

    assert report.callers[0].exit_code == 0, report.render()
    assert [c.events for c in report.phone(busy.name).calls] == [["busy"]]
    assert sum(phone.answered for phone in report.phones) == 1
    assert await eventually(lambda: _nothing_left(ari), within=5), "a channel or bridge was left"


async def test_a_resolver_that_never_answers_does_not_slow_a_call(
    rig: Rig, stack: Stack, site: Site, registry: RedList
) -> None:
    """The PBX makes no DNS lookup of its own on a call: with its resolver silent (it takes
    queries and never answers: each lookup would hang 10 s), a call still reaches a seat in
    well under 2 s from the caller's INVITE."""
    root = stack.pbx.install.root
    if root is None:
        pytest.skip("a system Asterisk uses the machine's resolver; only a private root's is ours")
    resolv = root / "etc" / "resolv.conf"
    before = resolv.read_text()
    since = clock.now()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.53", 53))  # takes the queries, never answers
    try:
        resolv.write_text("nameserver 127.0.0.53\noptions timeout:5 attempts:2\n")
        report = await rig.run(
            Scenario(
                "silent-resolver",
                seat_phones(site, "enterprise", answer_after=0.2, hold=1.0),
                (CallerSpec(landline(4), hold=None),),
            )
        )
    finally:
        resolv.write_text(before)
        silent.close()
    caller = report.callers[0]
    assert caller.exit_code == 0 and caller.started_at is not None, report.render()
    offset = clock.read_offset(clock.clock_file(stack.paths.state))
    (leg,) = await ended_calls(registry, since, count=1)
    assert leg.answered_at is not None
    setup = leg.answered_at.timestamp() - offset - caller.started_at
    assert setup < 2.0, f"the call took {setup:.1f} s to reach a seat"
