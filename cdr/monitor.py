"""The monitor service (``hotline monitor``): Asterisk's CDRs into SQL, the connect-rate
alerts, and the retention of old details and recordings.

- The AMI listener (panoramisk) stores each ``Cdr`` event as it comes.
- The reconciliation reads Asterisk's CDR file on from where it stopped: at every AMI login
  (after the listener or Asterisk was away) and every ``RECONCILE_EVERY`` seconds.
- The alert watch looks at the departments' live connect rates every ``ALERT_CHECK_EVERY``
  seconds, so an alert is raised well within a minute.
- Once an hour, details older than ``reports.detail_days`` are deleted (the rollups stay).
- Failed SIP authentications (AMI security events) count toward bans of their source
  address (``guard``); bans whose time is up are lifted every few seconds.
- Every second, Asterisk's own queues (the fallback when no application process serves)
  are kept in step with the seats, and callers waiting there are sent back to the
  application once it serves again (``queues.fallback``).

Calls never depend on it: if it is down, calls go on and the CDRs wait in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk import Manager
from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from ari_app.client import Ari
from ari_app.main import ari_config
from ari_app.names import app_names_here
from cdr.asterisk import BadCdr, Cdr, cdr_file, reconcile, store
from cdr.live import AlertWatch, LiveRates
from cdr.queue_log import AsteriskQueueRecords, ingest, queue_log_file
from cdr.retention import delete_old_details
from cdr.rollups import Rollups
from core import clock, keys
from core.db import make_engine, sessions
from core.paths import Paths
from core.secrets import Secrets
from core.signals import stop_on_signals, stop_task
from core.site import Site
from core.stores import async_redis, database_url
from guard.bans import FAILURE_EVENTS
from guard.service import LIFT_EVERY, Bans, SipGuard, guard_for
from queues.fallback import HELD, MIRROR_EVERY, FallbackMirror
from queues.seats import SeatPool
from recording import files as recording_files
from recording.service import Recordings

log = logging.getLogger(__name__)

RECONCILE_EVERY = 30.0
ALERT_CHECK_EVERY = 10.0
RETENTION_EVERY = 3600.0
QUEUE_LOG_EVERY = 1.0
"""Seconds between reads of Asterisk's queue log: a stay there is recorded before the app,
which closes what it sent there only once the caller has gone, would close it unseen."""
BATCH_WAIT = 0.5
"""Seconds the listener gathers CDR events before writing them in one transaction."""


class CdrListener:
    """Stores AMI ``Cdr`` events; asks for a reconciliation at each login."""

    def __init__(self, site: Site, paths: Paths, session_factory: sessionmaker[Session]) -> None:
        self.site, self.paths, self.sessions = site, paths, session_factory
        self.file = cdr_file(paths.asterisk)
        self.inbox: asyncio.Queue[Cdr] = asyncio.Queue()
        self.logged_in = asyncio.Event()
        self.reconcile_now = asyncio.Event()
        self.writing = asyncio.Lock()
        """One writer at a time: the live events and the reconciliation."""
        self.manager: Any = None
        self.logins = 0
        """AMI logins so far: after each one, Asterisk may have restarted and forgotten."""
        self.security_events: asyncio.Queue[dict[str, str]] = asyncio.Queue(maxsize=10_000)
        """Failed SIP authentications, for the guard."""

    def connect(self) -> None:
        secrets = Secrets.load_or_create(self.paths.secrets_file)
        services = self.site.services
        host = services.local_host
        self.manager = Manager(
            loop=asyncio.get_running_loop(),
            host=host,
            port=services.ami_port,
            username=secrets.ami_user,
            secret=secrets.ami_secret,
            events="cdr,security",
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=2,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
        )
        self.manager.register_event("Cdr", self._on_cdr)
        for name in FAILURE_EVENTS:
            self.manager.register_event(name, self._on_security)
        self.manager.connect()

    async def send(self, action: dict[str, str]) -> Any:
        """Send one AMI action; its reply (a list of messages for a list action)."""
        return await self.manager.send_action(action)

    def close(self) -> None:
        if self.manager is not None:
            self.manager.on_disconnect = lambda *_: None
            self.manager.close()

    # panoramisk callbacks: an exception escaping one kills the connection, so none does
    def _on_login(self, _: object) -> None:
        log.info("AMI: logged in; reconciling the CDR file")
        self.logins += 1
        self.logged_in.set()
        self.reconcile_now.set()

    def _on_disconnect(self, *_: object) -> None:
        log.warning("AMI: connection lost; CDRs wait in %s until it is back", self.file)
        self.logged_in.clear()

    def _on_cdr(self, _: object, event: Any) -> None:
        try:
            self.inbox.put_nowait(Cdr.from_ami(event))
        except BadCdr as error:
            log.warning("AMI: a Cdr event could not be read (%s); the file has it", error)
        except Exception:
            log.exception("AMI: a Cdr event could not be taken; the file has it")

    def _on_security(self, _: object, event: Any) -> None:
        try:
            self.security_events.put_nowait(
                {
                    "Event": str(event.get("Event", "")),
                    "RemoteAddress": str(event.get("RemoteAddress", "")),
                }
            )
        except asyncio.QueueFull:
            pass  # a flood: the addresses in it are banned from the events already queued
        except Exception:
            log.exception("AMI: a security event could not be taken")

    async def write_events(self) -> None:
        """Store the events as they come, a short batch at a time."""
        while True:
            batch = [await self.inbox.get()]
            await asyncio.sleep(BATCH_WAIT)
            while not self.inbox.empty():
                batch.append(self.inbox.get_nowait())
            try:
                async with self.writing:
                    added = await asyncio.to_thread(store, self.sessions, batch, "ami")
                log.debug("AMI: %d CDRs in, %d new", len(batch), added)
            except Exception:
                log.exception("could not store %d CDRs; the reconciliation will", len(batch))

    async def reconcile_loop(self) -> None:
        """Reconcile at each login and every ``RECONCILE_EVERY`` seconds."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reconcile_now.wait(), RECONCILE_EVERY)
            self.reconcile_now.clear()
            try:
                async with self.writing:
                    done = await asyncio.to_thread(reconcile, self.sessions, self.file)
                if done.added:
                    log.info("reconciliation: %d CDRs filled in from %s", done.added, self.file)
            except Exception:
                log.exception("the CDR reconciliation failed; trying again")


FALLBACK_ENTRY = ("hotline-entry", "s", "app")
"""The dialplan's Stasis step (``asterisk-conf/extensions.conf.j2``): where a caller waiting
in Asterisk's queue is sent back to when an application process serves again."""


async def seat_states(seats: SeatPool, site: Site) -> dict[str, str]:
    """Each seat's state for the fallback: available, busy, held (for a call of Asterisk's
    queue), paused or resting."""
    states = await seats.states(seat.id for seat in site.seats)
    return {
        seat: HELD if state.get("call") == keys.FALLBACK_CALL else str(state["state"])
        for seat, state in states.items()
    }


async def app_serving(redis: Redis, site: Site) -> bool:
    """Whether an application process that can take this PBX's callers serves calls now
    (its heartbeat says so): on a line of nodes, one of this node's."""
    async for key in redis.scan_iter(match=keys.heartbeat(app_names_here(site))):
        value = await redis.get(key)
        if isinstance(value, bytes) and value.endswith(b":serving"):
            return True
    return False


async def _every(seconds: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    while True:
        try:
            await step()
        except Exception:
            log.exception("%s failed; trying again", what)
        await asyncio.sleep(seconds)


async def serve(site: Site, paths: Paths) -> None:
    """Run the monitor until SIGTERM/SIGINT."""
    stop = stop_on_signals()
    redis = async_redis(paths)
    engine = make_engine(database_url(paths))
    session_factory = sessions(engine)
    listener = CdrListener(site, paths, session_factory)
    reports = site.reports
    watch = AlertWatch(
        LiveRates(redis, site.timezone),
        reports.connect_target,
        reports.alert_window,
        reports.alert_min_requests,
        reports.alert_webhook,
    )

    async def check_alerts() -> None:
        for change in await watch.check():
            log.info("connect-rate alert %s", change)

    names = [seat.name for seat in site.seats]
    queue_records = AsteriskQueueRecords(
        Rollups.for_site(site),
        {seat.name: seat.id for seat in site.seats if names.count(seat.name) == 1},
        site.site.area_code,
        recording_files.directory(site, paths) if site.recordings.enabled else None,
        site.node_name,
    )
    queue_log = queue_log_file(paths.asterisk)

    async def read_the_queue_log() -> None:
        async with listener.writing:
            await asyncio.to_thread(ingest, session_factory, queue_log, queue_records)

    recorded = Recordings(session_factory, recording_files.directory(site, paths))

    async def retention() -> None:
        if reports.detail_days is not None:
            deleted = await asyncio.to_thread(
                delete_old_details, session_factory, reports.detail_days
            )
            if any(deleted.values()):
                log.info("retention: deleted %s", deleted)
        days = site.recordings.retention_days
        if days is not None:
            await asyncio.to_thread(recorded.delete_expired, clock.now(), days)

    listener.connect()
    seats = SeatPool(redis)

    async def hold(seat: str, held: bool) -> None:
        if held:
            await seats.hold(seat, keys.FALLBACK_CALL)
        else:
            await seats.release(seat, keys.FALLBACK_CALL)

    mirror = FallbackMirror(
        listener.send,
        lambda: seat_states(seats, site),
        lambda: app_serving(redis, site),
        FALLBACK_ENTRY,
        hold,
    )

    async def keep_the_fallback_in_step() -> None:
        if listener.logged_in.is_set():
            await mirror.step()

    ari = Ari(ari_config(site, paths))
    sip_guard = SipGuard(guard_for(site), Bans(redis, ari))
    pushed_at_login = 0

    async def guard_sip() -> None:
        while True:
            event = await listener.security_events.get()
            try:
                await sip_guard.on_event(event)
            except Exception:
                log.exception("SIP guard: could not act on %s", event)

    async def lift_bans() -> None:
        nonlocal pushed_at_login
        if listener.logins != pushed_at_login and listener.logged_in.is_set():
            await sip_guard.bans.push_all()  # Asterisk may have restarted without them
            pushed_at_login = listener.logins
        await sip_guard.step()

    tasks = [
        asyncio.create_task(listener.write_events()),
        asyncio.create_task(guard_sip()),
        asyncio.create_task(_every(LIFT_EVERY, lift_bans, "lifting SIP bans")),
        asyncio.create_task(listener.reconcile_loop()),
        asyncio.create_task(
            _every(QUEUE_LOG_EVERY, read_the_queue_log, "reading Asterisk's queue log")
        ),
        asyncio.create_task(_every(ALERT_CHECK_EVERY, check_alerts, "the alert check")),
        asyncio.create_task(_every(RETENTION_EVERY, retention, "the retention")),
        asyncio.create_task(
            _every(MIRROR_EVERY, keep_the_fallback_in_step, "keeping Asterisk's queues in step")
        ),
    ]
    try:
        await stop.wait()
    finally:
        listener.close()
        for task in tasks:
            with contextlib.suppress(Exception):
                await stop_task(task)
        await ari.close()
        await redis.aclose()
        engine.dispose()
