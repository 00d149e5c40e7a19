"""The transfer connect rate as it is now: counters in Redis over sliding windows.

Each decided transfer request adds one to a 10-second bucket (and to its local day) for
the whole line, its department and its matter; each finished dial adds one to its number.
In-hours and off-hours requests are counted apart, as the connect rate is defined over
working hours. A window is the sum of its buckets, so it slides ten seconds at a time.

The alert watch (run by the monitor service) compares each department's in-hours rate over
the site's alert window with the target and raises or clears an alert: an event on
``hotline:events``, the alert kept in Redis for the dashboard, and an optional webhook.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from redis.asyncio import Redis

from core import clock, keys
from core.events import publish

log = logging.getLogger(__name__)

PREFIX = keys.LIVE_PREFIX
ALERTS = keys.ALERTS
BUCKET_TTL = 2 * 3600 + 120
DAY_TTL = 3 * 86400
WINDOWS = {"15m": 15, "1h": 60}


@dataclass(frozen=True)
class Rate:
    """A connect rate with the counts it comes from."""

    answered: int
    requests: int

    @property
    def value(self) -> float | None:
        return self.answered / self.requests if self.requests else None

    def as_dict(self) -> dict[str, object]:
        return {"answered": self.answered, "requests": self.requests, "rate": self.value}


BUCKET = 10
"""Seconds per bucket."""


def _bucket_of(at: float) -> int:
    return int(at // BUCKET)


class LiveRates:
    """Counts decided transfer requests and dials in Redis, and reads the windows back."""

    def __init__(self, redis: Redis, zone: ZoneInfo) -> None:
        self.redis = redis
        self.zone = zone

    def _now(self) -> float:
        return clock.time()

    def _bucket(self, hours: str, dimension: str, value: str, bucket: int) -> str:
        return f"{PREFIX}:{hours}:{dimension}:{value}:b:{bucket}"

    def _day(self, hours: str, dimension: str, value: str, day: str) -> str:
        return f"{PREFIX}:{hours}:{dimension}:{value}:d:{day}"

    def _today(self, at: float) -> str:
        return datetime.fromtimestamp(at, UTC).astimezone(self.zone).date().isoformat()

    async def _count(self, hours: str, scopes: list[tuple[str, str]], answered: bool) -> None:
        at = self._now()
        bucket, today = _bucket_of(at), self._today(at)
        pipe = self.redis.pipeline(transaction=False)
        for dimension, value in scopes:
            pipe.sadd(f"{PREFIX}:values:{dimension}", value)
            for key, ttl in (
                (self._bucket(hours, dimension, value, bucket), BUCKET_TTL),
                (self._day(hours, dimension, value, today), DAY_TTL),
            ):
                pipe.hincrby(key, "requests", 1)
                if answered:
                    pipe.hincrby(key, "answered", 1)
                pipe.expire(key, ttl)
        await pipe.execute()

    async def request_decided(
        self, department: str, matter: str, in_hours: bool, outcome: str
    ) -> None:
        """A transfer request's outcome was decided (answered or not)."""
        scopes = [("all", "all"), ("department", department), ("matter", matter)]
        await self._count("in" if in_hours else "off", scopes, outcome == "answered")

    async def dial_ended(self, number: str, in_hours: bool, outcome: str) -> None:
        """A dial of ``number`` ended: answered, or not."""
        await self._count("in" if in_hours else "off", [("number", number)], outcome == "answered")

    async def values(self, dimension: str) -> list[str]:
        """The departments (matters, numbers) counted so far."""
        raw = await self.redis.smembers(f"{PREFIX}:values:{dimension}")
        return sorted(item.decode() if isinstance(item, bytes) else str(item) for item in raw)

    async def window(self, dimension: str, value: str, minutes: int, in_hours: bool = True) -> Rate:
        """The rate over the last ``minutes`` minutes (to the bucket: ten seconds)."""
        hours = "in" if in_hours else "off"
        now = _bucket_of(self._now())
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(now - minutes * 60 // BUCKET + 1, now + 1):
            pipe.hmget(self._bucket(hours, dimension, value, bucket), "answered", "requests")
        return _summed(await pipe.execute())

    async def today(self, dimension: str, value: str, in_hours: bool = True) -> Rate:
        hours = "in" if in_hours else "off"
        key = self._day(hours, dimension, value, self._today(self._now()))
        return _summed([await self.redis.hmget(key, "answered", "requests")])

    async def board(self, dimension: str = "department") -> list[dict[str, object]]:
        """Every value of ``dimension`` with its in-hours rates (15 min, hour, today) and its
        off-hours requests today: what the wallboard shows."""
        rows: list[dict[str, object]] = []
        for value in await self.values(dimension):
            row: dict[str, object] = {dimension: value}
            for name, minutes in WINDOWS.items():
                row[name] = (await self.window(dimension, value, minutes)).as_dict()
            row["today"] = (await self.today(dimension, value)).as_dict()
            row["off_hours_today"] = (await self.today(dimension, value, False)).as_dict()
            rows.append(row)
        return rows


def _summed(replies: list[list[bytes | str | None]]) -> Rate:
    answered = requests = 0
    for got, asked in replies:
        answered += int(got or 0)
        requests += int(asked or 0)
    return Rate(answered, requests)


@dataclass(frozen=True)
class Alert:
    """A department whose connect rate is under the target."""

    department: str
    answered: int
    requests: int
    rate: float
    target: float
    window_minutes: int
    raised_at: str


class AlertWatch:
    """Raises and clears connect-rate alerts, one department at a time."""

    def __init__(
        self,
        rates: LiveRates,
        target: float,
        window_minutes: int,
        min_requests: int,
        webhook: str | None = None,
    ) -> None:
        self.rates = rates
        self.target = target
        self.window_minutes = window_minutes
        self.min_requests = min_requests
        self.webhook = webhook

    async def check(self) -> list[str]:
        """Look at every department once; what changed (``raised:tax``, ``cleared:tax``)."""
        redis = self.rates.redis
        changes = []
        raised = await redis.hgetall(ALERTS)
        for department in await self.rates.values("department"):
            rate = await self.rates.window("department", department, self.window_minutes)
            value = rate.value
            is_raised = department.encode() in raised
            if (
                not is_raised
                and value is not None
                and rate.requests >= self.min_requests
                and value < self.target
            ):
                alert = Alert(
                    department,
                    rate.answered,
                    rate.requests,
                    round(value, 4),
                    self.target,
                    self.window_minutes,
                    clock.now().isoformat(timespec="seconds"),
                )
                await redis.hset(ALERTS, department, json.dumps(asdict(alert)))
                await self._tell("alert-raised", asdict(alert))
                changes.append(f"raised:{department}")
            elif is_raised and value is not None and value >= self.target:
                await redis.hdel(ALERTS, department)
                await self._tell(
                    "alert-cleared",
                    {"department": department, **rate.as_dict(), "target": self.target},
                )
                changes.append(f"cleared:{department}")
        return changes

    async def _tell(self, kind: str, details: dict[str, object]) -> None:
        await publish(self.rates.redis, kind, **details)
        if self.webhook is None:
            return
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(self.webhook, json={"event": kind, **details})
        except httpx.HTTPError as error:
            log.warning("the alert webhook %s did not take %s: %s", self.webhook, kind, error)


async def current_alerts(redis: Redis) -> list[dict[str, object]]:
    """The connect-rate alerts raised now."""
    raw = await redis.hgetall(ALERTS)
    return [json.loads(value) for _, value in sorted(raw.items())]


async def system_alerts(redis: Redis) -> list[dict[str, object]]:
    """The alerts about the line itself raised now (calls cannot be recorded...)."""
    raw = await redis.hgetall(keys.SYSTEM_ALERTS)
    return [json.loads(value) for _, value in sorted(raw.items())]
