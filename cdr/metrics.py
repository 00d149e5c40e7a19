"""The Prometheus ``/metrics`` text: counters summed from the rollups (they only grow,
until retention — which keeps the rollups), gauges read live from Redis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdr.models import AsteriskCdr, CallLeg
from cdr.rollups import AttemptHour, QueueHour, TransferHour


class Exposition:
    """Builds the text format: a HELP and TYPE line per family, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, meaning: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self.lines += [f"# HELP {name} {meaning}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            inside = ",".join(f'{key}="{_escape(text)}"' for key, text in sorted(labels.items()))
            self.lines.append(f"{name}{{{inside}}} {value}" if inside else f"{name} {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def from_records(session: Session, out: Exposition) -> None:
    """The counters that come from SQL."""
    queue = session.execute(
        select(
            QueueHour.queue,
            func.sum(QueueHour.offered),
            func.sum(QueueHour.answered),
            func.sum(QueueHour.abandoned) + func.sum(QueueHour.short_abandoned),
        ).group_by(QueueHour.queue)
    ).all()
    for index, (name, meaning) in enumerate(
        (
            ("hotline_queue_offered_total", "Callers who waited in a queue while it was open."),
            ("hotline_queue_answered_total", "Callers answered by a seat."),
            ("hotline_queue_abandoned_total", "Callers who hung up while waiting."),
        ),
        start=1,
    ):
        out.family(name, "counter", meaning, (({"queue": q[0]}, int(q[index] or 0)) for q in queue))
    attempts = session.execute(
        select(AttemptHour.outcome, func.sum(AttemptHour.attempts)).group_by(AttemptHour.outcome)
    ).all()
    out.family(
        "hotline_transfer_attempts_total",
        "counter",
        "Dials of specialists' numbers, by outcome.",
        (({"outcome": outcome}, int(n or 0)) for outcome, n in attempts),
    )
    requests = session.execute(
        select(
            TransferHour.department_code,
            TransferHour.in_hours,
            func.sum(TransferHour.requests),
            func.sum(TransferHour.answered),
        ).group_by(TransferHour.department_code, TransferHour.in_hours)
    ).all()
    out.family(
        "hotline_transfer_requests_total",
        "counter",
        "Transfer requests, by department and whether it was open.",
        (
            ({"department": d, "in_hours": str(bool(h)).lower()}, int(n or 0))
            for d, h, n, _ in requests
        ),
    )
    out.family(
        "hotline_transfer_answered_total",
        "counter",
        "Transfer requests a specialist answered, by department and whether it was open.",
        (
            ({"department": d, "in_hours": str(bool(h)).lower()}, int(a or 0))
            for d, h, _, a in requests
        ),
    )
    calls = session.execute(select(CallLeg.outcome, func.count()).group_by(CallLeg.outcome)).all()
    out.family(
        "hotline_calls_total",
        "counter",
        "Calls that reached the hotline's application, by how they ended (none: in progress).",
        (({"outcome": outcome or "in-progress"}, int(n)) for outcome, n in calls),
    )
    cdrs = session.execute(select(func.count()).select_from(AsteriskCdr)).scalar_one()
    out.family("hotline_asterisk_cdrs_total", "counter", "Asterisk CDRs stored.", [({}, cdrs)])


def from_live(board: dict[str, Any], out: Exposition) -> None:
    """The gauges that come from the wallboard's snapshot."""
    waiting: dict[str, int] = {}
    for caller in board["waiting"]:
        waiting[caller["queue"]] = waiting.get(caller["queue"], 0) + 1
    out.family(
        "hotline_queue_waiting",
        "gauge",
        "Callers waiting in each queue now.",
        (({"queue": queue}, n) for queue, n in sorted(waiting.items())),
    )
    states: dict[str, int] = {}
    for seat in board["seats"]:
        states[seat["state"]] = states.get(seat["state"], 0) + 1
    out.family(
        "hotline_seats",
        "gauge",
        "Seats by state now.",
        (({"state": state}, n) for state, n in sorted(states.items())),
    )
    samples = []
    for row in board["connect_rate"]:
        for window in ("15m", "1h", "today"):
            value = row[window]["rate"]
            if value is not None:
                samples.append(({"department": row["department"], "window": window}, value))
    out.family(
        "hotline_connect_rate",
        "gauge",
        "In-hours transfer connect rate (answered ÷ requests) over a window.",
        samples,
    )
    out.family(
        "hotline_connect_target", "gauge", "The connect-rate target.", [({}, board["target"])]
    )
    out.family(
        "hotline_alerts", "gauge", "Connect-rate alerts raised now.", [({}, len(board["alerts"]))]
    )
