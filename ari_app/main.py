"""Run the Stasis application for a site until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from sqlalchemy.orm import Session, sessionmaker

from ari_app.app import Services, StasisApp
from ari_app.client import AriConfig
from ari_app.names import stasis_app_name, stasis_app_names
from callback.recorder import CallbackRecords
from cdr.live import LiveRates
from cdr.recorder import CallRecords
from cdr.rollups import Rollups
from core import calendar
from core.calendar import StoredDays
from core.db import make_engine, sessions
from core.journal import Journal
from core.memory import freeze_startup_objects
from core.paths import Paths
from core.secrets import Secrets
from core.signals import stop_on_signals, stop_task
from core.site import Site
from core.stores import async_redis, database_url
from core.writer import Applier, RecordWriter, WriterProcess
from recording import files as recording_files
from recording.recorder import RecordingRecords
from return_visit.book import ReturnVisits
from return_visit.recorder import ReturnVisitRecords
from transfer.plan import TransferPlan
from transfer.recorder import TransferRecords
from transfer.routes import Routes

log = logging.getLogger(__name__)


def ari_config(site: Site, paths: Paths, instance: int = 1) -> AriConfig:
    """How this installation's app process ``instance`` reaches its Asterisk's ARI."""
    secrets = Secrets.load_or_create(paths.secrets_file)
    services = site.services
    host = services.local_host
    return AriConfig(
        url=f"http://{host}:{services.ari_port}/ari",
        user=secrets.ari_user,
        password=secrets.ari_password,
        app=stasis_app_name(site, instance),
    )


def record_appliers(
    site: Site, url: str, sessions_too: bool = True
) -> tuple[sessionmaker[Session], list[Applier]]:
    """The sessions and appliers of the app's records (calls and transfers), for its writer
    process; without ``sessions_too``, only the appliers (the app checks what it hands over)."""
    rollups = Rollups.for_site(site)
    days = StoredDays(site)  # work orders' deadlines count the calendar's entered days
    appliers: list[Applier] = [
        CallRecords(rollups),
        TransferRecords(rollups, site.timezone, days),
        CallbackRecords(),
        RecordingRecords(),
        ReturnVisitRecords(),
    ]
    return sessions(make_engine(url)) if sessions_too else sessionmaker(), appliers


async def serve(site: Site, paths: Paths, instance: int = 1) -> None:
    """Connect to ARI, Redis and SQL and serve calls until told to stop, as app process
    ``instance`` of the site's ``services.app_processes``."""
    stop = stop_on_signals()
    redis = async_redis(paths)
    engine = make_engine(database_url(paths))
    session_factory = sessions(engine)
    plan = TransferPlan(session_factory, site.timezone)
    try:
        await asyncio.to_thread(plan.seed, site)
    except Exception as error:  # calls are served without the database; transfers once it is back
        log.warning("the transfer plan could not be seeded now (%s); reading it later", error)
    setup = functools.partial(record_appliers, site, database_url(paths))
    journal = Journal(paths.state / "journal" / f"{stasis_app_name(site, instance)}.journal")
    writer = RecordWriter(
        None, setup(sessions_too=False)[1], remote=WriterProcess(setup), journal=journal
    )
    routes = Routes(plan)
    await routes.refresh()

    async def refresh_calendar() -> None:
        with contextlib.suppress(Exception):  # the days in memory go on serving
            await asyncio.to_thread(calendar.install_from, site, session_factory)

    app = StasisApp(
        ari_config(site, paths, instance),
        site,
        Services(
            redis,
            writer,
            routes,
            LiveRates(redis, site.timezone),
            refresh_calendar,
            recording_files.directory(site, paths),
            ReturnVisits.for_site(site, session_factory),
        ),
        peers=stasis_app_names(site),
    )
    log.info("hotline Stasis app starting: %r", app)
    freeze_startup_objects()
    writing = asyncio.create_task(writer.run())
    days = asyncio.create_task(calendar.keep_fresh(site, session_factory))
    try:
        await app.run(stop)
    finally:
        await writer.close()
        journal.close()
        for task in (writing, days):
            with contextlib.suppress(Exception):
                await stop_task(task)
        await redis.aclose()
        engine.dispose()
