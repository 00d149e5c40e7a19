"""One line on two real Asterisk nodes behind the real Kamailio: each node in its own part
of the installation (its Asterisk in the private root, its front door, monitor and app on
its own loopback address), both on the line's Redis and database. The carrier's calls are
spread over both nodes; the seats' phones are rung through the edge from either; a seat
talking on one node is not offered by the other; nobody reaches a node but the edge."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cdr.models import CallLeg, SeatAttempt
from core import clock
from core.paths import Paths
from core.site import Site, load_site
from hotline.edge import NodeState
from hotline.line import Line
from redlist.service import RedList
from redlist.synthetic import csv_bytes, landline, rows
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import OPEN_MOMENT, behind_an_edge, ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

EDGE = ("127.0.0.1", 15060)
CARRIER = "127.0.0.4"  # this line's carrier SBC, apart from the session rig's
NODES = {"pbx-a": "127.0.0.11", "pbx-b": "127.0.0.12"}


@pytest.fixture(scope="module")
def line(site_file: Path, paths: Paths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    """The test site (short rings and wrap-ups) as a line of two nodes behind an edge, in an
    installation of its own that shares the session's PBX root."""
    text = site_file.read_text(encoding="utf-8")
    assert 'match = ["127.0.0.2"]' in text
    text = text.replace('match = ["127.0.0.2"]', f'match = ["{CARRIER}"]')
    text = behind_an_edge(text, f"{EDGE[0]}:{EDGE[1]}", NODES)
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


def node_of(leg: CallLeg) -> str:
    """The node a call came in on: its channel's id begins with the node's name."""
    return leg.caller_channel.rsplit("-", 1)[0]


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
        nodes_per_seat.setdefault(seat_id, set()).add(channel.rsplit("-", 1)[0])
    assert any(len(nodes) == 2 for nodes in nodes_per_seat.values()), nodes_per_seat


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
