"""Benchmark: the company pane for a firm with a long history, beside the database's own
time for the same rows.

Builds a migrated database (SQLite in a temporary directory, or ``--url``) holding
``--firms`` companies with ``--calls`` calls each spread over a year (a third classified,
one in five recorded, one in ten transferred) and ``--orders`` work orders each (a return
visit on the answered ones), then reads the pane of one firm ``--runs`` times through
:meth:`desk.service.Desk.company` — what the console's ``/company`` route does — and, in the
same run, the same rows with the pane's queries as plain SQL (no objects, no shaping): what
the database alone takes.

    python -m benchmarks.company_pane [--firms 500] [--calls 200] [--orders 50] [--runs 200]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.common import percentile_ms
from cdr.models import CallLeg
from core.db import make_engine, sessions
from desk.models import CallClassification
from desk.service import Desk
from hotline.schema import migrate
from recording.models import Recording
from redlist.models import Enterprise, RedListEntry
from return_visit.models import ReturnVisit
from transfer.models import Department, Matter, TransferRequest, WorkOrder

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")

RAW_QUERIES = [
    "SELECT count(*) FROM call_legs WHERE enterprise_id = :firm",
    "SELECT * FROM call_legs LEFT JOIN call_classifications USING (caller_channel)"
    " WHERE enterprise_id = :firm ORDER BY entered_at DESC LIMIT 30",
    "SELECT * FROM recordings WHERE state = 'recorded' AND caller_channel IN (SELECT"
    " caller_channel FROM call_legs WHERE enterprise_id = :firm ORDER BY entered_at DESC"
    " LIMIT 30)",
    "SELECT * FROM transfer_requests WHERE caller_channel IN (SELECT caller_channel FROM"
    " call_legs WHERE enterprise_id = :firm ORDER BY entered_at DESC LIMIT 30)",
    "SELECT * FROM work_orders LEFT JOIN return_visits ON return_visits.order_number ="
    " work_orders.number WHERE work_orders.enterprise_id = :firm ORDER BY"
    " work_orders.created_at DESC LIMIT 30",
]
"""The pane's reads as plain SQL (the ones that grow with the firm's history)."""


def fill(factory: sessionmaker[Session], firms: int, calls: int, orders: int) -> None:
    """``firms`` companies, each with ``calls`` calls and ``orders`` orders."""
    rng = random.Random(7)
    with factory.begin() as session:
        session.add(Department(code="tax", name="Tax", numbers=["1"], days="working-days",
                               periods="09:00-17:00"))  # fmt: skip
        session.add(Matter(code="101", name="VAT invoices", department_code="tax"))
        for firm in range(1, firms + 1):
            company = Enterprise(uscc=f"91310000{firm:010d}", name=f"企业{firm}",
                                 district="浦东新区", industry="软件", created_at=NOW,
                                 updated_at=NOW)  # fmt: skip
            if firm % 2 == 0:
                company.red_list = RedListEntry(tier="key-firm", reason="重点", added_by="b",
                                                added_at=NOW)  # fmt: skip
            session.add(company)
        session.flush()
        for firm in range(1, firms + 1):
            for n in range(calls):
                call = f"{firm}.{n}"
                at = NOW - timedelta(minutes=rng.randrange(365 * 24 * 60))
                session.add(CallLeg(
                    caller_channel=call, caller_number=f"0215{firm:07d}", called_number="12345",
                    seat_id="1001", entered_at=at, answered_at=at, ended_at=at,
                    talk_seconds=60.0, enterprise_id=firm, queue="enterprise",
                    outcome="caller-hangup",
                ))  # fmt: skip
                if n % 3 == 0:
                    session.add(CallClassification(
                        caller_channel=call, seat_id="1001", kind="consultation",
                        matter_code="101", resolution="direct", knowledge=[], note="",
                        classified_at=at, wrap_up_seconds=5.0, late=False,
                    ))  # fmt: skip
                if n % 5 == 0:
                    session.add(Recording(caller_channel=call, name=f"r/{call}", started_at=at,
                                          state="recorded"))  # fmt: skip
                if n % 10 == 0:
                    session.add(TransferRequest(
                        key=f"t{call}", caller_channel=call, matter_code="101",
                        department_code="tax", requested_at=at, in_hours=True, via="key",
                        outcome="answered",
                    ))  # fmt: skip
            for n in range(orders):
                at = NOW - timedelta(days=rng.randrange(365))
                number = f"WO{firm:05d}-{n:04d}"
                replied = n % 2 == 0
                session.add(WorkOrder(
                    number=number, department_code="tax", matter_code="101", level="7-days",
                    reason="desk", state="replied" if replied else "open", enterprise_id=firm,
                    created_at=at, deadline_at=at + timedelta(days=9),
                ))  # fmt: skip
                if replied:
                    session.add(ReturnVisit(
                        order_number=number, department_code="tax", enterprise_id=firm,
                        state="done", created_at=at, due_at=at, due_by=at, responded=True,
                        resolved=True, satisfaction="satisfied",
                    ))  # fmt: skip


def timed(read: Callable[[], object], runs: int) -> list[float]:
    """Seconds each of ``runs`` reads took."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        read()
        samples.append(time.perf_counter() - started)
    return samples


def line(label: str, samples: list[float]) -> str:
    figures = [percentile_ms(samples, q) for q in (0.5, 0.95, 1.0)]
    return f"| {label} | " + " | ".join(f"{figure:.1f} ms" for figure in figures) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=500)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--url", help="a database to fill (default: SQLite in a temp dir)")
    parser.add_argument("--without-indexes", action="store_true",
                        help="drop the indexes on the company (what they buy)")  # fmt: skip
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        url = options.url or f"sqlite:///{Path(work) / 'pane.db'}"
        migrate(url)
        engine = make_engine(url)
        factory = sessions(engine)
        started = time.perf_counter()
        fill(factory, options.firms, options.calls, options.orders)
        print(f"{options.firms} firms × {options.calls} calls and {options.orders} orders "
              f"written in {time.perf_counter() - started:.1f} s")  # fmt: skip
        if options.without_indexes:
            with engine.begin() as connection:
                for index in ("ix_call_legs_enterprise_id", "ix_work_orders_enterprise_id"):
                    connection.execute(text(f"DROP INDEX {index}"))
        desk = Desk(factory, SHANGHAI, lambda queue: 10.0)
        firm = options.firms // 2
        pane = desk.company(firm, "", "1001", NOW)
        print(f"the pane of firm {firm}: {pane['calls_made']} calls made, "
              f"{len(pane['calls'])} shown, {len(pane['orders'])} orders, "
              f"{len(pane['transfers'])} transfers")  # fmt: skip

        def raw() -> None:
            with engine.connect() as connection:
                for query in RAW_QUERIES:
                    connection.execute(text(query), {"firm": firm}).fetchall()

        through_desk = timed(lambda: desk.company(firm, "", "1001", NOW), options.runs)
        by_sql = timed(raw, options.runs)
        print("| read | p50 | p95 | max |\n| --- | --- | --- | --- |")
        print(line("company pane (`Desk.company`)", through_desk))
        print(line("the same rows, plain SQL", by_sql))
        engine.dispose()


if __name__ == "__main__":
    main()
