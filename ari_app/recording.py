"""Recording calls: the edge that asks Asterisk to record a call's bridge, and the alert
when it cannot (a nearly full disk, a recorder that fails). Recording never holds a call
up or ends one: whatever goes wrong is recorded, announced, and the call goes on."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ari_app.client import AriClient, AriError
from core import clock
from core.events import publish
from core.keys import SYSTEM_ALERTS
from core.writer import RecordWriter
from recording.files import FORMAT, free_mb, name_for
from recording.records import RecordingFailed, RecordingStarted

log = logging.getLogger(__name__)
ALERT = "recordings"
"""The system alert raised while calls cannot be recorded."""


class CallRecorder:
    """Starts each answered call's recording; raises the recordings alert when one cannot
    be made and clears it when one is made again."""

    def __init__(
        self,
        ari: AriClient,
        writer: RecordWriter,
        redis: Redis,
        root: Path | None,
        min_free_mb: int,
    ) -> None:
        self.ari = ari
        self.writer = writer
        self.redis = redis
        self.root = root
        """Where the recordings go (the host's view), for the free-space check."""
        self.min_free_mb = min_free_mb
        self.alerting: bool | None = None
        """Whether the alert is raised (None: not known yet in this process)."""

    async def start(self, bridge: str, caller: str) -> None:
        """Record ``bridge`` (the call of ``caller``) from now until it is destroyed."""
        at = clock.now()
        if self.root is not None:
            free = free_mb(self.root)
            if free < self.min_free_mb:
                reason = f"{free:.0f} MB free in {self.root}, under the {self.min_free_mb} MB kept"
                await self.failed(caller, reason)
                return
        name = name_for(bridge, at)
        try:
            await self.ari.record_bridge(bridge, name, FORMAT)
        except AriError as error:
            await self.failed(caller, f"Asterisk could not record the call: {error}")
            return
        self.writer.put(RecordingStarted(caller, name, at))
        if self.alerting is not False:
            await self._alert(None)

    async def failed(self, caller: str | None, reason: str) -> None:
        """A call is not (or no longer) recorded: written down, and the alert raised."""
        log.error("call %s is not recorded: %s", caller or "?", reason)
        if caller is not None:
            self.writer.put(RecordingFailed(caller, clock.now(), reason))
        await self._alert(reason)

    async def heard(self, event: Mapping[str, Any], caller: str | None) -> None:
        """An ARI recording event: a recording that failed under a call raises the alert."""
        if event.get("type") != "RecordingFailed":
            return
        cause = str((event.get("recording") or {}).get("cause") or "the recorder failed")
        await self.failed(caller, f"Asterisk's recorder failed: {cause}")

    async def _alert(self, reason: str | None) -> None:
        """Raise (a reason) or clear (None) the recordings alert; the call never waits on
        a store that fails."""
        try:
            if reason is None:
                if await self.redis.hdel(SYSTEM_ALERTS, ALERT):
                    await publish(self.redis, "alert-cleared", what=ALERT)
                    log.info("calls are recorded again")
            else:
                alert = {"what": ALERT, "detail": reason, "since": clock.now().isoformat()}
                if await self.redis.hsetnx(SYSTEM_ALERTS, ALERT, json.dumps(alert)):
                    await publish(self.redis, "alert-raised", what=ALERT, detail=reason)
            self.alerting = reason is not None
        except RedisError as error:
            log.warning(
                "could not %s the recordings alert: %s", "raise" if reason else "clear", error
            )
