"""The seat's console while a call-back rings it: the company it calls, before anyone
answered (the call is recorded only once the company answers)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from callback.book import Booked, CallbackBook
from core import keys
from core.paths import Paths
from core.secrets import Secrets
from redlist.tiers import RedListTier
from tests.unit.test_reports_api import client, paths  # noqa: F401  (the web app's fixtures)


async def test_a_seat_rung_for_a_call_back_sees_the_company_it_calls(
    client: TestClient,  # noqa: F811
    paths: Paths,  # noqa: F811
    redis_url: str,
) -> None:
    redis = AsyncRedis.from_url(redis_url)
    book = CallbackBook(redis)
    booked = Booked("1795000001.1", "enterprise", "02150000002", 1000.0, RedListTier.KEY_FIRM,
                    "enterprise", 7, "示例企业2有限公司", "callback", 1000.0, 0)  # fmt: skip
    await book.book(booked, 1000.0)
    assert await book.claim(booked.request, "callback-1", "hotline") is not None
    await redis.aclose()
    Redis.from_url(redis_url).hset(keys.SEATS_BUSY, "1001", "callback-1")
    token = Secrets.load_or_create(paths.secrets_file).console_token("1001")
    state = client.get("/api/console/1001", headers={"Authorization": f"Bearer {token}"}).json()
    caller = state["caller"]
    assert (caller["number"], caller["company"], caller["callback"]) == (
        "02150000002",
        "示例企业2有限公司",
        True,
    )
    assert caller["red_list"] is True
