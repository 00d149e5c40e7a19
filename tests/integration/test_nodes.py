"""One line on two real Asterisk nodes behind the real Kamailio: each node in its own part
of the installation (its Asterisk in the private root, its front door, monitor and app on
its own loopback address), both on the line's Redis and database. The carrier's calls are
spread over both nodes; the seats' phones are rung through the edge from either; a seat
talking on one node is not offered by the other; nobody reaches a node but the edge."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from cdr.models import CallLeg, QueueVisit, SeatAttempt
from core import clock
from core.keys import CALLBACKS_DUE, callback_card
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site, browser_account, load_site
from core.stores import async_redis, redis_url
from hotline import services
from hotline.edge import NodeState
from hotline.kamailio_config import lost_call_hung_up_within
from hotline.line import Line, on_nodes
from hotline.redis_server import SentinelSet
from hotline.tls import CERTIFICATE
from queues.line import WaitingLine
from queues.seats import RESTING, SeatPool
from redlist.service import RedList
from redlist.synthetic import csv_bytes, landline, rows
from rig.baresip import Baresip, RtpSizes, SoftphoneAccount
from rig.browser import CONSOLE_AUDIO_IN, chromium
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, RigReport, Scenario
from rig.probe import Probe
from tests.conftest import (
    CARRIER_SBC,
    OPEN_MOMENT,
    TLS_PORT,
    ended_calls,
    eventually,
    on_sentinels,
    run_hotline,
    seat_phones,
)

pytestmark = pytest.mark.pbx

EDGE = ("127.0.0.1", 15060)
EDGE_TLS = ("127.0.0.1", 15061)
"""Where the edge takes SIP over TLS (the encrypted seat's phone)."""
EDGE_WSS = ("127.0.0.1", 15062)
"""Where the edge takes SIP over secure WebSocket (the seat consoles' browser phones)."""
LINE_WEB_PORT = 8180
"""The line's web app (the seats' consoles), beside the session's one-PBX installation's."""
BROWSER_SEAT = "1001"
CARRIER = "127.0.0.4"  # this line's carrier SBC, apart from the session rig's
NODES = {"pbx-a": "127.0.0.11", "pbx-b": "127.0.0.12"}
NODE_SERVICES = ("agi", "app", "monitor")
"""The processes of a node beside its Asterisk (one app process each in this line)."""
TWO = ("1001", "1002")
REGISTERING = "1009"
"""The seat whose phone registers with the edge: encrypted (TLS to the edge, SRTP audio)."""
PLAIN_RTP = 12 + 160
"""A G.711 RTP packet of 20 ms: header and payload. SRTP adds a 10-byte tag."""
SOFTPHONE = ("127.0.0.21", 5095)
GUESSER = "127.0.0.6"
"""The seats left unpaused when a test needs few."""


@pytest.fixture(scope="module")
def line(site_file: Path, paths: Paths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    """The test site (short rings and wrap-ups) as a line of two nodes behind an edge, in an
    installation of its own that shares the session's PBX root."""
    text = site_file.read_text(encoding="utf-8")
    assert 'match = ["127.0.0.2"]' in text
    text = text.replace('match = ["127.0.0.2"]', f'match = ["{CARRIER}"]')
    text = on_nodes(text, len(NODES), EDGE)  # 1009 encrypted: TLS moves to the edge
    assert f"tls_port = {TLS_PORT}" in text
    text = text.replace(f"tls_port = {TLS_PORT}", f"tls_port = {EDGE_TLS[1]}")
    assert "wss_port = 8089" in text and "web_port = 8080" in text
    text = text.replace("wss_port = 8089", f"wss_port = {EDGE_WSS[1]}")
    text = text.replace("web_port = 8080", f"web_port = {LINE_WEB_PORT}")
    root = tmp_path_factory.mktemp("line")
    (root / "site.toml").write_text(text, encoding="utf-8")
    line_paths = Paths(root / "state", paths.cache)
    line_paths.ensure()
    clock.set_installation_time(datetime.fromisoformat(OPEN_MOMENT), line_paths.state)
    running = Line(load_site(root / "site.toml"), root / "site.toml", line_paths)
    for stack in running.nodes.values():
        stack.app_processes = 1
    try:
        running.up()
        yield running
    finally:
        running.down()
    for stack in running.nodes.values():
        assert stack.pbx.pid() is None, f"Asterisk of {stack.paths.node} still runs"


@pytest.fixture(scope="module")
def companies(line: Line) -> Iterator[RedList]:
    """The sample registry on the line: landlines 02150000000-09 are known companies."""
    red_list = RedList.for_installation(line.site, line.paths)
    red_list.import_csv(csv_bytes(list(rows(10, red_every=2))), actor="test")
    yield red_list
    red_list.close()


@pytest.fixture
def carrier(line: Line, tmp_path: Path) -> Rig:
    """The carrier's SBC sending calls to the edge, and the seats' phones it rings."""
    return Rig(tmp_path / "rig", pbx=EDGE, caller_ip=CARRIER, proxied=True)


async def both_nodes_up(line: Line) -> bool:
    async def up() -> bool:
        listed = await asyncio.to_thread(line.edge.nodes)
        return {status.name: status.state for status in listed} == dict.fromkeys(
            NODES, NodeState.UP
        )

    return await eventually(up, within=15, every=0.2)


def line_now(line: Line) -> datetime:
    """The moment on the line's clock (its installation's, not the session's)."""
    offset = clock.read_offset(clock.clock_file(line.paths.state))
    return clock.moment(time.time() + offset)


def node_of_channel(channel: str) -> str:
    """The node a channel is on: its id begins with the node's name."""
    return channel.rsplit("-", 1)[0]


def node_of(leg: CallLeg) -> str:
    """The node a call came in on."""
    return node_of_channel(leg.caller_channel)


async def test_calls_are_spread_over_both_nodes_and_a_seat_talks_on_one_at_a_time(
    line: Line, companies: RedList, carrier: Rig
) -> None:
    site: Site = line.site
    assert await both_nodes_up(line), "the edge did not see both nodes answer its probes"
    since = line_now(line)
    # more callers than seats: most wait, and each seat is freed on one node or the other
    callers = tuple(CallerSpec(landline(i % 10), at=i * 0.25, hold=None) for i in range(20))
    seats = seat_phones(site, "enterprise", answer_after=0.3, hold=1.5)
    report = await carrier.run(Scenario("two-nodes", seats, callers), within=120)
    assert all(c.exit_code == 0 for c in report.callers), report.render()
    legs = await ended_calls(companies, since, count=20, within=30)
    assert len(legs) == 20
    assert Counter(node_of(leg) for leg in legs) == {"pbx-a": 10, "pbx-b": 10}
    assert all(leg.node == node_of(leg) for leg in legs), "each call's record names its node"
    assert all(leg.seat_id and leg.answered_at for leg in legs), "every caller reached a seat"

    for seat in seats:
        assert not rung_while_in_a_call(carrier, seat.name), f"seat {seat.name} rang twice at once"
    with companies.sessions() as session:
        answered = session.execute(
            select(SeatAttempt.seat_id, SeatAttempt.caller_channel).where(
                SeatAttempt.outcome == "answered", SeatAttempt.rung_at >= since
            )
        ).all()
    nodes_per_seat: dict[str, set[str]] = {}
    for seat_id, channel in answered:
        nodes_per_seat.setdefault(seat_id, set()).add(node_of_channel(channel))
    assert any(len(nodes) == 2 for nodes in nodes_per_seat.values()), nodes_per_seat


@contextlib.asynccontextmanager
async def desk_phones(
    carrier: Rig, phones: tuple[PhoneSpec, ...], within: float
) -> AsyncIterator[Rig]:
    """The seats' desk phones answering through the edge for the block, hung up after it
    (their rig's logs stay, to be read)."""
    desks = Rig(carrier.workdir / "desks", pbx=EDGE, first_port=34000, proxied=True)
    done = asyncio.Event()

    async def finished() -> bool:
        return done.is_set()

    scenario = Scenario("desks", phones, ())
    ringing = asyncio.create_task(desks.run(scenario, until=finished, within=within))
    try:
        yield desks
    finally:
        done.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ringing, 30)
        await desks.kill_all()


def from_carrier(carrier: Rig, name: str, first_port: int) -> Rig:
    """Calls of the carrier's SBC to the edge, from a rig of their own."""
    return Rig(carrier.workdir / name, pbx=EDGE, caller_ip=CARRIER, first_port=first_port,
               proxied=True)  # fmt: skip


def rung_while_in_a_call(rig: Rig, phone: str) -> bool:
    """Whether a rig phone's log shows a call ringing it while another was still on (its
    events are written in the order they happened)."""
    (log,) = rig.workdir.glob(f"*/*-{phone}.log")
    on: set[str] = set()
    for line in log.read_text().splitlines():
        event, _, call = line.rpartition(" ")
        if event == "ringing":
            if on:
                return True
            on.add(call)
        elif not event.startswith(("invited", "answered")):
            on.discard(call)
    return False


@pytest.fixture
async def sentinels(
    line: Line, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SentinelSet]:
    """The line's processes on both nodes moved onto a Redis Sentinel set for the test,
    and back onto the line's Redis afterwards."""
    nodes = list(line.nodes.values())
    async with on_sentinels(tmp_path / "sentinel", monkeypatch, nodes) as redis_set:
        yield redis_set


async def test_the_redis_primary_killed_under_both_nodes_every_caller_reaches_a_seat(
    line: Line, companies: RedList, carrier: Rig, sentinels: SentinelSet
) -> None:
    """A seat talking and a caller waiting on each node when the Redis primary is
    SIGKILLed: the sentinels promote the replica and every process of both nodes follows;
    meanwhile each node's Asterisk queue (the fallback) serves its waiting caller, and is
    answered busy by the edge for the seat talking on the other node (that queue sees only
    its own node's calls); every caller reaches a seat, no phone rings while in a call."""
    site = line.site
    redis = async_redis(line.paths)  # the sentinels' primary, whichever it is
    seats, waiting_line = SeatPool(redis), WaitingLine(redis, "enterprise", 0)
    for seat in (seat.id for seat in site.seats_of("enterprise") if seat.id not in TWO):
        await seats.pause(seat, "test: two seats")  # (in the sentinels' Redis, gone after)
    phones = tuple(
        p for p in seat_phones(site, "enterprise", answer_after=0.3, hold=8.0) if p.name in TWO
    )
    since = line_now(line)
    calls: list[asyncio.Task[RigReport]] = []

    def call(number: str) -> None:
        rig = from_carrier(carrier, number, 35000 + 1000 * len(calls))
        scenario = Scenario(number, (), (CallerSpec(number, hold=None),))
        calls.append(asyncio.create_task(rig.run(scenario, within=90)))

    async def on(node: str, *numbers: str, busy: int, waiting: int) -> None:
        """Calls to ``node`` alone (the edge steered by draining the other), until the
        line has ``busy`` seats talking and ``waiting`` callers waiting."""
        other = next(name for name in NODES if name != node)
        line.edge.drain(other)
        for number in numbers:
            call(number)

        async def seated() -> bool:
            talking = len(await seats.busy())
            return talking == busy and len(await waiting_line.callers()) == waiting

        assert await eventually(seated, within=10), (node, numbers)
        line.edge.undrain(other)

    try:
        async with desk_phones(carrier, phones, within=120) as desks:
            # one caller talking and one waiting on each node
            await on("pbx-a", landline(1), busy=1, waiting=0)
            await on("pbx-b", landline(3), landline(5), busy=2, waiting=1)
            await on("pbx-a", landline(7), busy=2, waiting=2)
            sentinels.kill("primary")
            reports = [await asyncio.wait_for(task, 90) for task in calls]
    finally:
        await redis.aclose()
    assert await both_nodes_up(line)
    for report in reports:
        assert all(c.exit_code == 0 for c in report.callers), report.render()
    assert sentinels.primary() == sentinels.replica_port, "the replica was promoted"
    legs = await ended_calls(companies, since, count=4, within=30)
    assert {node_of(leg) for leg in legs} == {"pbx-a", "pbx-b"}, "calls on both nodes"
    assert all(leg.seat_id in TWO and leg.answered_at for leg in legs), legs
    for seat in TWO:
        assert not rung_while_in_a_call(desks, seat), f"seat {seat} rang while in a call"
    for stack in line.nodes.values():  # every process of both nodes found the new primary
        connected = functools.partial(asyncio.to_thread, stack.app_connected)
        assert await eventually(connected, within=15), stack.paths.node


async def test_a_nodes_own_queue_does_not_ring_a_seat_talking_on_the_other_node(
    line: Line, companies: RedList, carrier: Rig
) -> None:
    """Node A's app gone, so A's Asterisk queues its callers itself (the fallback), with
    the one seat left talking on node B: A's queue sees only A's calls, so it would ring
    that seat's phone in the middle of its call; the edge answers it busy instead, and the
    caller gets the seat when its call on B ends."""
    redis = Redis.from_url(redis_url(line.paths))
    seats = SeatPool(redis)
    seat = "1002"
    others = [s.id for s in line.site.seats_of("enterprise") if s.id != seat]
    for other in others:
        await seats.pause(other, "test: one seat")
    phones = tuple(
        p for p in seat_phones(line.site, "enterprise", answer_after=0.3, hold=6.0)
        if p.name == seat
    )  # fmt: skip
    node_a, since = line.nodes["pbx-a"], line_now(line)
    calls: list[RigReport] = []

    async def call(number: str, first_port: int) -> None:
        rig = from_carrier(carrier, number, first_port)
        scenario = Scenario(number, (), (CallerSpec(number, hold=None),))
        calls.append(await rig.run(scenario, within=60))

    async def talking_on_b() -> bool:
        return seat in await seats.busy()

    try:
        async with desk_phones(carrier, phones, within=90) as desks:
            line.edge.drain("pbx-a")
            talking = asyncio.create_task(call(landline(1), 35000))  # on B, with the seat
            assert await eventually(talking_on_b, within=10)
            await asyncio.to_thread(node_a.stop_app)
            line.edge.undrain("pbx-a")
            line.edge.drain("pbx-b")
            await call(landline(3), 36000)  # on A, whose Asterisk queues it itself
            await talking
    finally:
        line.edge.undrain("pbx-b")
        for other in others:
            await seats.resume(other)
        await redis.aclose()
        await asyncio.to_thread(node_a.start_app)
    assert all(c.exit_code == 0 for report in calls for c in report.callers), calls
    assert not rung_while_in_a_call(desks, seat), "the seat's phone rang in the middle of a call"
    first, second = await ended_calls(companies, since, count=2, within=30)
    assert (node_of(first), node_of(second)) == ("pbx-b", "pbx-a")
    assert second.seat_id == seat and second.answered_at and first.answered_at
    waited = (second.answered_at - second.entered_at).total_seconds()
    assert waited > 3.0, f"answered after {waited:.1f} s: the seat's call on B had not ended"
    with companies.sessions() as session:
        served_by = session.execute(
            select(QueueVisit.served_by).where(QueueVisit.caller_channel == second.caller_channel)
        ).scalars()
        assert list(served_by) != [None], "put through by A's Asterisk queue"
    edge_log = line.edge.log_file.read_text(errors="replace")
    assert f"phone {seat} is in a call: busy to the queue of node" in edge_log


@pytest.mark.parametrize("gone", ["asterisk", "machine"])
async def test_a_node_that_dies_costs_no_caller_their_place(
    line: Line, companies: RedList, carrier: Rig, gone: str
) -> None:
    """Node A's Asterisk SIGKILLed (alone, or with every process of the node: its machine
    gone) under two talking and three waiting callers: the edge hangs up the carrier's side
    of their calls (its checks find A gone); new calls are answered by node B at once; the
    talking two are called back first, with their seats, the waiting three in their order,
    from node B; nothing is left held in Redis."""
    site = line.site
    redis = Redis.from_url(redis_url(line.paths))
    seats, waiting_line = SeatPool(redis), WaitingLine(redis, "enterprise", 0)
    assert await both_nodes_up(line)
    line.edge.drain("pbx-b")  # the five go to A
    others = [seat.id for seat in site.seats_of("enterprise") if seat.id not in TWO]
    for seat in others:
        await seats.pause(seat, "test: two seats")
    # the waiting three are plain firms (odd): their order is their arrival's, no head start
    talking, waiting = (landline(3), landline(4)), (landline(5), landline(7), landline(9))
    phones = tuple(p for p in seat_phones(site, "enterprise", answer_after=0.3) if p.name in TWO)
    since = line_now(line)

    def called_back() -> list[CallLeg]:
        with companies.sessions() as session:
            legs = list(
                session.execute(
                    select(CallLeg)
                    .where(CallLeg.callback_request.is_not(None), CallLeg.entered_at >= since)
                    .order_by(CallLeg.entered_at)
                ).scalars()
            )
            session.expunge_all()
        return legs

    async def all_five_talked() -> bool:
        legs = called_back()
        return len(legs) == 5 and all(leg.ended_at for leg in legs)

    async def two_and_three() -> bool:
        return len(await seats.busy()) == 2 and len(await waiting_line.callers()) == 3

    # the seats' desk phones, and the companies' behind the carrier's SBC, live through it all
    sbc = PhoneSpec("carrier-sbc", CARRIER_SBC, answer_after=0.3, hold=1.0, tone=660)
    desks = Rig(carrier.workdir / "desks", pbx=EDGE, first_port=34000, proxied=True)
    ringing = asyncio.create_task(
        desks.run(Scenario("desks", (*phones, sbc), ()), until=all_five_talked, within=150)
    )
    callers = tuple(CallerSpec(n, at=i * 1.0, hold=None) for i, n in enumerate(talking + waiting))
    cut = asyncio.create_task(carrier.run(Scenario("cut-off", (), callers), within=120))
    try:
        assert await eventually(two_and_three, within=20), "two talking, three waiting: never"
        line.edge.undrain("pbx-b")
        assert await both_nodes_up(line)
        node_a = line.nodes["pbx-a"]
        pids = [node_a.pbx.pid()]
        if gone == "machine":  # its front door, app and monitor go with it
            pids += [services.running_pid(node_a.paths, name) for name in NODE_SERVICES]
        assert None not in pids, pids
        for pid in pids:
            os.kill(pid or 0, signal.SIGKILL)
        killed = time.time()
        if gone == "machine":  # the edge hangs up the carrier's side (below, the other case)
            await carrier.kill_all()
        # two companies call just after the kill (and hang up when answered): node B
        # answers them, whether the edge has marked A down yet or not
        arriving = tuple(
            CallerSpec(landline(n), at=0.3 * i, hold=0.0) for i, n in enumerate((6, 8))
        )
        fresh = from_carrier(carrier, "arriving", 33000)
        new_calls = await fresh.run(Scenario("arriving", (), arriving), within=30)
        assert all(c.exit_code == 0 for c in new_calls.callers), new_calls.render()
        offset = clock.read_offset(clock.clock_file(line.paths.state))
        with companies.sessions() as session:
            entered = session.execute(
                select(CallLeg.caller_number, CallLeg.caller_channel, CallLeg.entered_at).where(
                    CallLeg.caller_number.in_([c.number for c in arriving]),
                    CallLeg.entered_at >= since,
                )
            ).all()
        assert {node_of_channel(channel) for _, channel, _ in entered} == {"pbx-b"}, entered
        dialled = {c.name.split("#")[0]: c.started_at or killed for c in new_calls.callers}
        for number, _, at in entered:
            late = at.timestamp() - offset - max(killed, dialled[number])
            assert late <= 2.0, f"{number} was answered {late:.1f} s after the kill"

        report = await ringing
        assert await all_five_talked(), report.render()
        invited = [call.invited[0] for call in report.phone("carrier-sbc").calls if call.invited]
        assert sorted(invited[:2]) == sorted(talking), invited
        legs = called_back()
        assert {leg.node for leg in legs} == {"pbx-b"}, "called back from the live node"
        # the waiting three in their order: the line offers a seat to the first one first
        # (when two seats free together, which company's phone rings first is their race)
        with companies.sessions() as session:
            first_rung = {
                leg.caller_number: session.execute(
                    select(func.min(SeatAttempt.rung_at)).where(
                        SeatAttempt.caller_channel == leg.caller_channel
                    )
                ).scalar_one()
                for leg in legs
            }
        assert sorted(waiting, key=first_rung.__getitem__) == list(waiting), first_rung
        with companies.sessions() as session:
            cut_off = {
                leg.caller_number: leg
                for leg in session.execute(
                    select(CallLeg).where(
                        CallLeg.outcome == "pbx-lost", CallLeg.entered_at >= since
                    )
                ).scalars()
            }
            session.expunge_all()
        assert sorted(cut_off) == sorted(talking + waiting)
        assert {node_of(leg) for leg in cut_off.values()} == {"pbx-a"}
        by_number = {leg.caller_number: leg for leg in legs}
        for number in talking:  # the seat it was talking to
            assert by_number[number].seat_id == cut_off[number].seat_id, number

        with companies.sessions() as session:
            calls = session.execute(
                select(CallLeg.caller_channel).where(CallLeg.entered_at >= since)
            ).scalars()
            cards = [callback_card(channel) for channel in calls]

        async def nothing_held() -> bool:
            busy = await seats.busy()
            return (
                not busy
                and not await waiting_line.callers()
                and not await redis.zcard(CALLBACKS_DUE)
                and not await redis.exists(*cards)  # the lost calls' cards were used up
            )

        assert await eventually(nothing_held, within=15), "something is still held in Redis"
        if gone == "asterisk":
            # the edge's checks find node A gone from the calls it had, and hang up the
            # carrier's side of each: no company is left in silence, its line busy
            assert line.site.edge is not None
            lost = await cut
            hung_up = time.time() - killed
            assert all(c.exit_code == 0 for c in lost.callers), lost.render()
            bound = lost_call_hung_up_within(line.site.edge)  # 71 s
            assert hung_up <= bound + 2, f"hung up {hung_up:.0f} s after the kill"
    finally:
        cut.cancel()
        await carrier.kill_all()
        await desks.kill_all()
        for seat in others:
            await seats.resume(seat)
        await redis.aclose()
        node_a = line.nodes["pbx-a"]
        await asyncio.to_thread(node_a.pbx.up)  # back for the next test
        await asyncio.to_thread(node_a.start_front_door)
        node_a.start_monitor()
        if services.running_pid(node_a.paths, "app") is None:
            await asyncio.to_thread(node_a.start_app, 1)
        assert await eventually(lambda: asyncio.to_thread(node_a.app_connected), within=20)


def hotline(line: Line, *argv: str) -> str:
    """A ``hotline`` command on the line's installation, as an admin types it; its output."""
    return run_hotline(line.site_file, line.paths, *argv)


async def test_a_node_drained_restarted_and_undrained_drops_no_call(
    line: Line, companies: RedList, carrier: Rig
) -> None:
    """The planned restart: ``hotline nodes drain pbx-a`` with calls on it; no new call
    reaches A while its calls go on to their normal end; A restarted while a caller waits
    on B; ``undrain``: calls reach A again. Every caller talks to a seat and every call
    ends as it should."""
    assert await both_nodes_up(line)
    seats = seat_phones(line.site, "enterprise", answer_after=0.3, hold=2.0)
    since = line_now(line)
    batches: list[tuple[str, ...]] = []

    async def calls(name: str, numbers: tuple[int, ...], first_port: int) -> None:
        batch = tuple(CallerSpec(landline(n), at=0.3 * i, hold=None) for i, n in enumerate(numbers))
        report = await from_carrier(carrier, name, first_port).run(
            Scenario(name, (), batch), within=90
        )
        assert all(c.exit_code == 0 for c in report.callers), report.render()
        batches.append(tuple(landline(n) for n in numbers))

    async def every_call_ended() -> bool:
        legs = await ended_calls(companies, since, count=sum(map(len, batches)), within=30)
        return len(legs) == sum(map(len, batches))

    redis = Redis.from_url(redis_url(line.paths))
    try:
        async with desk_phones(carrier, seats, within=240):
            before = asyncio.create_task(calls("before", (1, 3, 5, 7), 35000))

            async def four_talking() -> bool:
                return len(await SeatPool(redis).busy()) >= 4

            assert await eventually(four_talking, within=20)
            await asyncio.to_thread(hotline, line, "nodes", "drain", "pbx-a")

            async def listed_with_its_two_calls() -> bool:
                listed = await asyncio.to_thread(hotline, line, "nodes")
                return [row.split()[:2] + row.split()[3:] for row in listed.splitlines()[:2]] == [
                    ["pbx-a", "drained", "2", "calls"],
                    ["pbx-b", "up", "2", "calls"],
                ]

            assert await eventually(listed_with_its_two_calls, within=5, every=0.5)
            await calls("drained", (0, 2, 4, 6), 36000)  # while A's calls go on
            await before
            assert await every_call_ended()

            # a caller waits on B while A restarts (every seat busy: paused here); A's app,
            # taking over what it did not see end, judges A's calls, not B's (it closed B's
            # open calls as ended unobserved in the first long run)
            pool, enterprise = SeatPool(redis), [s.id for s in line.site.seats_of("enterprise")]
            for seat in enterprise:
                await pool.pause(seat, "test: a caller waits while A restarts")
            try:
                across = asyncio.create_task(calls("across", (5,), 38000))

                async def one_waiting() -> bool:
                    return len(await WaitingLine(redis, "enterprise", 0).callers()) == 1

                assert await eventually(one_waiting, within=10)
                node_a = line.nodes["pbx-a"]
                await asyncio.to_thread(node_a.pbx.down)
                await asyncio.to_thread(node_a.pbx.up)
                assert await eventually(lambda: asyncio.to_thread(node_a.app_connected), within=20)
            finally:
                for seat in enterprise:
                    await pool.resume(seat)
            await across
            await asyncio.to_thread(hotline, line, "nodes", "undrain", "pbx-a")
            assert await both_nodes_up(line)
            await calls("undrained", (8, 9, 1, 3), 37000)
            assert await every_call_ended()
    finally:
        await redis.aclose()
    legs = await ended_calls(companies, since, count=13)
    node = {leg.caller_number + leg.entered_at.isoformat(): node_of(leg) for leg in legs}
    assert len(legs) == 13
    by_batch = [legs[:4], legs[4:8], legs[8:9], legs[9:]]
    assert Counter(node_of(leg) for leg in by_batch[0]) == {"pbx-a": 2, "pbx-b": 2}, node
    assert {node_of(leg) for leg in by_batch[1] + by_batch[2]} == {"pbx-b"}, "none to A drained"
    assert "pbx-a" in {node_of(leg) for leg in by_batch[3]}, "A takes calls again"
    assert all(leg.seat_id and leg.outcome == "seat-hangup" for leg in legs), [
        (leg.caller_number, leg.outcome) for leg in legs
    ]


async def test_nobody_but_the_edge_reaches_a_node(line: Line, tmp_path: Path) -> None:
    """A stranger's INVITE straight to a node's Asterisk is refused, and so is the
    carrier's own when it goes round the edge."""
    stranger = CallerSpec(landline(1), hold=None, source="127.0.0.5")
    carrier_itself = CallerSpec(landline(2), hold=None)
    for name, address in NODES.items():
        rig = Rig(tmp_path / name, pbx=(address, 5060), caller_ip=CARRIER)
        report = await rig.run(Scenario(f"round-{name}", (), (stranger, carrier_itself)))
        for caller in report.callers:  # the rig's caller stops at the refusal it did not expect
            assert caller.calls[0].events == ["calling"], report.render()
            assert "received 'SIP/2.0 403 Forbidden" in caller.errors, caller.errors


async def test_a_seat_keys_its_codes_on_its_phone_through_the_edge(
    line: Line, carrier: Rig
) -> None:
    """Seat 1003's desk phone (a fixed contact) pauses and resumes with its feature codes:
    the edge knows it by its address and port and names it to a node; the same codes from
    another port of that address are refused."""
    port = next(p.port for p in seat_phones(line.site) if p.name == "1003")
    redis = Redis.from_url(redis_url(line.paths))

    async def key(code: str, source_port: int = port) -> list[str]:
        phone = CallerSpec("1003", dial=code, hold=None, source="127.0.0.1",
                           source_port=source_port)  # fmt: skip
        rig = Rig(carrier.workdir / f"code{code[1:]}-{source_port}", pbx=EDGE, proxied=True)
        report = await rig.run(Scenario(f"code-{code}", (), (phone,)), within=20)
        return report.callers[0].calls[0].events

    try:
        assert await key("*43") == ["calling", "answered", "remote-hangup"]
        states = await SeatPool(redis).states(["1003"])
        assert states["1003"] == {"state": "paused", "reason": "phone"}, states
        assert await key("*44", source_port=port + 100) == ["calling"], "not the phone's port"
        assert await key("*44") == ["calling", "answered", "remote-hangup"]
        assert (await SeatPool(redis).states(["1003"]))["1003"] == {"state": "available"}
    finally:
        await SeatPool(redis).resume("1003")
        await redis.aclose()


@contextlib.asynccontextmanager
async def only_seat(line: Line, seat_id: str) -> AsyncIterator[SeatPool]:
    """Every other enterprise seat paused and ``seat_id`` free (rung by earlier tests while
    its phone was away: paused or resting since); every seat taking calls again after."""
    redis = Redis.from_url(redis_url(line.paths))
    seats = SeatPool(redis)
    others = [seat.id for seat in line.site.seats_of("enterprise") if seat.id != seat_id]
    try:
        for seat in others:
            await seats.pause(seat, f"test: only seat {seat_id}")
        await redis.zrem(RESTING, seat_id)
        await seats.resume(seat_id)
        yield seats
    finally:
        for seat in others:
            await seats.resume(seat)
        await redis.aclose()


def edge_certificate(line: Line) -> Path:
    """The certificate the edge made for itself (its phones trust it)."""
    return line.paths.state / "edge-tls" / CERTIFICATE


async def test_a_phone_registers_with_the_edge_and_is_rung_from_either_node(
    line: Line, companies: RedList, carrier: Rig
) -> None:
    """Seat 1009's real softphone (baresip) registers with Kamailio over TLS, with the
    password the installation generated for it, and answers calls from both nodes, its
    audio SRTP on the wire; the same account over UDP is refused even with its password;
    an address guessing passwords at the edge is banned there (403 even with the right
    password)."""
    path = line.paths.secrets_file
    password = Secrets.load_or_create(path).seat_password(REGISTERING, path)
    guesser = Probe(GUESSER, EDGE)
    answers = [await guesser.register(REGISTERING, f"guess{n}") for n in range(30)]
    assert answers[0].status == 401 and answers[-1].status == 403, answers
    assert (await guesser.register(REGISTERING, password)).status == 403, "banned: even so"
    in_clear = await Probe(SOFTPHONE[0], EDGE).register(REGISTERING, password)
    assert in_clear.status == 403, "an encrypted seat registers over TLS only"

    since = line_now(line)
    async with only_seat(line, REGISTERING):
        account = SoftphoneAccount(REGISTERING, password, EDGE_TLS, edge_certificate(line))
        async with Baresip(carrier.workdir / "baresip", account, SOFTPHONE) as softphone:
            assert await both_nodes_up(line)
            listed = await asyncio.to_thread(hotline, line, "nodes")
            assert f"phones registered with the edge: 1 ({REGISTERING})" in listed, listed
            callers = tuple(
                CallerSpec(landline(n), at=4.0 * i, hold=2.0) for i, n in enumerate((1, 3))
            )
            with RtpSizes(softphone.rtp_ports) as wire:
                report = await carrier.run(Scenario("registered", (), callers), within=60)
        assert all(c.calls[0].events[:2] == ["calling", "answered"] for c in report.callers)
        assert "SRTP is Enabled" in softphone.log(), softphone.log()[-2000:]
        # audio flowed, every packet SRTP: G.711 with the 10-byte tag, none plain
        assert sum(wire.sizes.values()) > 100 and set(wire.sizes) == {PLAIN_RTP + 10}, wire.sizes
    legs = await ended_calls(companies, since, count=2)
    assert [leg.seat_id for leg in legs] == [REGISTERING] * 2, [leg.seat_id for leg in legs]
    assert {node_of(leg) for leg in legs} == {"pbx-a", "pbx-b"}, "rung from either node"


async def test_a_registering_phone_keys_its_codes_with_its_own_password(line: Line) -> None:
    """Seat 1009's phone (it registers; encrypted) dials its feature codes through the edge
    over TLS, which asks for its account's password; a wrong one, another account's number
    in From, or the right one over UDP is not put through."""
    path = line.paths.secrets_file
    password = Secrets.load_or_create(path).seat_password(REGISTERING, path)
    phone = Probe(SOFTPHONE[0], EDGE_TLS, tls_ca=edge_certificate(line))
    redis = Redis.from_url(redis_url(line.paths))
    seats = SeatPool(redis)
    try:
        in_clear = await Probe(SOFTPHONE[0], EDGE).invite(REGISTERING, "*43", password)
        assert in_clear.status == 403, "an encrypted seat's phone calls over TLS only"
        assert (await phone.invite(REGISTERING, "*43", "wrong")).status == 407
        assert (await phone.invite("1001", "*43", password)).status in (403, 407)
        assert (await seats.states([REGISTERING]))[REGISTERING] == {"state": "available"}
        assert (await phone.invite(REGISTERING, "*43", password)).status == 200
        paused = await seats.states([REGISTERING])
        assert paused[REGISTERING] == {"state": "paused", "reason": "phone"}, paused
        assert (await phone.invite(REGISTERING, "*44", password)).status == 200
        assert (await seats.states([REGISTERING]))[REGISTERING] == {"state": "available"}
    finally:
        await seats.resume(REGISTERING)
        await redis.aclose()


async def test_a_browser_phone_registers_at_the_edge_over_wss_and_is_rung_from_either_node(
    line: Line, companies: RedList, carrier: Rig
) -> None:
    """A seat with nothing but a browser (headless Chromium, a generated microphone): its
    console's phone registers with Kamailio over secure WebSocket, is rung by both nodes,
    and talks each time (the page's WebRTC counts audio in; the caller's phone receives
    RTP); its account over UDP is refused even with its password."""
    assert line.site.sip.webrtc_address, "no address but loopback for WebRTC: rig/network.py"
    path = line.paths.secrets_file
    secrets = Secrets.load_or_create(path)
    account = browser_account(BROWSER_SEAT)
    in_clear = await Probe(SOFTPHONE[0], EDGE).register(
        account, secrets.seat_password(account, path)
    )
    assert in_clear.status == 403, "a browser phone registers over WSS only"
    web = await asyncio.to_thread(line.start_web)
    since = line_now(line)
    console = f"{web}/console/{BROWSER_SEAT}#token={secrets.console_token(BROWSER_SEAT)}"
    async with only_seat(line, BROWSER_SEAT), chromium(console, webrtc=True) as page:
        await page.wait_for("window.phone && window.phone.loaded")
        await page.click("#phone-on")
        await page.wait_for("window.phone.state === 'ready'")
        assert await both_nodes_up(line)
        listed = await asyncio.to_thread(hotline, line, "nodes")
        assert account in listed, listed
        for n in (1, 3):
            caller = CallerSpec(landline(n), hold=None)
            scenario = Scenario(f"browser-{n}", (), (caller,))
            playing = asyncio.create_task(carrier.run(scenario, within=60))
            await page.wait_for("window.phone.state === 'ringing'")
            await page.click("#phone-answer")
            await page.wait_for("window.phone.state === 'talking'")
            heard = f"({CONSOLE_AUDIO_IN}).then(n => n > 50 && n)"
            assert await page.wait_for(heard, within=10)
            await page.click("#phone-hangup")
            await page.wait_for("window.phone.state === 'ready'")
            report = await playing
            assert report.callers[0].rtp_received > 50, report.render()
        await page.click("#phone-off")
        await page.wait_for("window.phone.state === 'desk'")
    legs = await ended_calls(companies, since, count=2)
    assert [leg.seat_id for leg in legs] == [BROWSER_SEAT] * 2, [leg.seat_id for leg in legs]
    assert {node_of(leg) for leg in legs} == {"pbx-a", "pbx-b"}, "rung from either node"
