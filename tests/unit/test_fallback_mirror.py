"""Asterisk's fallback queues kept in step with the seats: a seat the application would not
offer a call is paused there, one available again is unpaused, a busy one is left to
Asterisk; callers waiting there go back to the application, in order, once it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from cdr.monitor import app_serving
from core import keys
from core.site import load_site
from hotline.line import on_nodes
from queues.fallback import (
    FallbackMirror,
    Member,
    Pause,
    Waiting,
    callers_to_take_back,
    holds_to_change,
    members_from,
    pauses_to_send,
    waiting_from,
)
from tests.conftest import EXAMPLE_SITE


def test_seats_not_offered_calls_are_paused_and_available_ones_unpaused() -> None:
    states = {"1001": "available", "1002": "paused", "1003": "resting", "1004": "busy"}
    members = [
        Member("enterprise", "1001", paused=True),
        Member("enterprise", "1002", paused=False),
        Member("enterprise", "1003", paused=False),
        Member("enterprise", "1004", paused=False),
        Member("citizen", "1002", paused=True),  # already as it should be
        Member("citizen", "9999", paused=False),  # not a seat the application knows
    ]
    assert pauses_to_send(states, members) == [
        Pause("enterprise", "1001", paused=False),
        Pause("enterprise", "1002", paused=True, reason="paused"),
        Pause("enterprise", "1003", paused=True, reason="resting"),
    ]


def test_a_seat_in_a_call_of_asterisks_queue_is_held_at_the_second_look_and_freed_after() -> None:
    states = {"1001": "available", "1002": "held", "1003": "busy", "1004": "held"}
    members = [
        Member("enterprise", "1001", paused=False, in_use=True),
        Member("enterprise", "1002", paused=False, in_use=False),
        Member("enterprise", "1003", paused=False, in_use=True),  # the application's call
        Member("citizen", "1004", paused=False, in_use=True),
    ]
    hold, free, seen = holds_to_change(states, members, set())
    assert (hold, free, seen) == (set(), {"1002"}, {"1001"}), "a first look only notes it"
    hold, free, seen = holds_to_change(states, members, seen)
    assert hold == {"1001"}
    assert pauses_to_send(states, members) == [], "held and busy seats are left alone"


def test_callers_go_back_first_of_each_line_first() -> None:
    waiting = [
        Waiting("enterprise", "PJSIP/carrier-3", 2),
        Waiting("citizen", "PJSIP/carrier-9", 1),
        Waiting("enterprise", "PJSIP/carrier-1", 1),
    ]
    assert [w.channel for w in callers_to_take_back(waiting)] == [
        "PJSIP/carrier-9",
        "PJSIP/carrier-1",
        "PJSIP/carrier-3",
    ]


QUEUE_STATUS = [
    {"Event": "QueueParams", "Queue": "enterprise"},
    {"Event": "QueueMember", "Queue": "enterprise", "StateInterface": "PJSIP/1001", "Paused": "0"},
    {"Event": "QueueMember", "Queue": "enterprise", "StateInterface": "PJSIP/1002", "Paused": "1"},
    {"Event": "QueueEntry", "Queue": "enterprise", "Channel": "PJSIP/carrier-2", "Position": "2"},
    {"Event": "QueueEntry", "Queue": "enterprise", "Channel": "PJSIP/carrier-1", "Position": "1"},
    {"Event": "QueueEntry", "Queue": "enterprise", "Channel": "PJSIP/x", "Position": "junk"},
    {"Event": "QueueStatusComplete"},
]


def test_asterisks_reply_is_read_into_members_and_waiting_callers() -> None:
    assert members_from(QUEUE_STATUS) == [
        Member("enterprise", "1001", False),
        Member("enterprise", "1002", True),
    ]
    assert [w.channel for w in waiting_from(QUEUE_STATUS)] == [
        "PJSIP/carrier-2",
        "PJSIP/carrier-1",
    ]


async def test_the_mirror_pauses_and_takes_callers_back_only_when_an_app_serves() -> None:
    sent: list[dict[str, str]] = []
    serving = False

    async def send(action: dict[str, str]) -> Any:
        sent.append(action)
        if action["Action"] == "QueueStatus":
            return QUEUE_STATUS
        if action["Action"] == "Getvar":  # carrier-2 came from another dialplan's Queue()
            return {"Response": "Success", "Value": "" if "2" in action["Channel"] else "1"}
        return {"Response": "Success"}

    async def states() -> dict[str, str]:
        return {"1001": "paused", "1002": "paused"}

    async def app_serving() -> bool:
        return serving

    holds: list[tuple[str, bool]] = []

    async def hold(seat: str, held: bool) -> None:
        holds.append((seat, held))

    mirror = FallbackMirror(send, states, app_serving, ("hotline-entry", "s", "app"), hold)
    await mirror.step()
    assert [a["Action"] for a in sent] == ["QueueStatus", "QueuePause"]
    assert sent[1] == {
        "Action": "QueuePause",
        "Queue": "enterprise",
        "Interface": "PJSIP/1001",
        "Paused": "true",
        "Reason": "paused",
    }

    sent.clear()
    serving = True
    await mirror.step()
    redirects = [a for a in sent if a["Action"] == "Redirect"]
    assert [(a["Channel"], a["Context"], a["Priority"]) for a in redirects] == [
        ("PJSIP/carrier-1", "hotline-entry", "app"),
    ]


@pytest.mark.parametrize(
    ("node", "serving", "taken_back"),
    [
        (None, ["hotline"], True),
        (None, ["hotline-2"], True),
        (None, [], False),
        ("pbx-a", ["hotline.pbx-a"], True),
        ("pbx-a", ["hotline-2.pbx-a"], True),
        ("pbx-a", ["hotline.pbx-b"], False),  # another node's app cannot take A's callers
    ],
)
async def test_callers_go_back_only_to_an_app_that_serves_their_pbx(
    redis: Redis, tmp_path: Path, node: str | None, serving: list[str], taken_back: bool
) -> None:
    line_file = tmp_path / "line.toml"
    line_file.write_text(on_nodes(EXAMPLE_SITE.read_text("utf-8"), 2, ("127.0.0.1", 5060)))
    site = load_site(line_file).on_node(node) if node else load_site(EXAMPLE_SITE)
    for name in serving:
        await redis.set(keys.heartbeat(name), "4242:serving", ex=5)
    await redis.set(keys.heartbeat("hotline.pbx-c"), "4343:paused", ex=5)
    assert await app_serving(redis, site) is taken_back
