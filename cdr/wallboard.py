"""What the supervisors' wallboard shows now: callers waiting (tier, wait), seats and their
states, each department's connect rate against the target, the alerts, today's totals."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdr.live import LiveRates, current_alerts, system_alerts
from cdr.models import CallLeg, QueueVisit
from cdr.rollups import QueueHour, TransferHour
from core import clock
from core.site import Site
from core.worktime import CALENDAR
from queues.line import WaitingLine
from queues.seats import SeatPool
from redlist.models import Enterprise


async def snapshot(
    site: Site, redis: Redis, records: sessionmaker[Session], rates: LiveRates
) -> dict[str, Any]:
    """The wallboard's data, as JSON-ready values."""
    now = clock.time()
    lines = {}
    for queue in site.queues:
        line = WaitingLine(redis, queue.name, queue.red_list_head_start)
        ringing = {_text(c) for c in await redis.hkeys(line.ringing)}
        lines[queue.name] = [(caller, caller in ringing) for caller in await line.callers()]
    details = await asyncio.to_thread(
        _waiting_details, records, [c for callers in lines.values() for c, _ in callers]
    )
    waiting = [
        {
            "queue": queue,
            "position": position,
            "caller": caller,
            "ringing": ringing,
            **details.get(caller, {}),
            "waited": round(now - details[caller]["since"]) if caller in details else None,
        }
        for queue, callers in lines.items()
        for position, (caller, ringing) in enumerate(callers, start=1)
    ]
    states = await SeatPool(redis).states(seat.id for seat in site.seats)
    names = {department.code: department.name for department in site.departments}
    connect = []
    for row in await rates.board("department"):
        code = str(row["department"])
        connect.append({**row, "name": names.get(code, code)})
    today = clock.now().astimezone(site.timezone).date()
    return {
        "at": clock.now().astimezone(site.timezone).isoformat(timespec="seconds"),
        "target": site.reports.connect_target,
        "waiting": waiting,
        "seats": [
            {"id": seat.id, "name": seat.name, "queues": seat.queues, **states[seat.id]}
            for seat in site.seats
        ],
        "connect_rate": connect,
        "alerts": await current_alerts(redis),
        "system_alerts": await system_alerts(redis),
        "calendar_missing": CALENDAR.missing_years(today),
        "today": await asyncio.to_thread(_today, records, today),
    }


def _waiting_details(records: sessionmaker[Session], callers: list[str]) -> dict[str, Any]:
    if not callers:
        return {}
    with records() as session:
        rows = session.execute(
            select(CallLeg.caller_channel, CallLeg.caller_number, CallLeg.tier, Enterprise.name)
            .outerjoin(Enterprise, Enterprise.id == CallLeg.enterprise_id)
            .where(CallLeg.caller_channel.in_(callers))
        ).all()
        joined = dict(
            session.execute(
                select(QueueVisit.caller_channel, func.max(QueueVisit.entered_at))
                .where(QueueVisit.caller_channel.in_(callers), QueueVisit.left_at.is_(None))
                .group_by(QueueVisit.caller_channel)
            ).all()
        )
    return {
        channel: {
            "number": number,
            "tier": tier,
            "company": company,
            "since": joined[channel].timestamp() if channel in joined else clock.time(),
        }
        for channel, number, tier, company in rows
    }


def _today(records: sessionmaker[Session], day: Any) -> dict[str, Any]:
    with records() as session:
        queue = session.execute(
            select(
                func.sum(QueueHour.offered),
                func.sum(QueueHour.answered),
                func.sum(QueueHour.abandoned),
                func.sum(QueueHour.short_abandoned),
            ).where(QueueHour.day == day)
        ).one()
        transfer = session.execute(
            select(func.sum(TransferHour.requests), func.sum(TransferHour.answered)).where(
                TransferHour.day == day, TransferHour.in_hours.is_(True)
            )
        ).one()
    offered, answered, abandoned, short = (int(v or 0) for v in queue)
    requests, connected = (int(v or 0) for v in transfer)
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": short,
        "transfer_requests": requests,
        "transfers_answered": connected,
    }


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
