"""Fixtures shared by the unit tests that run the Stasis application against a scripted
Asterisk (``tests/unit/ari_script.py``): the installation's clock held at a Monday 10:00, an
empty real Redis, the scripted site (``scripted``) and the running script. A module overrides one by
defining a fixture of the same name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.site import Site
from tests.unit.ari_script import MONDAY_10AM, Script, scripted_site


@pytest.fixture
def time() -> Iterator[clock.ManualClock]:
    with clock.use(clock.ManualClock(MONDAY_10AM)) as manual:
        yield manual


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def scripted() -> Site:
    """The scripted site (a module may override it); the session's ``site`` is the example."""
    return scripted_site()


@pytest.fixture
async def script(
    redis: Redis, factory: sessionmaker[Session], time: clock.ManualClock, scripted: Site
) -> AsyncIterator[Script]:
    async with Script(redis, factory, time, scripted) as running:
        yield running
