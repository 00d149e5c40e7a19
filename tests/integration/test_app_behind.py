"""An app that falls behind sends its new callers on to Asterisk's own queue, where they
reach a seat, and takes the line back once it keeps up (``ari_app/backlog.py``). The app is
made late as a burst of calls would make it: frozen (SIGSTOP) while a caller's StasisStart
waits for it."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from redis.asyncio import Redis

from ari_app.client import Ari
from core import clock, keys
from core.stores import redis_url
from hotline import services
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import EventLog, ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

LATE = 0.3
"""Seconds the caller's StasisStart waits for the frozen app: past the 0.1 s that makes the
app count as behind."""


async def test_a_caller_the_app_is_too_late_for_reaches_a_seat_through_asterisks_queue(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList
) -> None:
    app = services.running_pid(stack.paths, "app")
    assert app is not None, "the app runs"
    phones = seat_phones(stack.site, "enterprise", hold=3.0)
    since = clock.now()

    async def waits_for_the_app() -> bool:
        channels = await ari.channels()
        return any((c.get("dialplan") or {}).get("app_name") == "Stasis" for c in channels)

    async with EventLog(redis_url(stack.paths)) as log:
        os.kill(app, signal.SIGSTOP)
        try:
            playing = asyncio.create_task(
                rig.run(Scenario("behind", phones, (CallerSpec(landline(5), hold=None),)))
            )
            assert await eventually(waits_for_the_app, within=10), "the caller never entered"
            await asyncio.sleep(LATE)  # its StasisStart waits, unhandled, for the frozen app
        finally:
            os.kill(app, signal.SIGCONT)
        redis = Redis.from_url(redis_url(stack.paths))
        try:

            async def says(state: bytes) -> bool:
                beat = await redis.get(keys.heartbeat("hotline"))
                return isinstance(beat, bytes) and beat.endswith(b":" + state)

            # at once, so that the monitor sends nobody back meanwhile
            assert await eventually(lambda: says(b"behind"), within=2), "never said behind"
            report = await playing
            assert await eventually(lambda: says(b"serving"), within=10), "never caught up"
        finally:
            await redis.aclose()

    caller = report.callers[0]
    assert caller.exit_code == 0, report.render()
    assert caller.calls[0].events[:2] == ["calling", "answered"], report.render()
    seat = next(phone for phone in report.phones if phone.calls)
    assert seat.calls[0].events[:2] == ["ringing", "answered"], "a seat answered it"
    handed = [e for e in log.events if e["type"] == "caller-to-asterisk-queue"]
    assert [e["reason"] for e in handed] == ["app-behind"], log.events
    assert not [e for e in log.events if e["type"] == "seat-ringing"], "Asterisk rang the seat"
    # recorded as Asterisk's queue log says: answered there by the seat, which hung up
    (leg,) = await ended_calls(registry, since)
    assert (leg.outcome, leg.seat_id) == ("seat-hangup", seat.name), leg.outcome

    async with EventLog(redis_url(stack.paths)) as log:
        later = await rig.run(Scenario("caught-up", phones, (CallerSpec(landline(6), hold=None),)))
    assert later.callers[0].exit_code == 0, later.render()
    assert [e["type"] for e in log.events if e["type"] == "seat-ringing"], "the app's again"
    assert not [e for e in log.events if e["type"] == "caller-to-asterisk-queue"]
