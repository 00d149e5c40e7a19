"""The reports API, the call journeys, the wallboard (JSON and WebSocket) and /metrics,
mounted by hotline.web. Admins and supervisors may read them; a seat's console token may
not.

(No ``from __future__ import annotations``: FastAPI must see the ``Viewer`` dependency.)
"""

import asyncio
import contextlib
import csv
import io
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse, Response
from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from cdr import journeys, metrics, reports
from cdr.live import LiveRates
from cdr.reports import Period, ReportError
from cdr.wallboard import snapshot
from core import clock
from core.events import EVENTS
from core.site import Site

log = logging.getLogger(__name__)

PUSH_AT_LEAST_EVERY = 2.0
"""Seconds between wallboard pushes when nothing happens."""
HELLO_WITHIN = 5.0
"""Seconds a wallboard socket has to send its token before it is closed."""
PUSH_AT_MOST_EVERY = 0.3
"""Seconds the wallboard gathers events before pushing again."""


def router(
    site: Site,
    records: sessionmaker[Session],
    redis: Redis,
    viewer_of: Any,
    token_is_viewer: Any,
) -> APIRouter:
    """Report routes for one site. ``viewer_of`` authenticates a request (admin or
    supervisor); ``token_is_viewer(token)`` checks the token a WebSocket brings."""
    api = APIRouter(tags=["reports"])
    Viewer = Annotated[str, Depends(viewer_of)]
    rates = LiveRates(redis, site.timezone)
    zone = site.timezone

    def period(first: str | None, last: str | None) -> Period:
        today = clock.now().astimezone(zone).date()
        try:
            return Period.parse(first, last, zone, today)
        except ReportError as error:
            raise HTTPException(422, str(error)) from error

    def read(work: Any, *args: Any) -> Any:
        with records() as session:
            try:
                return work(session, *args)
            except ReportError as error:
                raise HTTPException(422, str(error)) from error

    From = Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD")]
    To = Annotated[str | None, Query(description="last local day, YYYY-MM-DD (included)")]

    @api.get("/api/reports")
    def list_reports(_: Viewer) -> list[dict[str, str]]:
        """The reports there are."""
        return [{"report": kind.name, "about": kind.about} for kind in reports.REPORTS.values()]

    @api.get("/api/reports/calls")
    def calls_behind(
        _: Viewer,
        figure: str,
        first: From = None,
        to: To = None,
        department: str | None = None,
        matter: str | None = None,
        number: str | None = None,
        outcome: str | None = None,
        in_hours: str | None = None,
        hour: str | None = None,
        day: str | None = None,
        queue: str | None = None,
        red_list: str | None = None,
        seat: str | None = None,
        rating: str | None = None,
        state: str | None = None,
        level: str | None = None,
        kind: str | None = None,
        resolution: str | None = None,
    ) -> dict[str, Any]:
        """The calls behind a figure of a report (each row's ``calls`` link)."""
        filters = {
            name: value
            for name, value in {
                "department": department, "matter": matter, "number": number,
                "outcome": outcome, "in_hours": in_hours, "hour": hour, "day": day,
                "queue": queue, "red_list": red_list, "seat": seat, "rating": rating,
                "state": state, "level": level, "kind": kind, "resolution": resolution,
            }.items()
            if value is not None
        }  # fmt: skip
        return dict(read(journeys.calls_behind, figure, period(first, to), filters))

    @api.get("/api/reports/{name}", response_model=None)
    def report(
        name: str,
        _: Viewer,
        first: From = None,
        to: To = None,
        by: Annotated[
            str, Query(description="connect-rate: department, matter, hour or day")
        ] = "department",
        department: Annotated[
            str | None, Query(description="failed-attempts: one department's dials")
        ] = None,
        format: Annotated[str, Query(description="json or csv")] = "json",
    ) -> dict[str, Any] | Response:
        """One report for a period of local days: JSON (with definitions and drill-down
        links) or CSV."""
        if name not in reports.REPORTS:
            raise HTTPException(404, f"no report {name!r}; there are: {', '.join(reports.REPORTS)}")
        when = period(first, to)
        options = reports.Options(by, department, site.reports.service_level_seconds)
        result = read(reports.make_report, name, when, options)
        if format == "csv":
            buffer = io.StringIO()
            csv.writer(buffer).writerows(reports.as_csv_rows(result))
            filename = f"{name}-{when.first}-{when.last}.csv"
            return Response(
                buffer.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        if format != "json":
            raise HTTPException(422, "format is json or csv")
        return dict(result.as_json())

    @api.get("/api/journeys")
    def search_calls(
        _: Viewer,
        first: From = None,
        to: To = None,
        number: str | None = None,
        company: str | None = None,
        seat: str | None = None,
        outcome: str | None = None,
        limit: Annotated[int, Query(ge=1, le=journeys.LIMIT)] = 100,
    ) -> dict[str, Any]:
        """Calls of a period (the last 7 days unless dates are given), newest first, by
        caller number (any written form), company (name or credit code), seat, outcome."""
        today = clock.now().astimezone(zone).date()
        try:
            when, note = journeys.search_period(first, to, zone, today)
        except ReportError as error:
            raise HTTPException(422, str(error)) from error
        found = read(
            journeys.search, when, number, company, seat, outcome, limit, site.site.area_code
        )
        return {**found, "period": {**when.as_query(), "timezone": zone.key, "note": note}}

    @api.get("/api/journeys/{call}")
    def one_journey(call: str, _: Viewer) -> dict[str, Any]:
        """One call from end to end, by its linkedid or its caller channel."""
        found = read(journeys.journey, call, zone)
        if found is None:
            raise HTTPException(404, f"no call {call!r} recorded")
        return dict(found)

    @api.get("/api/live")
    async def live(_: Viewer) -> dict[str, Any]:
        """The wallboard now (what the dashboard's WebSocket pushes)."""
        return await snapshot(site, redis, records, rates)

    @api.get("/metrics", response_class=PlainTextResponse)
    async def prometheus(_: Viewer) -> str:
        """Prometheus metrics (send the supervisor token as a bearer token)."""
        out = metrics.Exposition()
        await asyncio.to_thread(read, metrics.from_records, out)
        metrics.from_live(await snapshot(site, redis, records, rates), out)
        return out.text()

    @api.websocket("/ws/wallboard")
    async def wallboard(socket: WebSocket) -> None:
        """The wallboard, pushed: a snapshot at once, again after events, at least every
        two seconds. The browser cannot send headers, and a token in the address would be
        written to access logs: the first message must be ``{"token": "..."}``."""
        await socket.accept()
        try:
            hello = await asyncio.wait_for(socket.receive_text(), HELLO_WITHIN)
            token = str(json.loads(hello).get("token", ""))
        except (TimeoutError, ValueError, AttributeError, WebSocketDisconnect):
            token = ""
        if not token_is_viewer(token):
            await socket.close(code=4401, reason="a supervisor or admin token is needed")
            return
        events = redis.pubsub()
        await events.subscribe(EVENTS)
        try:
            while True:
                await socket.send_text(
                    json.dumps(await snapshot(site, redis, records, rates), ensure_ascii=False)
                )
                await _quiet_until_event(events)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await events.unsubscribe(EVENTS)
                await events.aclose()

    return api


async def _quiet_until_event(events: Any) -> None:
    """Wait for an event (then a moment more, to gather a burst), or the longest pause."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PUSH_AT_LEAST_EVERY
    while loop.time() < deadline:
        message = await events.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            await asyncio.sleep(PUSH_AT_MOST_EVERY)
            return
