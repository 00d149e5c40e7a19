"""Redis without a single point: ``REDIS_URL=sentinel://…`` makes every client ask Redis
Sentinel where the primary is. Real servers: a primary, a replica and three sentinels
(``hotline.redis_server.SentinelSet``); the primary is SIGKILLed and the clients the
processes use — asyncio and blocking, plain commands, Lua scripts, a subscription — carry
on against the promoted replica by themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from callback.book import Booked, CallbackBook
from core import keys, stores
from core.paths import Paths
from hotline.redis_server import SentinelSet
from tests.conftest import eventually, free_ports

PLAIN = "02150000001"
SHAPE = "sentinel://[:password@]host:port[,host:port...]/SERVICE[/DB]"


@pytest.mark.parametrize(
    ("url", "read"),
    [
        ("unix:///state/redis/redis.sock", None),
        ("redis://127.0.0.1:6379/0", None),
        (
            "sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/hotline",
            stores.Sentinels(
                (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26379)), "hotline"
            ),
        ),
        (
            "sentinel://:s%40cret@[::1]:26379/line/2",
            stores.Sentinels((("::1", 26379),), "line", "s@cret", 2),
        ),
    ],
)
def test_a_sentinel_url_is_read(url: str, read: stores.Sentinels | None) -> None:
    assert stores.sentinels_of(url) == read


@pytest.mark.parametrize(
    "url",
    [
        "sentinel://10.0.0.1:26379",  # no service
        "sentinel://10.0.0.1/hotline",  # no port
        "sentinel://10.0.0.1:99999/hotline",  # no such port
        "sentinel://10.0.0.1:26379,:26380/hotline",  # no host
        "sentinel://10.0.0.1:26379/hotline/zero",  # not a database number
    ],
)
def test_a_malformed_sentinel_url_is_refused_with_its_shape(url: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL") as refused:
        stores.sentinels_of(url)
    assert SHAPE in str(refused.value)


@pytest.fixture
def sentinels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SentinelSet]:
    a, b, c, d, e = free_ports(5)
    line = SentinelSet(tmp_path / "sentinel", (a, b, c, d, e))
    monkeypatch.setenv("REDIS_URL", line.up())
    yield line
    line.down()


async def test_every_client_follows_a_failover_by_itself(
    sentinels: SentinelSet, tmp_path: Path
) -> None:
    paths = Paths(tmp_path / "state", tmp_path / "cache")
    fast, blocking = stores.async_redis(paths), stores.sync_redis(paths)
    book = CallbackBook(fast)
    events = fast.pubsub()
    await events.subscribe(keys.EVENTS)
    await fast.set("before", "kept")
    replica = stores.sync_redis_at(
        f"redis://:{sentinels.password}@127.0.0.1:{sentinels.replica_port}"
    )

    async def replicated() -> bool:
        return replica.get("before") == b"kept"

    assert await eventually(replicated, within=5), "the replica never had the write"
    sentinels.kill("primary")

    async def writes() -> bool:
        try:
            await fast.set("after", "written")
        except RedisError:
            return False
        return True

    assert await eventually(writes, within=15), "the asyncio client never found the new primary"
    assert sentinels.primary() == sentinels.replica_port, "the replica was promoted"
    assert await fast.get("before") == b"kept"
    assert blocking.get("after") == b"written", "the blocking client follows too"
    # a Lua script (the call-back book's) on the new primary, which never saw it loaded
    booked = Booked(
        "r1", "enterprise", "02150000001", 1.0, None, "enterprise", None, "", "", 1.0, 0
    )
    assert await book.book(booked, 1.0) == "r1"

    async def resubscribed() -> bool:  # as the app's listener does after an error
        nonlocal events
        try:
            await fast.publish(keys.EVENTS, "hello")
            message = await events.get_message(ignore_subscribe_messages=True, timeout=0.5)
        except (RedisError, OSError):
            await events.aclose()
            events = fast.pubsub()
            with contextlib.suppress(RedisError, OSError):
                await events.subscribe(keys.EVENTS)
            return False
        return message is not None and message["data"] == b"hello"

    assert await eventually(resubscribed, within=10), "a subscription never came back"
    await events.aclose()
    await fast.aclose()
    blocking.close()
    replica.close()
