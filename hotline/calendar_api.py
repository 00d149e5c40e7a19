"""``/api/calendar``: the public holidays and make-up working days an admin enters for a year
the ``chinese-calendar`` package does not know yet (admin token; every change audited).

A change is read at once by the web app and, through the commands channel, by the
application processes; the record writers read it before they count a work order's
deadline. What the line uses for a day: the day entered here, else the site file's
``[calendar]``, else the package, else Monday to Friday.

(No ``from __future__ import annotations``: FastAPI must see the ``Actor`` dependency.)
"""

import asyncio
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.calendar import CalendarChange, CalendarDay, enter_day, install
from core.keys import COMMANDS
from core.site import Site
from core.worktime import CALENDAR
from transfer.routes import PLAN_CHANGED


class DayIn(BaseModel):
    """What a day is: a working day (a make-up day on a weekend) or a holiday."""

    working: bool
    name: str = Field(default="", max_length=80, pattern=r"^[^\x00-\x1f\x7f]*$")


def calendar_router(
    site: Site, sessions: sessionmaker[Session], redis: Redis, actor: Callable[..., str]
) -> APIRouter:
    """The calendar's routes (``actor`` checks the admin token and names who acts)."""
    api = APIRouter(prefix="/api/calendar", tags=["calendar"])
    Actor = Annotated[str, Depends(actor)]

    def day_of(text: str) -> date:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return date.fromisoformat(text)
        except ValueError:
            pass
        raise HTTPException(422, f"'{text}' is not a day like 2027-02-06")

    def change(day: date, working: bool | None, name: str, who: str) -> bool:
        with sessions() as session:
            changed = enter_day(session, day, working, name, who, clock.now())
            session.commit()
            install(site, session)
        return changed

    async def tell_the_processes() -> None:
        await redis.publish(COMMANDS, json.dumps({"action": PLAN_CHANGED}))

    @api.get("")
    async def year(_: Actor, year: int | None = None) -> dict[str, Any]:
        """A year's entered days (the site file's and the API's), whether its holidays are
        known, and the years that should be known by now and are not."""
        today = clock.now().astimezone(site.timezone).date()
        chosen = year or today.year

        def read() -> dict[str, Any]:
            with sessions() as session:
                install(site, session)
                stored = session.execute(select(CalendarDay).order_by(CalendarDay.day)).scalars()
                api_days = {row.day: row for row in stored if row.day.year == chosen}
            site_days = {d: w for d, w in site.calendar.days().items() if d.year == chosen}
            days = [
                {
                    "day": day.isoformat(),
                    "working": api_days[day].working if day in api_days else site_days[day],
                    "name": api_days[day].name if day in api_days else "",
                    "source": "api" if day in api_days else "site file",
                }
                for day in sorted(set(api_days) | set(site_days))
            ]
            return {
                "year": chosen,
                "known": CALENDAR.knows(chosen),
                "days": days,
                "missing_years": CALENDAR.missing_years(today),
            }

        return await asyncio.to_thread(read)

    @api.put("/{day}")
    async def put_day(day: str, body: DayIn, who: Actor) -> dict[str, Any]:
        """Enter a day as a holiday (``working: false``) or a make-up working day."""
        chosen = day_of(day)
        changed = await asyncio.to_thread(change, chosen, body.working, body.name, who)
        if changed:
            await tell_the_processes()
        return {"day": chosen.isoformat(), "working": body.working, "changed": changed}

    @api.delete("/{day}")
    async def delete_day(day: str, who: Actor) -> dict[str, Any]:
        """Remove what was entered for a day (the site file's or the package's answer applies
        again)."""
        chosen = day_of(day)
        changed = await asyncio.to_thread(change, chosen, None, "", who)
        if not changed:
            raise HTTPException(404, f"nothing was entered for {chosen} through the API")
        await tell_the_processes()
        return {"day": chosen.isoformat(), "changed": True}

    @api.get("/changes")
    async def changes(_: Actor, limit: int = 100) -> list[dict[str, Any]]:
        """The audit of the entered days, newest first."""

        def read() -> list[dict[str, Any]]:
            with sessions() as session:
                rows = session.execute(
                    select(CalendarChange)
                    .order_by(CalendarChange.id.desc())
                    .limit(max(1, min(limit, 1000)))
                ).scalars()
                return [
                    {
                        "at": row.at.isoformat(),
                        "actor": row.actor,
                        "day": row.day.isoformat(),
                        "before": row.before,
                        "after": row.after,
                    }
                    for row in rows
                ]

        return await asyncio.to_thread(read)

    return api
