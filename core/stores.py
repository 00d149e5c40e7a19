"""Where an installation's stores are: its SQL database and its Redis.

SQLite in the state directory unless ``HOTLINE_DATABASE_URL`` names another database
(PostgreSQL); the private Redis's unix socket unless ``REDIS_URL`` names another server.

Every process reaches Redis through :func:`async_redis` or :func:`sync_redis`: a Redis that
is frozen or gone answers no request within :data:`REDIS_TIMEOUT` seconds, and a request is
tried at most twice. (redis-py's own defaults wait 5 s and try eleven times: about a minute
for one step of a call.) What a call does when Redis does not answer is the app's to decide.
"""

from __future__ import annotations

import os

from redis import Redis as SyncRedis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

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


def async_redis(paths: Paths) -> Redis:
    """The installation's Redis for asyncio code, with the hotline's time limits."""
    pool = BlockingConnectionPool.from_url(
        redis_url(paths),
        max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=AsyncRetry(NoBackoff(), 1),
    )
    return Redis.from_pool(pool)


def sync_redis(paths: Paths) -> SyncRedis:
    """The installation's Redis for blocking code, with the hotline's time limits."""
    return SyncRedis.from_url(
        redis_url(paths),
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
    )
