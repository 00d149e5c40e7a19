"""The live connect rate in Redis, on a clock the test moves: windows slide, off-hours
requests are apart, and an alert is raised under the target and cleared on recovery."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from cdr.live import ALERTS, AlertWatch, LiveRates
from core import clock


def test_windows_slide_and_alerts_rise_and_clear(redis_url: str) -> None:
    async def run(time: clock.ManualClock) -> None:
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        rates = LiveRates(redis, ZoneInfo("Asia/Shanghai"))
        watch = AlertWatch(rates, target=0.9, window_minutes=1, min_requests=3)
        for outcome in ("failed", "failed"):
            await rates.request_decided("tax", "101", True, outcome)
        await rates.request_decided("tax", "101", False, "closed")
        assert await watch.check() == [], "two requests are too few to judge"
        await rates.request_decided("tax", "101", True, "answered")
        window = await rates.window("department", "tax", 1)
        assert (window.answered, window.requests) == (1, 3)
        assert (await rates.today("department", "tax", in_hours=False)).requests == 1
        assert await watch.check() == ["raised:tax"]
        assert await watch.check() == [], "raised once"
        assert b"tax" in await redis.hgetall(ALERTS)

        time.advance(30)  # still inside the minute: one answer is not a recovery
        await rates.request_decided("tax", "101", True, "answered")
        assert await watch.check() == []
        time.advance(45)  # the failures have left the window
        await rates.request_decided("tax", "102", True, "answered")
        assert (await rates.window("department", "tax", 1)).requests == 2
        assert await watch.check() == ["cleared:tax"]
        assert await redis.hgetall(ALERTS) == {}
        board = await rates.board()
        assert board[0]["department"] == "tax"
        assert board[0]["today"] == {"answered": 3, "requests": 5, "rate": 0.6}
        await redis.aclose()

    with clock.use(clock.ManualClock(1_795_400_000.0)) as time:
        asyncio.run(run(time))
