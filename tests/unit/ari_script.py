"""A scripted Asterisk for the Stasis application: whole call and transfer flows in
milliseconds, without a PBX (the way ``test_front_door_menu`` scripts AGI).

:class:`ScriptedAri` stands in for the ARI client: it keeps the channels, bridges and
playbacks the application asks for and answers as Asterisk would (a dial to a phone that is
not registered is refused with HTTP 500; a hung-up channel ends with ``StasisEnd`` and
``ChannelDestroyed``). :class:`Script` runs the real application (``ari_app.app``) with it,
real Redis, a real SQLite database behind the real record writer and a
:class:`~core.clock.ManualClock`; the test plays the phones: a caller arrives, a seat
answers, rings out or is busy, keys digits, hangs up; time moves when the test says.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from ari_app.app import Services, StasisApp
from ari_app.client import AriConfig, AriError, Event
from callback.recorder import CallbackRecords
from cdr.live import LiveRates
from cdr.recorder import CallRecords
from cdr.rollups import Rollups
from core import clock, keys
from core.journal import Journal
from core.site import Site, parse_site
from core.writer import RecordWriter
from recording.recorder import RecordingRecords
from return_visit.book import ReturnVisits
from return_visit.recorder import ReturnVisitRecords
from transfer.plan import TransferPlan
from transfer.recorder import TransferRecords
from transfer.routes import Routes

SPECIALIST_A, SPECIALIST_B = "02161001001", "02161001002"
UNREGISTERED = "1009"
"""A seat whose phone never registered: dialling it is refused (HTTP 500)."""

SITE: dict[str, Any] = {
    "site": {"name": "Scripted", "timezone": "Asia/Shanghai", "area_code": "21"},
    "trunks": [{"name": "carrier", "match": ["127.0.0.2"], "numbers": ["12345"]}],
    "queues": [
        {
            "name": "enterprise",
            "hours": {"days": "every-day", "periods": ["06:00-24:00"]},
            "ring_timeout": 15,
            "wrap_up": 10,
            "max_wait": 120,
            "announce_every": 30,
        },
        {"name": "citizen", "move_to": "enterprise", "wrap_up": 5},
    ],
    "seats": [
        {"id": "1001", "name": "Seat 1", "queues": ["enterprise"], "contact": "sip:10.0.0.1:5071"},
        {"id": "1002", "name": "Seat 2", "queues": ["enterprise"], "contact": "sip:10.0.0.1:5072"},
        {"id": "2001", "name": "Citizen", "queues": ["citizen"], "contact": "sip:10.0.0.1:5074"},
    ],
    "departments": [
        {"code": "tax", "name": "Tax", "numbers": [SPECIALIST_A, SPECIALIST_B],
         "hours": {"days": "every-day", "periods": ["00:00-24:00"]}},
        {"code": "night", "name": "Night", "numbers": [SPECIALIST_A],
         "hours": {"days": "every-day", "periods": ["01:00-02:00"]}},
    ],
    "matters": [
        {"code": "101", "name": "Tax registration", "department": "tax"},
        {"code": "903", "name": "Closed department", "department": "night"},
    ],
    "phones": [
        {"number": SPECIALIST_A, "contact": "sip:10.0.0.1:5081"},
        {"number": SPECIALIST_B, "contact": "sip:10.0.0.1:5082"},
    ],
    "reports": {"survey_wait": 2},
    "recordings": {"enabled": True, "notice": False},
}  # fmt: skip
"""A small site: two enterprise seats, a citizen seat, the tax bureau (two numbers, always
open) and a department open at night only."""

MONDAY_10AM = 1_795_399_200.0
"""2026-11-23 10:00 in Shanghai: every queue and the tax bureau are open."""


def scripted_site(**changes: Any) -> Site:
    """The scripted site, with some top-level sections changed."""
    return parse_site({**SITE, **changes}, "<scripted>")


@dataclass
class Channel:
    id: str
    state: str = "Up"
    in_stasis: bool = True
    caller: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""
    app_args: str = ""
    music: bool = False
    """Music on hold plays to this channel."""

    def snapshot(self) -> Event:
        return {
            "id": self.id,
            "state": self.state,
            "caller": {"number": self.caller},
            "dialplan": {"exten": "12345", "app_name": "Stasis" if self.in_stasis else "Queue"},
            "linkedid": self.id,
            "channelvars": dict(self.variables),
        }


class ScriptedAri:
    """The ARI client's methods the application uses, answered like Asterisk would."""

    def __init__(self, unregistered: set[str]) -> None:
        self.channels_: dict[str, Channel] = {}
        self.bridges_: dict[str, list[str]] = {}
        self.recordings: dict[str, str] = {}
        """Recording name → the bridge recorded."""
        self.bridges_made: list[str] = []
        """Every bridge created, in order."""
        self.playbacks: dict[str, tuple[str, str]] = {}
        """playback id → (media, target uri)"""
        self.requests: list[tuple[str, tuple[Any, ...]]] = []
        self.unregistered = unregistered
        self.startup = "2026-11-23T09:00:00.000+0800"
        """When "Asterisk" started: a test that restarts it changes this."""
        self.emit: Callable[[Event], None] = lambda event: None
        self._ids = itertools.count(1)

    def log(self, method: str, *args: Any) -> None:
        self.requests.append((method, args))

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.requests if name == method]

    # --- channels -------------------------------------------------------------------------

    async def channels(self) -> list[Event]:
        return [channel.snapshot() for channel in self.channels_.values()]

    async def endpoint(self, technology: str, resource: str) -> Event:
        name = f"{technology}/{resource}"
        return {"channel_ids": [c.id for c in self.channels_.values() if c.endpoint == name]}

    async def channel(self, channel_id: str) -> Event:
        if channel_id not in self.channels_:
            raise AriError("GET", f"/channels/{channel_id}", 404, "Channel not found")
        return self.channels_[channel_id].snapshot()

    async def answer(self, channel_id: str) -> None:
        self.log("answer", channel_id)
        self.channels_[channel_id].state = "Up"

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.log("hangup", channel_id)
        if channel_id not in self.channels_:
            raise AriError("DELETE", f"/channels/{channel_id}", 404, "Channel not found")
        self.gone(channel_id, cause=16)

    def gone(self, channel_id: str, cause: int, tech_cause: int | None = None) -> None:
        """A channel ends, as Asterisk tells the application."""
        channel = self.channels_.pop(channel_id)
        for members in self.bridges_.values():
            if channel_id in members:
                members.remove(channel_id)
        if channel.in_stasis:
            self.emit({"type": "StasisEnd", "channel": channel.snapshot()})
        destroyed: Event = {
            "type": "ChannelDestroyed",
            "channel": channel.snapshot(),
            "cause": cause,
        }
        if tech_cause is not None:
            destroyed["tech_cause"] = tech_cause
        self.emit(destroyed)

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        app_args: str,
        caller_id: str | None = None,
        ring_seconds: int = 30,
        variables: dict[str, str] | None = None,
        originator: str | None = None,
    ) -> Event:
        self.log("originate", endpoint, channel_id, caller_id, ring_seconds)
        if originator is not None and originator not in self.channels_:  # as Asterisk does
            raise AriError("POST", "/channels", 400, "Provided originator channel was not found")
        if endpoint.removeprefix("PJSIP/") in self.unregistered:
            raise AriError("POST", "/channels", 500, "Allocation failed")
        channel = Channel(channel_id, "Ringing", False, caller_id or "", {}, endpoint, app_args)
        self.channels_[channel_id] = channel
        return channel.snapshot()

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        self.log("start_moh", channel_id)
        if channel_id in self.channels_:
            self.channels_[channel_id].music = True

    async def stop_moh(self, channel_id: str) -> None:
        self.log("stop_moh", channel_id)
        if channel_id in self.channels_:
            self.channels_[channel_id].music = False

    async def play(self, channel_id: str, media: str) -> str:
        return self._play(media, f"channel:{channel_id}")

    async def play_to_bridge(self, bridge_id: str, media: str) -> str:
        return self._play(media, f"bridge:{bridge_id}")

    def _play(self, media: str, target: str) -> str:
        playback = f"playback-{next(self._ids)}"
        self.log("play", media, target)
        self.playbacks[playback] = (media, target)
        self.emit({"type": "PlaybackStarted", "playback": _playback(playback, media, target)})
        return playback

    async def stop_playback(self, playback_id: str) -> None:
        self.log("stop_playback", playback_id)
        if playback_id not in self.playbacks:
            raise AriError("DELETE", f"/playbacks/{playback_id}", 404, "Playback not found")
        self.finish(playback_id)

    def finish(self, playback_id: str) -> None:
        """A playback ends (played to its end, or stopped)."""
        media, target = self.playbacks.pop(playback_id)
        self.emit({"type": "PlaybackFinished", "playback": _playback(playback_id, media, target)})

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        self.log("set_variable", channel_id, name)
        self.channels_[channel_id].variables[name] = value

    async def global_variable(self, name: str) -> str | None:
        return "/sounds/hotline"

    # --- bridges ----------------------------------------------------------------------------

    async def started_at(self) -> str:
        return self.startup

    async def bridges(self) -> list[Event]:
        return [{"id": b, "channels": list(m)} for b, m in self.bridges_.items()]

    async def create_bridge(self, bridge_id: str, name: str = "") -> Event:
        self.log("create_bridge", bridge_id)
        self.bridges_made.append(bridge_id)
        self.bridges_[bridge_id] = []
        return {"id": bridge_id}

    async def add_to_bridge(
        self, bridge_id: str, *channel_ids: str, absorb_dtmf: bool = False
    ) -> None:
        self.log("add_to_bridge", bridge_id, *channel_ids)
        if any(channel not in self.channels_ for channel in channel_ids):
            raise AriError("POST", f"/bridges/{bridge_id}/addChannel", 422, "not in Stasis")
        self.bridges_[bridge_id].extend(channel_ids)

    async def record_bridge(self, bridge_id: str, name: str, format: str) -> None:
        self.log("record_bridge", bridge_id, name, format)
        if bridge_id not in self.bridges_:
            raise AriError("POST", f"/bridges/{bridge_id}/record", 404, "Bridge not found")
        self.recordings[name] = bridge_id

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.log("destroy_bridge", bridge_id)
        self.bridges_.pop(bridge_id, None)

    async def application(self, name: str | None = None) -> Event:
        return {"channel_ids": [c for c, ch in self.channels_.items() if ch.in_stasis]}

    async def subscribe(self, sources: list[str]) -> None:
        self.log("subscribe", sources)

    async def move(self, channel_id: str, app_args: str) -> None:
        """The channel enters this application. As on the real PBX, its ``StasisStart``
        reaches the application before the answer to the request does."""
        self.log("move", channel_id)
        if channel_id not in self.channels_:
            raise AriError("POST", f"/channels/{channel_id}/move", 404, "Channel not found")
        channel = self.channels_[channel_id]
        channel.in_stasis = True
        self.emit(
            {"type": "StasisStart", "args": app_args.split(","), "channel": channel.snapshot()}
        )
        for _ in range(10):  # the moved channel's first steps happen before the answer
            await asyncio.sleep(0.001)

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int
    ) -> None:
        """The channel leaves the application for the dialplan (there: Asterisk's queue)."""
        self.log("continue_in_dialplan", channel_id, context, extension, priority)
        if channel_id not in self.channels_:
            raise AriError("POST", f"/channels/{channel_id}/continue", 404, "Channel not found")
        channel = self.channels_[channel_id]
        channel.in_stasis = False
        self.emit({"type": "StasisEnd", "channel": channel.snapshot()})

    async def close(self) -> None:
        return None


def _playback(playback: str, media: str, target: str) -> Event:
    return {"id": playback, "media_uri": media, "target_uri": target}


class Script:
    """The Stasis application against a :class:`ScriptedAri`; the test plays the phones."""

    def __init__(
        self,
        redis: Redis,
        factory: sessionmaker[Session],
        manual: clock.ManualClock,
        site: Site | None = None,
        unregistered: set[str] | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.site = site or scripted_site()
        self.redis = redis
        self.sessions = factory
        self.time = manual
        self.ari = ScriptedAri(unregistered if unregistered is not None else {UNREGISTERED})
        rollups = Rollups.for_site(self.site)
        self.writer = RecordWriter(
            factory,
            [
                CallRecords(rollups),
                TransferRecords(rollups, self.site.timezone),
                CallbackRecords(),
                RecordingRecords(),
                ReturnVisitRecords(),
            ],
            journal=journal,
        )
        plan = TransferPlan(factory, self.site.timezone)
        plan.seed(self.site)
        self.routes = Routes(plan)
        config = AriConfig("http://scripted/ari", "user", "password", "hotline")
        self.live = LiveRates(redis, self.site.timezone)
        self.visits = ReturnVisits.for_site(self.site, factory)
        services = Services(redis, self.writer, self.routes, self.live, visits=self.visits)
        self.app = StasisApp(config, self.site, services, ari=self.ari)
        self.ari.emit = self.app.dispatch
        self._tasks: list[asyncio.Task[None]] = []
        self._callers = itertools.count(1)

    async def __aenter__(self) -> Script:
        await self.app.seats.sync({seat.id: seat.queues for seat in self.site.seats})
        await self.routes.refresh()
        self._tasks.append(asyncio.create_task(self.writer.run()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.visits.stop()
        for call in self.app.calls:
            if call.task is not None:
                call.task.cancel()
        await self.app.seats.close()
        await self.writer.close(within=5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- the phones -----------------------------------------------------------------------

    def caller_arrives(
        self,
        number: str = "02150000001",
        kind: str = "enterprise",
        tier: str = "",
        queue: str | None = None,
        answered: bool = False,
        arrived: float | None = None,
        music: bool = False,
    ) -> str:
        """A caller the front door identified enters the application; its channel id.
        ``answered`` and ``music``: the dialplan answered and started music on hold before
        Stasis, as the rendered one does."""
        channel_id = f"17950000{next(self._callers):02d}.1"
        variables = {"HOTLINE_CALLER_KIND": kind, "HOTLINE_TIER": tier}
        if arrived is not None:  # the front door notes the arrival (absent: it was away)
            variables["HOTLINE_ARRIVED"] = f"{arrived:.3f}"
        if queue is not None:
            variables["HOTLINE_QUEUE"] = queue
        channel = Channel(channel_id, "Up" if answered else "Ring", True, number, variables)
        channel.music = music
        self.ari.channels_[channel_id] = channel
        args = ["inbound", "music"] if music else ["inbound"]
        self.app.dispatch({"type": "StasisStart", "args": args, "channel": channel.snapshot()})
        return channel_id

    def taken_back(self, channel_id: str) -> None:
        """A caller waiting in Asterisk's queue is sent back into the application."""
        channel = self.ari.channels_[channel_id]
        channel.in_stasis = True
        self.app.dispatch(
            {"type": "StasisStart", "args": ["inbound"], "channel": channel.snapshot()}
        )

    def ringing(self, endpoint: str | None = None) -> list[str]:
        """The legs ringing now (of one endpoint, like ``PJSIP/1001``)."""
        return [
            c.id
            for c in self.ari.channels_.values()
            if c.state == "Ringing" and (endpoint is None or c.endpoint == endpoint)
        ]

    def answer(self, leg: str) -> None:
        """The phone on ``leg`` picks up: it enters the application."""
        channel = self.ari.channels_[leg]
        channel.state, channel.in_stasis = "Up", True
        self.app.dispatch(
            {
                "type": "StasisStart",
                "args": channel.app_args.split(","),
                "channel": channel.snapshot(),
            }
        )

    def fail(self, leg: str, cause: int, sip: int | None = None) -> None:
        """The phone on ``leg`` does not answer: busy (17), no answer (19), rejected (21)..."""
        self.ari.gone(leg, cause, sip)

    def hang_up(self, channel_id: str) -> None:
        """That phone hangs up."""
        self.app.dispatch(
            {"type": "ChannelHangupRequest", "channel": {"id": channel_id}, "cause": 16}
        )
        self.ari.gone(channel_id, cause=16)

    def vanish(self, leg: str) -> None:
        """The phone on ``leg`` goes silent without a BYE: Asterisk's RTP timeout hangs the
        leg up as on the real PBX — a soft hang-up request (its ``cause`` is the soft-hangup
        flag), then the leg's end with cause 44."""
        self.app.dispatch(
            {"type": "ChannelHangupRequest", "channel": {"id": leg}, "cause": 1, "soft": True}
        )
        self.ari.gone(leg, cause=44)

    def key(self, channel_id: str, digits: str) -> None:
        for digit in digits:
            self.app.dispatch(
                {"type": "ChannelDtmfReceived", "channel": {"id": channel_id}, "digit": digit}
            )

    def command(self, caller: str, action: str, **details: str) -> None:
        """The API sends a command for a call (``hotline:commands``)."""
        message = json.dumps({"call": caller, "action": action, **details})
        self.app.hear({"channel": keys.COMMANDS.encode(), "data": message.encode()})

    def finish_prompts(self, media: str | None = None) -> list[str]:
        """Every prompt playing (or those whose media ends with ``media``) plays to its end."""
        done = [
            playback
            for playback, (played, _) in list(self.ari.playbacks.items())
            if (media is None or played.endswith(media)) and not played.startswith("tone:")
        ]
        for playback in done:
            self.ari.finish(playback)
        return done

    def playing(self) -> list[str]:
        """The media playing now."""
        return [media for media, _ in self.ari.playbacks.values()]

    def bridge_of(self, channel_id: str) -> list[str]:
        """Who is in one bridge with ``channel_id`` (itself included)."""
        return next((m for m in self.ari.bridges_.values() if channel_id in m), [])

    # --- waiting for what a test means ------------------------------------------------------

    async def until(self, check: Callable[[], bool], what: str, within: float = 3.0) -> None:
        """Let the application work until ``check`` holds (real seconds, not the clock's)."""
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened: {what}\nARI: {self.ari.requests[-15:]}")
            await asyncio.sleep(0.002)

    async def until_stored(
        self, check: Callable[[], Awaitable[bool]], what: str, within: float = 3.0
    ) -> None:
        """Like :meth:`until`, for a check that reads a store (Redis, the database)."""
        deadline = time.monotonic() + within
        while not await check():
            if time.monotonic() > deadline:
                raise AssertionError(f"never stored: {what}\nARI: {self.ari.requests[-15:]}")
            await asyncio.sleep(0.002)

    async def advance(self, seconds: float) -> None:
        """Move the clock on and let everything that was due happen."""
        self.time.advance(seconds)
        for _ in range(5):
            await asyncio.sleep(0.002)

    async def over(self, caller: str) -> None:
        """Wait until the call of ``caller`` has ended (its task is done)."""
        await self.until(lambda: caller not in self.app.owners, f"the call {caller} ends")

    async def records(self) -> None:
        """Wait until every record handed to the writer is in SQL."""
        assert await self.writer.flush(within=5), "the records were not written"

    async def quiet(self) -> None:
        """Let the calls' tasks handle what is in their inboxes."""
        for _ in range(20):
            await asyncio.sleep(0.002)
