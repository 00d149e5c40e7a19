"""Benchmark: a year of a whole city's 12345 in the reports — details against rollups.

Fills a scratch SQLite database with a year of records: 11 million stays in a queue (one
per call) and 1 million transfer requests, with the hourly rollups the recorders keep as
calls end (summed here in bulk from the same generated records). Then times, in the same
run, the year's connect-rate report (by department and by hour of day) and queue report
computed from the details and from the rollups, checks both give the same figures, and
times what keeping the rollups current costs each decided transfer request.

    python -m benchmarks.report_speed [--calls 11000000] [--transfers 1000000] [--work DIR]

A ``--work`` directory that already holds the database is reused (no refill).
"""

from __future__ import annotations

import argparse
import functools
import random
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from cdr import reports
from cdr.rollups import Rollups
from core.db import make_engine, sessions
from core.outcomes import TransferOutcome
from core.site import load_site
from hotline.schema import migrate
from transfer.models import TransferRequest
from transfer.plan import TransferPlan
from transfer.recorder import TransferRecords
from transfer.records import TransferDecided, TransferRequested

SITE = Path(__file__).resolve().parent.parent / "sites" / "example.toml"
ZONE = ZoneInfo("Asia/Shanghai")
YEAR = date(2025, 1, 1)
OUTCOMES = (("answered", 0.906), ("failed", 0.06), ("cancelled", 0.02), ("abandoned", 0.014))
TRANSFER_FIGURES = ("requests", "answered", "answered_forward", "failed", "closed", "cancelled",
                    "abandoned")  # fmt: skip
QUEUE_OUTCOMES = (("answered", 0.86), ("abandoned", 0.08), ("max-wait", 0.02), ("closed", 0.04))


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _moments(count: int, rng: random.Random) -> list[datetime]:
    """``count`` moments over the year, in office-ish hours (local), in order."""
    per_day = count / 365
    moments = []
    for day in range(365):
        start = datetime.combine(YEAR + timedelta(days=day), datetime.min.time(), ZONE)
        n = int(per_day * (day + 1)) - int(per_day * day)
        seconds = sorted(rng.triangular(7 * 3600, 21 * 3600, 11 * 3600) for _ in range(n))
        moments += [start + timedelta(seconds=s) for s in seconds]
    return moments


def _pick(options: tuple[tuple[str, float], ...], rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for name, share in options:
        total += share
        if roll < total:
            return name
    return options[-1][0]


def fill(db: Path, calls: int, transfers: int) -> dict[str, float]:
    """Write the year into ``db`` (already migrated); seconds each part took."""
    rng = random.Random(12345)
    site = load_site(SITE)
    matters = [(m.code, m.department) for m in site.matters]
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    took: dict[str, float] = {}

    started = time.perf_counter()
    transfer_hours: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 7)
    batch = []
    for n, at in enumerate(_moments(transfers, rng)):
        matter, department = rng.choice(matters)
        in_hours = rng.random() < 0.95
        outcome = _pick(OUTCOMES, rng) if in_hours else "closed"
        forward = outcome == "answered" and rng.random() < 0.1
        batch.append(
            (n + 1, f"caller-{n}", f"call-{n}", "1001", matter, department, _utc_text(at),
             in_hours, "keypad", outcome, _utc_text(at + timedelta(seconds=30)))
        )  # fmt: skip
        local = at.astimezone(ZONE)
        figures = transfer_hours[
            (local.date().isoformat(), local.hour, department, matter, in_hours)
        ]
        figures[0] += 1
        figures[1 + ("answered", "answered_forward", "failed", "closed", "cancelled",
                     "abandoned").index(outcome)] += 1  # fmt: skip
        figures[2] += forward
        if len(batch) >= 50_000:
            _insert_requests(connection, batch)
            batch = []
    _insert_requests(connection, batch)
    connection.executemany(
        "INSERT INTO transfer_hours VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(*key, *figures) for key, figures in transfer_hours.items()],
    )
    names = ", ".join(TRANSFER_FIGURES)
    sums = ", ".join(f"SUM({name})" for name in TRANSFER_FIGURES)
    connection.execute(
        f"INSERT INTO transfer_days (day, department_code, matter_code, in_hours, {names}) "
        f"SELECT day, department_code, matter_code, in_hours, {sums} FROM transfer_hours "
        "GROUP BY day, department_code, matter_code, in_hours"
    )
    connection.commit()
    took["transfers"] = time.perf_counter() - started

    started = time.perf_counter()
    queue_hours: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0] * 10)
    visits: list[tuple[Any, ...]] = []
    for n, at in enumerate(_moments(calls, rng)):
        queue = "enterprise" if rng.random() < 0.9 else "citizen"
        tier = "key-firm" if rng.random() < 0.1 else None
        outcome = _pick(QUEUE_OUTCOMES, rng)
        wait = 0.0 if outcome == "closed" else rng.expovariate(1 / 20)
        visits.append(
            (f"c{n}", queue, tier, _utc_text(at), _utc_text(at + timedelta(seconds=wait)),
             wait, outcome)
        )  # fmt: skip
        local = at.astimezone(ZONE)
        f = queue_hours[(local.date().isoformat(), local.hour, queue, tier is not None)]
        if outcome != "closed":
            f[0] += 1
        if outcome == "answered":
            f[1] += 1
            f[2] += wait <= 15
            f[3] += wait
        elif outcome == "abandoned":
            f[4 if wait >= 5 else 5] += 1
        else:
            f[6 if outcome == "max-wait" else 7] += 1
        if len(visits) >= 100_000:
            _insert_visits(connection, visits)
            visits = []
    _insert_visits(connection, visits)
    connection.executemany(
        "INSERT INTO queue_hours (day, hour, queue, red_list, offered, answered, answered_in_sl,"
        " wait_answered, abandoned, short_abandoned, max_wait, closed, failed, moved)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(*key, *figures) for key, figures in queue_hours.items()],
    )
    connection.commit()
    took["calls"] = time.perf_counter() - started
    connection.close()
    return took


def _insert_requests(connection: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
    connection.executemany(
        "INSERT INTO transfer_requests (id, caller_channel, linkedid, seat_id, matter_code,"
        " department_code, requested_at, in_hours, via, outcome, ended_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )


def _insert_visits(connection: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
    connection.executemany(
        "INSERT INTO queue_visits (caller_channel, queue, tier, entered_at, left_at,"
        " wait_seconds, outcome) VALUES (?,?,?,?,?,?,?)",
        batch,
    )


def _timed(
    factory: sessionmaker[Session], work: Callable[[Session], Any], repeat: int
) -> tuple[float, Any]:
    """Median seconds of ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        with factory() as session:
            started = time.perf_counter()
            result = work(session)
            times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _same(a: reports.Report, b: reports.Report, figures: tuple[str, ...]) -> bool:
    def pick(report: reports.Report) -> list[tuple[Any, ...]]:
        return [tuple(row.get(name) for name in figures) for row in report.rows]

    return pick(a) == pick(b)


class _NoRollups(Rollups):
    """The baseline: the recorder's writes without the rollup bump."""

    def transfer_finished(self, session: Session, request: TransferRequest) -> None:
        return None


def keeping_current(factory: sessionmaker[Session], count: int, rollups: Rollups) -> float:
    """Microseconds each decided transfer request costs, on the full database (the
    recorder's whole write: the request, then its outcome, with ``rollups``)."""
    site = load_site(SITE)
    plan = TransferPlan(factory, site.timezone)
    plan.seed(site)
    route = plan.route("101")
    assert route is not None
    records = TransferRecords(rollups, site.timezone)
    started = time.perf_counter()
    for n in range(count):  # one transaction each, as a writer with one call at a time does
        at = datetime.now(UTC)
        key = f"bench-{n}-{at.timestamp()}"
        with factory.begin() as session:
            records.apply(
                session,
                TransferRequested(
                    key, f"bench-{n}", None, "1001", "101", route.department, True, "api", at
                ),
            )
        with factory.begin() as session:
            records.apply(
                session, TransferDecided(key, TransferOutcome.ANSWERED, at, route.numbers[0])
            )
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=11_000_000)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hotline-bench-reports-"))
    db = work / "year.db"
    url = f"sqlite:///{db}"
    reuse = db.exists()
    migrate(url)
    if reuse:
        print(f"reusing {db} ({db.stat().st_size / 1e9:.2f} GB) from an earlier run")
    else:
        print(f"filling {db}: {args.calls:,} calls, {args.transfers:,} transfers …", flush=True)
        took = fill(db, args.calls, args.transfers)
        print(f"  filled in {took['transfers']:.0f} s (transfers) + {took['calls']:.0f} s "
              f"(calls); {db.stat().st_size / 1e9:.2f} GB")  # fmt: skip
    factory = sessions(make_engine(url))
    year = reports.Period(YEAR, YEAR + timedelta(days=364), ZONE)
    print(f"\nA year's report ({year.first} to {year.last}, {ZONE.key}), median of {args.repeat}:")
    print(f"  {'report':<36}{'details (s)':>12}{'rollups (s)':>12}{'same figures':>14}")
    checks = (
        ("connect rate by department", "department", ("department", "answered", "requests")),
        ("connect rate by hour of day", "hour", ("hour", "answered", "requests")),
    )
    for label, by, figures in checks:
        slow, from_details = _timed(
            factory,
            functools.partial(reports.connect_rate_from_details, period=year, by=by),
            args.repeat,
        )
        fast, from_rollups = _timed(
            factory, functools.partial(reports.connect_rate, period=year, by=by), args.repeat
        )
        same = _same(from_details, from_rollups, figures)
        print(f"  {label:<36}{slow:>12.3f}{fast:>12.4f}{same!s:>14}")
    slow, from_details = _timed(
        factory, lambda s: reports.queues_from_details(s, year), args.repeat
    )
    fast, from_rollups = _timed(factory, lambda s: reports.queues(s, year), args.repeat)
    rows = [row for row in from_rollups.rows if row["firms"] != "all"]
    same = [(r["offered"], r["answered"], r["abandoned"]) for r in from_details.rows] == [
        (r["offered"], r["answered"], r["abandoned"]) for r in rows
    ]
    print(f"  {'queues (red list and others)':<36}{slow:>12.3f}{fast:>12.4f}{same!s:>14}")
    bare = keeping_current(factory, 2000, _NoRollups(ZONE))
    kept = keeping_current(factory, 2000, Rollups(ZONE))
    print("\nRecording a transfer request (request, then outcome; SQLite, full database):")
    print(f"  without a rollup {bare:>8.0f} µs   with its rollup bump {kept:>8.0f} µs")


if __name__ == "__main__":
    main()
