"""The web app: the admin API (authenticated), served by ``hotline web``.

Every ``/api`` route needs ``Authorization: Bearer <token>``; the admin token is generated per
installation (``secrets.json``, or ``HOTLINE_ADMIN_TOKEN``). There is no open ``/docs``: the
OpenAPI schema is ``/api/openapi.json``, for the admin. A person can name themselves with
``X-Actor: alice`` so the audit log says who made a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets as tokens
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import cdr
from callback.book import CallbackBook
from cdr.api import router as reports_router
from core import calendar
from core.db import make_engine, sessions
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site, browser_account
from core.stores import async_redis, database_url
from desk.api import router as desk_router
from desk.service import Desk
from hotline.calendar_api import calendar_router
from hotline.schema import migrate
from knowledge.api import router as knowledge_router
from knowledge.importer import Plan as KnowledgePlan
from knowledge.service import KnowledgeBase
from queues.api import router as seats_router
from queues.seats import SeatPool
from recording import files as recording_files
from recording.api import router as recordings_router
from recording.service import Recordings
from redlist.api import router as redlist_router
from redlist.service import RedList
from return_visit.api import router as visits_router
from return_visit.book import ReturnVisits
from transfer.api import router as transfer_router
from transfer.console import router as console_router
from transfer.orders import WorkOrders
from transfer.plan import TransferPlan
from transfer.reminders import Reminders

log = logging.getLogger(__name__)
OVERDUE_CHECK_EVERY = 60.0
"""Seconds between checks for work orders past their deadline."""

_ACTOR = re.compile(r"[^\w.@-]")
DASHBOARD = Path(cdr.__file__).with_name("static") / "dashboard.html"
PHONE_LIBRARY = Path(__file__).parents[1] / "node_modules" / "sip.js" / "lib"
"""SIP.js as npm installs it (package-lock.json; ./run runs npm ci)."""


def create_app(site: Site, paths: Paths) -> FastAPI:
    """The FastAPI application for one installation."""
    secrets = Secrets.load_or_create(paths.secrets_file)
    migrate(database_url(paths))
    red_list = RedList.for_installation(site, paths)

    def actor(
        authorization: Annotated[str | None, Header()] = None,
        x_actor: Annotated[str | None, Header()] = None,
    ) -> str:
        _require_bearer(
            authorization,
            (secrets.admin_token,),
            "send 'Authorization: Bearer <admin token>' (see secrets.json)",
        )
        person = _ACTOR.sub("", x_actor or "")[:40]
        return f"admin:{person}" if person else "admin"

    redis = async_redis(paths)
    engine = make_engine(database_url(paths))
    session_factory = sessions(engine)
    plan = TransferPlan(session_factory, site.timezone)
    plan.seed(site)
    calendar.install_from(site, session_factory)  # work orders made here count its days
    visits = ReturnVisits.for_site(site, session_factory)
    orders = WorkOrders(session_factory, site.timezone, redis, visits)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        chores = [
            asyncio.create_task(_warm(knowledge)),
            asyncio.create_task(_chase_overdue(orders, Reminders(site, session_factory))),
            asyncio.create_task(calendar.keep_fresh(site, session_factory)),
        ]
        try:
            yield
        finally:
            for chore in chores:
                chore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
            await redis.aclose()
            engine.dispose()

    app = FastAPI(
        title="hotline",
        summary="The 12345 enterprise service line: admin API, reports, live figures.",
        lifespan=lifespan,
        # no open /docs, /redoc or /openapi.json: the schema is served to the admin only
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=[Depends(actor)])
    def schema() -> dict[str, Any]:
        """The API's OpenAPI schema (admin token), for a client generator or a viewer."""
        return app.openapi()

    app.include_router(redlist_router(red_list, actor))
    app.include_router(seats_router(site, SeatPool(redis), actor))
    app.include_router(transfer_router(plan, orders, redis, actor))
    app.include_router(calendar_router(site, session_factory, redis, actor))

    def seat_of(
        seat_id: str,
        authorization: Annotated[str | None, Header()] = None,
    ) -> str:
        """A console request: the seat's own console token, or the admin token."""
        _require_bearer(
            authorization,
            (secrets.admin_token, secrets.console_token(seat_id)),
            "send 'Authorization: Bearer <the seat's console token>' "
            "(hotline seats accounts prints it)",
        )
        if seat_id not in {seat.id for seat in site.seats}:
            raise HTTPException(404, f"no seat {seat_id} in the site file")
        return seat_id

    app.include_router(console_router(site, SeatPool(redis), redis, plan, session_factory, seat_of))
    wrap_ups = {queue.name: float(queue.wrap_up) for queue in site.queues}
    desk = Desk(
        session_factory,
        site.timezone,
        lambda queue: wrap_ups.get(queue or "", wrap_ups["enterprise"]),
    )

    def browser_phone(seat_id: str) -> dict[str, Any] | None:
        registrar = site.browser_registrar
        if registrar is None:
            return None
        host, port = registrar
        if host is not None and ":" in host:
            host = f"[{host}]"
        account = browser_account(seat_id)
        return {
            "server": f"wss://{host}:{port}/ws" if host else None,
            "port": port,  # without a host: the page's own
            "account": account,
            "password": secrets.seat_password(account, paths.secrets_file),
        }

    app.include_router(
        desk_router(desk, SeatPool(redis), CallbackBook(redis), seat_of, browser_phone)
    )
    if PHONE_LIBRARY.is_dir():  # SIP.js, from npm (npm ci): ES modules the page imports
        app.mount("/console/sip.js", StaticFiles(directory=PHONE_LIBRARY), name="sip.js")

    viewers = (secrets.admin_token, secrets.supervisor_token())

    def viewer_of(authorization: Annotated[str | None, Header()] = None) -> str:
        """A report reader: the supervisor token or the admin token (not a seat's)."""
        _require_bearer(
            authorization,
            viewers,
            "send 'Authorization: Bearer <supervisor or admin token>' "
            "(hotline report token prints the supervisor's)",
        )
        return "viewer"

    def token_is_viewer(token: str) -> bool:
        return any(tokens.compare_digest(token.encode(), key.encode()) for key in viewers)

    app.include_router(reports_router(site, session_factory, redis, viewer_of, token_is_viewer))

    def identify(authorization: str | None) -> str | None:
        """Whose token a request brings: ``admin``, ``supervisor``, ``seat:<id>``, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        known = [("admin", secrets.admin_token), ("supervisor", secrets.supervisor_token())]
        known += [(f"seat:{seat.id}", secrets.console_token(seat.id)) for seat in site.seats]
        return next(
            (who for who, key in known if tokens.compare_digest(token.encode(), key.encode())),
            None,
        )

    def person(authorization: Annotated[str | None, Header()] = None) -> str:
        """Anyone the installation gave a token: a seat, the supervisors, the admin."""
        who = identify(authorization)
        if who is None:
            raise HTTPException(
                401,
                "send 'Authorization: Bearer <token>': a seat's console token, the "
                "supervisor's or the admin's",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return who

    root = recording_files.directory(site, paths)
    app.include_router(recordings_router(Recordings(session_factory, root), identify, viewer_of))
    app.include_router(visits_router(visits, person))

    def knowledge_plan() -> KnowledgePlan:
        matters = {str(matter["code"]) for matter in plan.matters()}
        return KnowledgePlan(matters, {str(dept["code"]) for dept in plan.departments()})

    knowledge = KnowledgeBase(session_factory, knowledge_plan)
    app.include_router(knowledge_router(knowledge, site.timezone, person, actor))

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        """The supervisors' dashboard; it reads its token from the address's #token=."""
        return DASHBOARD.read_text(encoding="utf-8")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _require_bearer(authorization: str | None, accepted: tuple[str, ...], hint: str) -> None:
    """Refuse (401, with ``hint``) a request whose bearer token is none of ``accepted``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not any(
        tokens.compare_digest(token.encode(), key.encode()) for key in accepted
    ):
        raise HTTPException(401, hint, headers={"WWW-Authenticate": "Bearer"})


async def _warm(knowledge: KnowledgeBase) -> None:
    """Read the knowledge index at start; if the database is away, the first search will."""
    try:
        await asyncio.to_thread(knowledge.ready)
    except Exception as error:
        log.warning("the knowledge index was not read at start (%s); the first search will", error)


async def _chase_overdue(orders: WorkOrders, reminders: Reminders) -> None:
    """Every minute: mark work orders past their deadline overdue (a reminder event each),
    and send the reminders and escalations due (``transfer.chasing``)."""
    while True:
        try:
            marked = await orders.mark_overdue()
            if marked:
                log.info("work orders now overdue: %s", ", ".join(marked))
            await reminders.round()
        except Exception:
            log.exception("the overdue check failed; trying again")
        await asyncio.sleep(OVERDUE_CHECK_EVERY)
