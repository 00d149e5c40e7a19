"""Only the carrier and our own phones: a request that merely names the trunk or a seat is
refused before any dialplan, whatever address it comes from; an address that guesses
passwords is refused for a while, and the seat it guessed at goes on working."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys

import pytest
from redis.asyncio import Redis

from ari_app.client import Ari
from core import clock
from core.secrets import Secrets
from core.stores import redis_url
from guard.service import Bans
from hotline.stack import Stack
from hotline.tls import CERTIFICATE
from queues.seats import SeatPool
from redlist.service import RedList
from redlist.synthetic import landline
from rig.baresip import Baresip, RtpSizes, SoftphoneAccount
from rig.orchestrator import CallerSpec, Rig, Scenario
from rig.probe import Probe
from tests.conftest import eventually

pytestmark = pytest.mark.pbx

STRANGER = "127.0.0.7"
"""An address on this machine that is neither the trunk's (127.0.0.2) nor a phone's."""


async def test_a_stranger_naming_the_carrier_is_refused_and_no_channel_is_made(
    stack: Stack, ari: Ari
) -> None:
    probe = Probe(STRANGER, (stack.site.sip.bind, stack.site.sip.port))
    trunk = stack.site.trunks[0]
    before = {channel["id"] for channel in await ari.channels()}
    answer = await probe.invite(trunk.name, trunk.numbers[0])
    assert 400 <= answer.status < 500, answer
    assert {channel["id"] for channel in await ari.channels()} <= before


async def test_a_stranger_naming_a_seat_cannot_use_its_feature_codes(stack: Stack) -> None:
    redis = Redis.from_url(redis_url(stack.paths))
    seats = SeatPool(redis)
    probe = Probe(STRANGER, (stack.site.sip.bind, stack.site.sip.port))
    try:
        before = await seats.states(["1001", "1002"])
        pause = await probe.invite("1001", "*43")
        log_out = await probe.invite("1002", "*42")
        assert 400 <= pause.status < 500 and 400 <= log_out.status < 500, (pause, log_out)
        # from the phones' address but not the seat's own port: refused as well
        wrong_port = await Probe("127.0.0.1", probe.pbx).invite("1001", "*43")
        assert 400 <= wrong_port.status < 500, wrong_port
        assert await seats.states(["1001", "1002"]) == before
    finally:
        await redis.aclose()


GUESSER = "127.0.0.8"
REGISTERING_SEAT = "1009"
"""The example site's desk-phone seat: its phone registers with a password; in the tests'
site it is encrypted (TLS and SRTP)."""
SOFTPHONE_PORT = 5191
PLAIN_RTP = 12 + 160
"""A G.711 RTP packet of 20 ms: header and payload. SRTP adds a 10-byte tag."""


async def test_a_password_guesser_is_banned_and_the_seat_still_registers_and_answers(
    stack: Stack, ari: Ari, rig: Rig, registry: RedList
) -> None:
    """30 wrong passwords from one address: that address is refused even with the right
    one, while the seat's real phone (baresip over TLS, from its own address) registers
    and answers a hotline call, its audio SRTP on the wire."""
    pbx = (stack.site.sip.bind, stack.site.sip.port)
    password = Secrets.load_or_create(stack.paths.secrets_file).seat_password(
        REGISTERING_SEAT, stack.paths.secrets_file
    )
    redis = Redis.from_url(redis_url(stack.paths))
    seats, bans = SeatPool(redis), Bans(redis, ari)
    guesser = Probe(GUESSER, pbx)
    others = [seat.id for seat in stack.site.seats if seat.id != REGISTERING_SEAT]
    tls_port = stack.site.sip.tls_port
    assert tls_port is not None
    account = SoftphoneAccount(
        REGISTERING_SEAT,
        password,
        (stack.site.sip.bind, tls_port),
        tls_ca=stack.paths.state / "tls" / CERTIFICATE,
    )
    try:
        answers = [await guesser.register(REGISTERING_SEAT, f"guess{n}") for n in range(30)]
        assert {answer.status for answer in answers} <= {401, 403}, answers
        assert answers[0].status == 401

        async def refused_even_with_the_password() -> bool:
            answer = await guesser.register(REGISTERING_SEAT, password)
            assert answer.status != 200, "the guesser got in"
            return answer.status == 403

        assert await eventually(refused_even_with_the_password, within=10)
        [ban] = await bans.in_force()
        assert ban.address == GUESSER
        left = (ban.until - clock.now()).total_seconds()
        assert stack.site.sip.ban_seconds - 30 < left <= stack.site.sip.ban_seconds
        listed = _hotline(stack, "sip", "bans")
        assert listed.returncode == 0 and GUESSER in listed.stdout, listed

        for seat in others:
            await seats.pause(seat, "test: only the registering seat")
        await seats.resume(REGISTERING_SEAT)
        phone_dir = stack.paths.state / "baresip"
        listen = ("127.0.0.1", SOFTPHONE_PORT)
        async with Baresip(phone_dir, account, listen) as softphone:
            with RtpSizes(softphone.rtp_ports) as wire:
                caller = CallerSpec(landline(1), hold=4.0)  # a registered firm: no menu
                report = await rig.run(Scenario("guessed-seat", (), (caller,)))
        assert report.callers[0].calls[0].events[:2] == ["calling", "answered"], report.render()
        assert "SRTP is Enabled" in softphone.log(), softphone.log()[-2000:]
        # audio flowed both ways, every packet SRTP: G.711 with the 10-byte tag, none plain
        assert sum(wire.sizes.values()) > 100, wire.sizes
        assert set(wire.sizes) == {PLAIN_RTP + 10}, wire.sizes
        lifted = _hotline(stack, "sip", "lift", GUESSER)
        assert lifted.returncode == 0 and "may send SIP requests again" in lifted.stdout, lifted
        assert (await guesser.register(REGISTERING_SEAT, None)).status == 401  # in again
    finally:
        await bans.lift(GUESSER, "test")
        for seat in others:
            await seats.resume(seat)
        await redis.aclose()


async def test_the_carrier_has_no_route_out_through_the_pbx(stack: Stack) -> None:
    """From the trunk's own address, every number but the hotline's is refused, and the
    carrier's SBC (where department numbers would be dialled out) receives nothing."""
    trunk = stack.site.trunks[0]
    assert trunk.outbound_contact == "sip:127.0.0.1:5099"
    sbc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sbc.bind(("127.0.0.1", 5099))
    sbc.setblocking(False)
    probe = Probe(trunk.match[0], (stack.site.sip.bind, stack.site.sip.port))
    numbers = ["0011800555123", "008613900000000", "+8613900000000", "1001", "02161001001"]
    numbers += ["*43", "12345#", "9" * 30]
    try:
        for number in numbers:
            answer = await probe.invite("13900000000", number)
            assert 400 <= answer.status < 500, (number, answer)
        received = []
        with contextlib.suppress(BlockingIOError):
            while True:
                received.append(sbc.recv(65535))
        assert [r for r in received if r.startswith(b"INVITE")] == []
    finally:
        sbc.close()


def _hotline(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``hotline`` command line on the tests' installation."""
    command = [sys.executable, "-m", "hotline", "--site", str(stack.site_file), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
