"""A line that cannot jam: a place in a waiting line, or a busy seat, whose caller's channel
is gone (its call ended while Redis or its process failed, so its own clean-up never ran)
is freed — when a seat is offered to it, by the sweep, and when its application is taken
over — and no later caller waits behind it. Against the scripted Asterisk, real Redis."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from core import keys
from core.events import EVENTS
from queues.line import gone_for_good
from tests.unit.ari_script import MONDAY_10AM, Script

GONE = "1795000099.1"
"""A caller whose channel Asterisk no longer has, left in the line."""


async def leave_behind(script: Script, caller: str, owner: str, minutes_ago: float) -> None:
    """A place in the enterprise line whose call is over, as a failed clean-up leaves it."""
    queue = "enterprise"
    await script.redis.zadd(keys.line_waiting(queue), {caller: MONDAY_10AM - 60 * minutes_ago})
    await script.redis.hset(keys.line_owners(queue), caller, owner)


def test_a_channel_missing_twice_in_a_row_is_gone_for_good() -> None:
    gone, suspected = gone_for_good({"a", "b", "c"}, live={"a"}, seen_gone=set())
    assert (gone, suspected) == (set(), {"b", "c"})
    gone, suspected = gone_for_good({"a", "c", "d"}, live={"a"}, seen_gone={"b", "c"})
    assert (gone, suspected) == ({"c"}, {"d"})


async def test_a_gone_caller_first_in_line_is_removed_when_offered_a_seat(
    script: Script, redis: Redis
) -> None:
    await leave_behind(script, GONE, owner=script.app.name, minutes_ago=5)
    await redis.hset(keys.SEATS_PAUSED, "1002", "test")  # one seat: the head's turn first
    pubsub = redis.pubsub()
    await pubsub.subscribe(EVENTS)

    caller = script.caller_arrives()  # joins behind the gone caller; the seat goes past it
    await script.until(lambda: bool(script.ringing()), "a seat rings for the live caller")
    (leg,) = script.ringing("PJSIP/1001")
    assert script.ari.channels_[leg].app_args.endswith(caller)
    assert await redis.zscore(keys.line_waiting("enterprise"), GONE) is None
    assert await redis.hget(keys.line_owners("enterprise"), GONE) is None

    freed: list[dict[str, object]] = []
    deadline = asyncio.get_running_loop().time() + 3
    while not freed and asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None and json.loads(message["data"])["type"] == "place-freed":
            freed.append(json.loads(message["data"]))
    await pubsub.aclose()
    assert [(e["caller"], e["queue"]) for e in freed] == [(GONE, "enterprise")]


async def test_the_sweep_frees_places_and_seats_of_calls_gone_at_two_looks(
    script: Script, redis: Redis
) -> None:
    await redis.hset(keys.SEATS_PAUSED, mapping={"1001": "test", "1002": "test"})
    waiting = script.caller_arrives()  # a live caller of this process: never touched
    await script.until(lambda: waiting in script.app.owners, "the caller waits")
    await leave_behind(script, GONE, owner="hotline-2", minutes_ago=1)
    await redis.hset(keys.SEATS_BUSY, "2001", "1795000098.1")  # held for a call that is gone

    suspected = await script.app.housekeeping.free_gone(set(), "sweep")
    assert suspected == {GONE, "1795000098.1"}, "the first look only suspects"
    assert await redis.zscore(keys.line_waiting("enterprise"), GONE) is not None

    assert await script.app.housekeeping.free_gone(suspected, "sweep") == set()
    assert await redis.zscore(keys.line_waiting("enterprise"), GONE) is None
    assert await redis.hget(keys.SEATS_BUSY, "2001") is None
    assert await redis.zscore(keys.SEATS_IDLE, "2001") is not None
    assert await redis.zrange(keys.line_waiting("enterprise"), 0, -1) == [waiting.encode()]


async def test_taking_over_an_application_frees_its_gone_callers_at_once(
    script: Script, redis: Redis
) -> None:
    await leave_behind(script, GONE, owner="hotline-2", minutes_ago=2)
    await leave_behind(script, "1795000097.1", owner="hotline-3", minutes_ago=1)

    await script.app.takeover.take_over("hotline-2")  # hotline-2 has died

    line = await redis.zrange(keys.line_waiting("enterprise"), 0, -1)
    assert line == [b"1795000097.1"], "only the application taken over is cleared at once"


async def test_a_restarted_application_frees_its_own_gone_callers(
    script: Script, redis: Redis
) -> None:
    await leave_behind(script, GONE, owner=script.app.name, minutes_ago=2)

    await script.app.takeover.take_over(script.app.name)

    assert await redis.zcard(keys.line_waiting("enterprise")) == 0
