"""Benchmark: the enterprise registry at Beijing's scale and the front door's lookup.

Loads 1.65 million enterprises (10,000 of them on the red list) from one CSV through the
real import path into a fresh database, rebuilds the Redis caller directory, then measures
caller lookups: through the Redis directory (what the front door does) against the
baseline of asking SQL directly, in the same run.

    python -m benchmarks.redlist_lookup [--firms 1650000] [--red 10000] [--lookups 50000]

Needs Redis (REDIS_URL, or the installation's private one is started) and writes into a
scratch directory (``--work``, default a temporary one).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import select

from core.db import make_engine, sessions
from core.paths import Paths
from hotline.redis_server import PrivateRedis
from hotline.schema import migrate
from redlist import directory
from redlist.models import Enterprise, EnterprisePhone, RedListEntry
from redlist.service import RedList
from redlist.synthetic import csv_bytes, landline, rows


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p99 and p99.9 in microseconds."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6

    return pick(0.50), pick(0.99), pick(0.999)


def _row(path: str, latencies: list[float], count: int, elapsed: float) -> str:
    p50, p99, p999 = _percentiles(latencies)
    return f"  {path:<40}{p50:>9.0f}{p99:>9.0f}{p999:>10.0f}{count / elapsed:>12,.0f}"


def _numbers(firms: int, count: int) -> list[str]:
    """Callers: 80 % registered firms, 20 % unknown numbers."""
    rng = random.Random(12345)
    return [
        landline(rng.randrange(firms)) if rng.random() < 0.8 else f"139{rng.randrange(10**8):08d}"
        for _ in range(count)
    ]


async def _redis_lookups(
    url: str, numbers: list[str], concurrency: int
) -> tuple[list[float], float]:
    redis = AsyncRedis.from_url(url)
    today = date.today()
    latencies: list[float] = []

    async def worker(share: list[str]) -> None:
        for number in share:
            started = time.perf_counter()
            await directory.lookup(redis, number, today)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(numbers[i::concurrency]) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    await redis.aclose()
    return latencies, elapsed


def _sql_lookups(red_list: RedList, numbers: list[str]) -> tuple[list[float], float]:
    latencies = []
    query = (
        select(Enterprise.id, Enterprise.name, RedListEntry.tier)
        .join(EnterprisePhone, EnterprisePhone.enterprise_id == Enterprise.id)
        .outerjoin(RedListEntry, RedListEntry.enterprise_id == Enterprise.id)
    )
    started = time.perf_counter()
    with red_list.sessions() as session:
        for number in numbers:
            begun = time.perf_counter()
            session.execute(query.where(EnterprisePhone.number == number)).first()
            latencies.append(time.perf_counter() - begun)
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=1_650_000)
    parser.add_argument("--red", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=50_000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'bench.db'}"
    migrate(url)
    server = PrivateRedis(Paths(state=work / "state", cache=work / "cache"))
    redis_url = server.up()
    try:
        _run(args, work, url, redis_url)
    finally:
        server.down()


def _run(args: argparse.Namespace, work: Path, url: str, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    red_list = RedList(sessions(make_engine(url)), redis, "21", ZoneInfo("Asia/Shanghai"))

    print(f"registry: {args.firms:,} firms, {args.red:,} on the red list (SQLite at {work})")
    started = time.perf_counter()
    data = csv_bytes(list(rows(args.firms, red_every=max(1, args.firms // args.red))))
    print(f"  CSV generated: {len(data) / 1e6:,.0f} MB in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    summary = red_list.import_csv(data, actor="benchmark")
    seconds = time.perf_counter() - started
    print(f"  full import (check every row, write SQL, update the directory): {seconds:.1f} s")
    print(f"    {summary}")
    started = time.perf_counter()
    count = red_list.rebuild_directory()
    seconds = time.perf_counter() - started
    print(f"  directory rebuilt from SQL: {count:,} numbers in {seconds:.1f} s")
    started = time.perf_counter()
    again = red_list.import_csv(data, actor="benchmark")
    seconds = time.perf_counter() - started
    print(f"  re-import of the same file ({again.changes} changes): {seconds:.1f} s")

    numbers = _numbers(args.firms, args.lookups)
    print(f"\ncaller lookups ({args.lookups:,} numbers, 80 % registered):")
    print(f"  {'path':<40}{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}{'lookups/s':>12}")
    for concurrency in (1, 32):
        latencies, elapsed = asyncio.run(_redis_lookups(redis_url, numbers, concurrency))
        print(_row(f"Redis directory, {concurrency} in flight", latencies, len(numbers), elapsed))
    latencies, elapsed = _sql_lookups(red_list, numbers)
    print(_row("baseline: SQL join per call", latencies, len(numbers), elapsed))
    print(f"  (mean SQL {statistics.mean(latencies) * 1e6:.0f} µs)")


if __name__ == "__main__":
    main()
