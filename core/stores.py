"""Where an installation's stores are: its SQL database and its Redis.

SQLite in the state directory unless ``HOTLINE_DATABASE_URL`` names another database
(PostgreSQL); the private Redis's unix socket unless ``REDIS_URL`` names another server —
or Redis Sentinels (``sentinel://host:port,host:port/SERVICE``): then every connection asks
them where the primary is, and a failover is followed by itself.

Every process reaches Redis through :func:`async_redis` or :func:`sync_redis`: a Redis that
is frozen or gone answers no request within :data:`REDIS_TIMEOUT` seconds, and a request is
tried at most twice. (redis-py's own defaults wait 5 s and try eleven times: about a minute
for one step of a call.) What a call does when Redis does not answer is the app's to decide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from redis import BlockingConnectionPool as SyncBlockingPool
from redis import Redis as SyncRedis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel as SyncSentinel
from redis.sentinel import SentinelConnectionPool as SyncSentinelPool
from sqlalchemy.exc import DBAPIError

from core.paths import Paths

REDIS_TIMEOUT = 1.0
"""Seconds a Redis request (or connecting) may take before it counts as failed."""
REDIS_CONNECTIONS = 100
"""Connections to Redis one asyncio process keeps at most. A request beyond them waits for
a free one, up to :data:`REDIS_TIMEOUT`: redis-py's own pool refuses it at once ("Too many
connections"), and a call took that for Redis gone (at 100 calls/s, hundreds of callers
were sent to Asterisk's queue with Redis well)."""


def database_url(paths: Paths) -> str:
    """``HOTLINE_DATABASE_URL`` or the installation's SQLite file."""
    return os.environ.get("HOTLINE_DATABASE_URL") or f"sqlite:///{paths.state / 'hotline.db'}"


def redis_url(paths: Paths) -> str:
    """``REDIS_URL``, or the installation's private Redis (a unix socket in its state)."""
    return os.environ.get("REDIS_URL") or f"unix://{paths.redis / 'redis.sock'}"


SENTINEL_SCHEME = "sentinel"


@dataclass(frozen=True)
class Sentinels:
    """Where the Redis Sentinels are, and the name they know the line's primary by."""

    hosts: tuple[tuple[str, int], ...]
    service: str
    password: str | None = None
    """The primary's and replicas' password (the sentinels' own is not supported)."""
    db: int = 0


def sentinels_of(url: str) -> Sentinels | None:
    """The sentinels a ``sentinel://[:password@]host:port[,host:port...]/SERVICE[/DB]`` URL
    names; None for any other URL. A malformed one is refused with a sentence saying so."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    shape = "sentinel://[:password@]host:port[,host:port...]/SERVICE[/DB]"
    where = parts.netloc.rpartition("@")[2]
    password = unquote(parts.password) if parts.password else None
    hosts: list[tuple[str, int]] = []
    for host in where.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"REDIS_URL names a sentinel {host!r} without host:port: {shape}")
        hosts.append((name.strip("[]"), int(port)))
    path = [piece for piece in parts.path.split("/") if piece]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(f"REDIS_URL names no service (or a bad database number): {shape}")
    return Sentinels(tuple(hosts), path[0], password, int(path[1]) if len(path) == 2 else 0)


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Asks the sentinels for the primary, and waits for a free connection like the plain
    pool (see :data:`REDIS_CONNECTIONS`)."""


class _SyncBlockingSentinelPool(SyncSentinelPool, SyncBlockingPool):
    """The same for blocking code."""


def _limits() -> dict[str, Any]:
    return {
        "socket_timeout": REDIS_TIMEOUT,
        "socket_connect_timeout": REDIS_TIMEOUT,
    }


def _primary(sentinels: Sentinels) -> dict[str, Any]:
    """What every client of the sentinels' primary is made with, asyncio or blocking."""
    return {
        "max_connections": REDIS_CONNECTIONS,
        "timeout": REDIS_TIMEOUT,
        "password": sentinels.password,
        "db": sentinels.db,
    }


def async_redis(paths: Paths) -> Redis:
    """The installation's Redis for asyncio code, with the hotline's time limits."""
    url = redis_url(paths)
    sentinels = sentinels_of(url)
    if sentinels is not None:
        manager = Sentinel(list(sentinels.hosts), sentinel_kwargs=_limits(), **_limits())
        client: Redis = manager.master_for(
            sentinels.service,
            connection_pool_class=_BlockingSentinelPool,
            retry=AsyncRetry(NoBackoff(), 1),
            **_primary(sentinels),
        )
        return client
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_TIMEOUT,
        retry=AsyncRetry(NoBackoff(), 1),
        **_limits(),
    )
    return Redis.from_pool(pool)


def sync_redis(paths: Paths) -> SyncRedis:
    """The installation's Redis for blocking code, with the hotline's time limits."""
    return sync_redis_at(redis_url(paths))


def sync_redis_at(url: str) -> SyncRedis:
    """A Redis URL's server (or the sentinels' primary) for blocking code, with the
    hotline's time limits."""
    sentinels = sentinels_of(url)
    if sentinels is not None:
        manager = SyncSentinel(list(sentinels.hosts), sentinel_kwargs=_limits(), **_limits())
        blocking: SyncRedis = manager.master_for(
            sentinels.service,
            connection_pool_class=_SyncBlockingSentinelPool,
            retry=Retry(NoBackoff(), 1),
            **_primary(sentinels),
        )
        return blocking
    return SyncRedis.from_url(url, retry=Retry(NoBackoff(), 1), **_limits())


def rolled_back(error: DBAPIError) -> bool:
    """Whether the database rolled a transaction back to settle a conflict with another
    (a deadlock or a serialization failure, SQLSTATE class 40): the same transaction tried
    again is right."""
    return str(getattr(error.orig, "sqlstate", None) or "").startswith("40")
