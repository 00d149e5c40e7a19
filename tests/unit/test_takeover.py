"""Taking over a waiting caller whose seat was ringing when its process died (a peer's, or
this process's own before a restart): the seat is rung again for that caller, and never for
a second caller while it rings for the first. Against the scripted Asterisk, real Redis.

The race pinned here: a release names the seat and the caller's channel, and the caller
keeps its channel through a takeover, so a release made after the line had been served
again freed the seat the caller had just been given back (``ari_app.takeover``)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from core import keys
from tests.unit.ari_script import MONDAY_10AM, Channel, Script

LEFT = "1795000090.1"
"""The caller the process that stopped left waiting, with seat 1001 ringing for it."""
QUEUE = "enterprise"


async def left_ringing(script: Script, redis: Redis, owner: str) -> str:
    """What a process leaves when it dies while seat 1001 rings for its waiting caller: the
    caller's channel in the application, its place and reservation in the line, the seat
    held for it, and the seat's leg still ringing. The leg's id."""
    script.ari.channels_[LEFT] = Channel(LEFT, "Up", True, "02150000090", {})
    leg = f"seat-{LEFT}-000000000001"
    script.ari.channels_[leg] = Channel(leg, "Ringing", False, "", {}, "PJSIP/1001", f"seat,{LEFT}")
    await redis.zadd(keys.line_waiting(QUEUE), {LEFT: MONDAY_10AM - 120})
    await redis.hset(keys.line_owners(QUEUE), LEFT, owner)
    await redis.hset(keys.line_ringing(QUEUE), LEFT, "1001")
    await redis.sadd(keys.line_tried(QUEUE, LEFT), "1001")
    await redis.hset(keys.SEATS_BUSY, "1001", LEFT)
    await redis.zrem(keys.SEATS_IDLE, "1001")
    return leg


def rung_for(script: Script, seat: str) -> list[str]:
    """The callers a seat's phone rings for now."""
    return [
        channel.app_args.split(",")[1]
        for channel in script.ari.channels_.values()
        if channel.state == "Ringing" and channel.endpoint == f"PJSIP/{seat}"
    ]


@pytest.mark.parametrize("owner", ["hotline-2", "hotline"], ids=["a dead peer", "its own restart"])
async def test_a_seat_rung_again_for_a_caller_taken_over_rings_for_nobody_else(
    script: Script, redis: Redis, owner: str
) -> None:
    await redis.hset(keys.SEATS_PAUSED, "1002", "test")  # one seat: 1001
    old_leg = await left_ringing(script, redis, owner)
    behind = script.caller_arrives()  # a later caller of this process waits behind
    await script.until(lambda: behind in script.app.owners, "the later caller waits")

    await script.app.takeover.take_over(owner)
    await script.app.housekeeping.find_lost_offers()  # what the sweep does every 2 s
    await script.until(lambda: rung_for(script, "1001") == [LEFT], "1001 rings for the caller")

    assert old_leg not in script.ari.channels_, "the leg nobody watched is hung up"
    assert await redis.hget(keys.SEATS_BUSY, "1001") == LEFT.encode(), "held while it rings"
    await script.app.housekeeping.sweep_once()
    await script.quiet()
    assert rung_for(script, "1001") == [LEFT], "never rung for the caller behind meanwhile"

    (leg,) = script.ringing("PJSIP/1001")
    script.answer(leg)
    await script.until(lambda: script.bridge_of(LEFT) == [LEFT, leg], "caller and seat talk")
    assert await redis.hget(keys.SEATS_BUSY, "1001") == LEFT.encode()
    assert behind in script.app.owners and not script.ringing("PJSIP/1002")
