"""The ``hotline`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core import clock
from core.paths import Paths
from core.site import Site, SiteError, load_site

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from guard.service import Bans
    from hotline.pbx import Pbx
    from redlist.service import RedList
    from rig.orchestrator import RigReport, Scenario

_T = TypeVar("_T")
DEFAULT_SITE = Path(__file__).resolve().parent.parent / "sites" / "example.toml"

app = typer.Typer(
    help="The enterprise service line of a 12345 hotline, on a real Asterisk PBX.\n\n"
    "Start with `hotline demo`: it brings up the PBX, Redis and the services, "
    "plays a scenario of phone calls through them and prints what happened.",
    no_args_is_help=True,
    add_completion=False,
)
pbx_app = typer.Typer(help="The Asterisk PBX: up, down, status, cli.", no_args_is_help=True)
site_app = typer.Typer(help="The site file.", no_args_is_help=True)
rig_app = typer.Typer(help="The softphone rig (SIPp phones).", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
clock_app = typer.Typer(
    help="The installation's clock: real time, or a moment every process runs on from "
    "(rehearsals and tests).",
    invoke_without_command=True,
)
app.add_typer(pbx_app, name="pbx")
app.add_typer(site_app, name="site")
app.add_typer(rig_app, name="rig")
app.add_typer(db_app, name="db")
app.add_typer(clock_app, name="clock")


class _State:
    site_file: Path = DEFAULT_SITE


_state = _State()


@app.callback()
def _main(
    site: Annotated[
        Path, typer.Option(envvar="HOTLINE_SITE", help="The site file (TOML).")
    ] = DEFAULT_SITE,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    _state.site_file = site
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # every ARI request and migration step is noise on a terminal
        for chatty in ("httpx", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def _site() -> Site:
    """The site file, checked; its holidays and make-up working days are put into this
    process's calendar (every service runs through here)."""
    from core.calendar import install

    try:
        site = load_site(_state.site_file)
    except SiteError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    install(site)
    return site


def _calendar_warnings(site: Site) -> list[str]:
    """A sentence for each year whose public holidays should be known by now and are not."""
    from sqlalchemy.orm import Session

    from core import clock
    from core.calendar import install
    from core.db import make_engine
    from core.stores import database_url
    from core.worktime import CALENDAR

    engine = make_engine(database_url(Paths.from_env()))
    try:
        with Session(engine) as session:
            install(site, session)  # the days entered through the API too
    except Exception:  # no database yet: the site file's days are what there is
        logging.getLogger(__name__).debug("no stored calendar days read", exc_info=True)
    finally:
        engine.dispose()
    today = clock.now().astimezone(site.timezone).date()
    return [
        f"warning: no public holidays known for {year}: every working-time rule falls back "
        "to Monday-Friday; enter the State Council's schedule ([calendar] in the site file, "
        "or PUT /api/calendar/<day>)"
        for year in CALENDAR.missing_years(today)
    ]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


# --- site --------------------------------------------------------------------------------


@site_app.command("check")
def site_check(
    file: Annotated[Path | None, typer.Argument(help="Defaults to --site.")] = None,
) -> None:
    """Check a site file; print every problem with the key it is at."""
    if file is not None:
        _state.site_file = file
    site = _site()
    typer.echo(
        f"{_state.site_file}: OK — {site.site.name}: {len(site.seats)} seats, "
        f"{len(site.departments)} departments, {len(site.matters)} matters, "
        f"hotline number(s) {', '.join(site.hotline_numbers)}"
    )
    for warning in _calendar_warnings(site):
        typer.echo(warning)


# --- pbx ---------------------------------------------------------------------------------


def _pbx() -> Pbx:
    from hotline.pbx import Pbx, PbxError, locate_asterisk
    from hotline.system import SetupError

    paths = Paths.from_env()
    paths.ensure()
    try:
        install = locate_asterisk(paths, paths.logs / "provision.log")
    except (PbxError, SetupError) as error:
        raise _fail(str(error)) from None
    if install.warning:
        typer.echo(install.warning, err=True)
    return Pbx(_site(), paths, install)


@pbx_app.command("up")
def pbx_up() -> None:
    """Render the config from the site file, start Asterisk, wait until ARI answers."""
    from hotline.pbx import PbxError

    pbx = _pbx()
    try:
        listening = pbx.up()
    except PbxError as error:
        raise _fail(str(error)) from None
    typer.echo(
        f"Asterisk {pbx.install.version} is up "
        f"({'system' if pbx.install.root is None else 'private root ' + str(pbx.install.root)})"
    )
    typer.echo(f"  SIP  {listening.sip}\n  ARI  {listening.ari}\n  AMI  {listening.ami}")
    typer.echo(f"  credentials: {pbx.paths.secrets_file} (mode 0600)")


@pbx_app.command("down")
def pbx_down() -> None:
    """Stop Asterisk; no process and no mount are left."""
    pbx = _pbx()
    pbx.down()
    typer.echo("Asterisk is down")


@pbx_app.command("status")
def pbx_status() -> None:
    """Whether Asterisk runs, which one, and where it listens."""
    for key, value in _pbx().status().items():
        typer.echo(f"{key:>12}: {value}")


@pbx_app.command("render")
def pbx_render() -> None:
    """Only render Asterisk's configuration from the site file."""
    etc = _pbx().render()
    typer.echo(f"rendered into {etc}")


@pbx_app.command("cli", context_settings={"allow_extra_args": True})
def pbx_cli(
    command: Annotated[
        str | None, typer.Argument(help="Run one command, e.g. 'core show channels'.")
    ] = None,
) -> None:
    """Asterisk's console (or one command with its output)."""
    pbx = _pbx()
    if command:
        typer.echo(pbx.rx(command), nl=False)
        return
    argv = pbx.install.command("-C", pbx.config_file, "-r")
    os.execvp(argv[0], argv)


# --- clock -------------------------------------------------------------------------------


@clock_app.callback()
def clock_show(context: typer.Context) -> None:
    """What time the installation believes it is."""
    if context.invoked_subcommand is not None:
        return
    from core import clock

    offset = clock.read_offset(clock.clock_file())
    local = clock.now().astimezone(_site().timezone)
    how = f"moved {offset:+.0f} s from real time" if offset else "real time"
    typer.echo(f"{local.isoformat(timespec='seconds')} ({how})")


@clock_app.command("set")
def clock_set(
    moment: Annotated[str, typer.Argument(help="e.g. 2026-11-23T10:00:00+08:00")],
) -> None:
    """Run every process of the installation from MOMENT on (rehearsals, tests)."""
    from datetime import datetime

    from core import clock

    try:
        clock.set_installation_time(datetime.fromisoformat(moment))
    except ValueError:
        raise _fail(
            f"{moment!r} is not a moment with its time zone, like 2026-11-23T10:00:00+08:00"
        ) from None
    typer.echo(f"the installation's clock runs from {moment}")


@clock_app.command("advance")
def clock_advance(seconds: Annotated[float, typer.Argument(help="negative: back")]) -> None:
    """Move the installation's clock on by SECONDS."""
    from core import clock

    clock.advance_installation_time(seconds)
    typer.echo(f"now {clock.now().astimezone(_site().timezone).isoformat(timespec='seconds')}")


@clock_app.command("real")
def clock_real() -> None:
    """Back to real time."""
    from core import clock

    clock.real_installation_time()
    typer.echo("the installation's clock is real time again")


# --- database ------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema (SQLite file, or HOTLINE_DATABASE_URL)."""
    from core.stores import database_url
    from hotline.schema import migrate

    paths = Paths.from_env()
    paths.ensure()
    url = database_url(paths)
    migrate(url)
    typer.echo(f"database schema is current ({url.split('@')[-1]})")


# --- services ----------------------------------------------------------------------------


@app.command("app")
def run_app(
    instance: Annotated[
        int, typer.Option(help="which of the site's services.app_processes this one is")
    ] = 1,
) -> None:
    """Run the Stasis application in the foreground (what `hotline demo` starts)."""
    from ari_app.main import serve

    site = _site()
    if not 1 <= instance <= site.services.app_processes:
        raise _fail(
            f"--instance must be 1 to {site.services.app_processes} "
            "(services.app_processes in the site file)"
        )
    asyncio.run(serve(site, Paths.from_env(), instance))


@app.command("monitor")
def run_monitor() -> None:
    """Run the monitor in the foreground: Asterisk's CDRs into SQL (AMI events, reconciled
    with Asterisk's CDR file), the connect-rate alerts, the retention of old details."""
    from cdr.monitor import serve

    asyncio.run(serve(_site(), Paths.from_env()))


@app.command("web")
def run_web() -> None:
    """Run the web app (admin API) in the foreground on the site's web port."""
    import uvicorn

    from hotline.web import create_app

    site = _site()
    uvicorn.run(
        create_app(site, Paths.from_env()), host=site.services.bind, port=site.services.web_port
    )


services_app = typer.Typer(
    help="The hotline's own processes (front door, Stasis app, monitor, web app), supervised.",
    no_args_is_help=True,
)
app.add_typer(services_app, name="services")


def _prepare_services(paths: Paths) -> None:
    """What every service needs before it starts: Redis and the database's schema."""
    from core.stores import database_url
    from hotline.redis_server import PrivateRedis, RedisError
    from hotline.schema import migrate

    paths.ensure()
    try:
        PrivateRedis(paths).up()
    except RedisError as error:
        raise _fail(str(error)) from None
    try:
        migrate(database_url(paths))
    except Exception as error:
        raise _fail(
            f"the database could not be prepared ({type(error).__name__}: {error}); "
            "check DATABASE_URL, or unset it for the installation's SQLite file"
        ) from None


def _print_services(paths: Paths) -> None:
    from core.journal import backlog
    from hotline import services

    site = _site()
    supervisor = services.running_pid(paths, services.SUPERVISOR)
    typer.echo(
        f"{'supervisor':>10}: "
        + (
            f"running, pid {supervisor}"
            if supervisor
            else "not running (nothing restarts a service)"
        )
    )
    for name in services.names(site):
        typer.echo(f"{name:>10}: {services.describe(paths, site, name)}")
    for process, waiting in backlog(paths.state / "journal").items():
        if waiting:
            typer.echo(
                f"records of {process}: {waiting} bytes in its journal wait for the database "
                f"({paths.state / 'journal'})"
            )
    for warning in _calendar_warnings(site):
        typer.echo(warning)


@services_app.command("up")
def services_up(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every service.")] = 30.0,
) -> None:
    """Prepare Redis and the database, start the supervisor and wait until every service
    does its work (the app only once Asterisk runs: `hotline pbx up`)."""
    import time

    from hotline import services
    from hotline.pbx import asterisk_running

    site, paths = _site(), Paths.from_env()
    _prepare_services(paths)
    services.start_supervisor(paths, _state.site_file)
    pbx = asterisk_running(paths)
    waiting = [n for n in services.names(site) if pbx or not n.startswith("app")]
    deadline = time.monotonic() + timeout
    for name in waiting:
        services.wait_ready(paths, site, name, max(0.0, deadline - time.monotonic()))
    _print_services(paths)
    if not pbx:
        typer.echo("Asterisk is not running: the app connects once `hotline pbx up` has started it")
    if not all(services.ready(paths, site, name) for name in waiting):
        raise _fail(f"a service is not doing its work yet; see its log under {paths.logs}")


@services_app.command("down")
def services_down() -> None:
    """Stop the supervisor, every service and the installation's private Redis."""
    from hotline import services
    from hotline.redis_server import PrivateRedis

    site, paths = _site(), Paths.from_env()
    services.stop(paths, services.SUPERVISOR, timeout=30.0)
    for name in reversed(services.names(site)):  # any started on its own (demo --keep-up)
        services.stop(paths, name)
    PrivateRedis(paths).down()
    _print_services(paths)


@services_app.command("status")
def services_status() -> None:
    """Each service: running and doing its work, or how it ended and its log's last line."""
    _print_services(Paths.from_env())


@services_app.command("run")
def services_run() -> None:
    """Run the supervisor in the foreground (what `services up` starts, and what a systemd
    unit runs): it starts every service and restarts any that dies."""
    from hotline.redis_server import PrivateRedis
    from hotline.services import Supervisor

    site, paths = _site(), Paths.from_env()
    _prepare_services(paths)
    redis = PrivateRedis(paths)
    Supervisor(site, _state.site_file, paths, redis=None if redis.external else redis).run()


@services_app.command("unit")
def services_unit() -> None:
    """Print a systemd unit that runs the supervisor for this installation (systemd
    restarts the supervisor; the supervisor restarts the services)."""
    import shutil
    import sys

    from hotline.services import systemd_unit

    hotline = Path(shutil.which("hotline") or Path(sys.executable).parent / "hotline")
    try:
        unit = systemd_unit(Paths.from_env(), _state.site_file.resolve(), hotline.absolute())
    except ValueError as error:
        raise _fail(str(error)) from None
    typer.echo(unit, nl=False)


seats_app = typer.Typer(
    help="Seats: their phones' SIP accounts and their state.", no_args_is_help=True
)
app.add_typer(seats_app, name="seats")


@seats_app.command("accounts")
def seats_accounts() -> None:
    """The seats' SIP accounts: how to point a desk phone or a softphone at the PBX."""
    from core.secrets import Secrets

    site, paths = _site(), Paths.from_env()
    secrets = Secrets.load_or_create(paths.secrets_file)
    server = f"{site.sip.external_address or site.sip.bind}:{site.sip.port}"
    web = f"http://{site.services.bind}:{site.services.web_port}"
    for seat in site.seats:
        console = f"{web}/console/{seat.id}#token={secrets.console_token(seat.id)}"
        typer.echo(f"{seat.id:>8}  {seat.name:<24} console {console}")
        if seat.contact:
            typer.echo(f"{seat.id:>8}  {seat.name:<24} fixed contact {seat.contact}")
        else:
            password = secrets.seat_password(seat.id, paths.secrets_file)
            typer.echo(
                f"{seat.id:>8}  {seat.name:<24} register at {server} as {seat.id} / {password}"
            )
    for phone in site.phones:
        if not phone.contact:
            password = secrets.seat_password(phone.number, paths.secrets_file)
            typer.echo(
                f"{phone.number:>8}  {'specialist phone':<24} register at {server} as "
                f"{phone.number} / {password}"
            )


sip_app = typer.Typer(
    help="SIP: the addresses banned for guessing passwords.", no_args_is_help=True
)
app.add_typer(sip_app, name="sip")


def _with_bans(work: Callable[[Bans], Awaitable[_T]]) -> _T:
    from ari_app.client import Ari, AriError
    from ari_app.main import ari_config
    from core.stores import async_redis
    from guard.service import Bans

    site, paths = _site(), Paths.from_env()

    async def run() -> _T:
        redis = async_redis(paths)
        ari = Ari(ari_config(site, paths))
        try:
            return await work(Bans(redis, ari))
        finally:
            await ari.close()
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (OSError, AriError) as error:
        raise _fail(
            f"Redis or Asterisk is not reachable ({error}); start them first: "
            "hotline pbx up && hotline services up"
        ) from None


def _address(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _fail(f"'{text}' is not an IP address") from None


@sip_app.command("bans")
def sip_bans() -> None:
    """The addresses refused on SIP now, and until when (in the site's time zone)."""
    site = _site()
    bans = _with_bans(lambda bans: bans.in_force())
    if not bans:
        typer.echo("no address is banned")
    for ban in bans:
        until = ban.until.astimezone(site.timezone).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{ban.address:<40} until {until}  {ban.reason}")


@sip_app.command("ban")
def sip_ban(
    address: Annotated[str, typer.Argument(help="The IP address to refuse.")],
    minutes: Annotated[int, typer.Option(help="For how long.", min=1)] = 60,
) -> None:
    """Refuse an address on SIP by hand (audited as 'admin')."""
    from datetime import timedelta

    from guard.bans import Ban

    address = _address(address)
    ban = Ban(address, clock.now() + timedelta(minutes=minutes), "banned by hand")
    _with_bans(lambda bans: bans.ban(ban, "admin"))
    typer.echo(f"{address} refused for {minutes} min")


@sip_app.command("lift")
def sip_lift(address: Annotated[str, typer.Argument(help="The banned IP address.")]) -> None:
    """Let a banned address in again."""
    address = _address(address)
    if _with_bans(lambda bans: bans.lift(address, "admin")):
        typer.echo(f"{address} may send SIP requests again")
    else:
        raise _fail(f"{address} is not banned (hotline sip bans lists the bans)")


def _seat_action(seat_id: str | None, action: str, reason: str = "") -> None:
    from redis.asyncio import Redis

    from core.stores import redis_url
    from queues.seats import LOGGED_OUT, SeatPool

    site, paths = _site(), Paths.from_env()
    known = [seat.id for seat in site.seats]
    if seat_id is not None and seat_id not in known:
        raise _fail(f"no seat {seat_id} in the site file (seats: {', '.join(known)})")

    async def run() -> dict[str, dict[str, object]]:
        redis = Redis.from_url(redis_url(paths))
        seats = SeatPool(redis)
        try:
            if action == "pause" and seat_id:
                await seats.pause(seat_id, reason)
            elif action == "logout" and seat_id:
                await seats.pause(seat_id, LOGGED_OUT)
            elif action in ("resume", "login") and seat_id:
                await seats.resume(seat_id)
            return await seats.states([seat_id] if seat_id else known)
        finally:
            await redis.aclose()

    try:
        states = asyncio.run(run())
    except OSError as error:
        raise _fail(
            f"Redis is not reachable ({error}); start the services first: hotline services up"
        ) from None
    for seat, state in states.items():
        details = "  ".join(f"{k}={v}" for k, v in state.items() if k != "state")
        typer.echo(f"{seat:>8}  {state['state']:<10} {details}")


@seats_app.command("status")
def seats_status() -> None:
    """Every seat's state: available, busy, resting (wrap-up) or paused (with the reason)."""
    _seat_action(None, "status")


@seats_app.command("pause")
def seats_pause(
    seat_id: str, reason: Annotated[str, typer.Option(help="Why, e.g. lunch.")] = "paused"
) -> None:
    """Offer a seat no calls until it resumes (a call in progress goes on)."""
    _seat_action(seat_id, "pause", reason)


@seats_app.command("resume")
def seats_resume(seat_id: str) -> None:
    """Offer a paused seat calls again."""
    _seat_action(seat_id, "resume")


@seats_app.command("login")
def seats_login(seat_id: str) -> None:
    """Log a seat in (it is offered calls)."""
    _seat_action(seat_id, "login")


@seats_app.command("logout")
def seats_logout(seat_id: str) -> None:
    """Log a seat out (it is offered no calls)."""
    _seat_action(seat_id, "logout")


# --- rig and demo ------------------------------------------------------------------------


@rig_app.command("run")
def rig_run(scenario: Annotated[Path, typer.Argument(help="A scenario file (TOML).")]) -> None:
    """Play a scenario against an already running PBX and app."""
    from rig.scenario_file import load_scenario

    site = _site()
    report = asyncio.run(_play(site, load_scenario(scenario, site)))
    typer.echo(report.render())


async def _play(site: Site, scenario: Scenario) -> RigReport:
    from rig.orchestrator import Rig

    rig = Rig(
        Paths.from_env().state / "rig",
        pbx=(site.sip.bind, site.sip.port),
        caller_ip=site.trunks[0].match[0].split("/")[0],
    )
    return await rig.run(scenario)


@app.command("demo")
def demo(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file; the built-in demo by default.")
    ] = None,
    keep_up: Annotated[
        bool, typer.Option(help="Leave the PBX and services running afterwards.")
    ] = False,
) -> None:
    """Bring up the PBX, Redis and the services, play a scenario of real calls, print what
    happened to every call, and shut everything down."""
    from hotline.demo import run_demo

    code = run_demo(_site(), _state.site_file, Paths.from_env(), scenario, keep_up)
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover
    app(prog_name="hotline")


# --- the front door and the red list -------------------------------------------------------

redlist_app = typer.Typer(help="The enterprise registry and the red list.", no_args_is_help=True)
app.add_typer(redlist_app, name="redlist")


@app.command("agi")
def run_agi() -> None:
    """Run the FastAGI front door in the foreground."""
    from agi.server import serve

    asyncio.run(serve(_site(), Paths.from_env()))


def _red_list() -> RedList:
    from core.stores import database_url
    from hotline.redis_server import PrivateRedis
    from hotline.schema import migrate
    from redlist.service import RedList

    site, paths = _site(), Paths.from_env()
    paths.ensure()
    PrivateRedis(paths).up()
    migrate(database_url(paths))
    return RedList.for_installation(site, paths)


@redlist_app.command("import")
def redlist_import(
    file: Annotated[Path, typer.Argument(help="CSV: UTF-8 (with or without BOM) or GB18030/GBK.")],
    actor: Annotated[str, typer.Option(help="Who makes the change (for the audit log).")] = "cli",
) -> None:
    """Import enterprises and red-list entries; a file with any bad row is refused whole."""
    from redlist.importer import ImportRefused

    try:
        with file.open("rb") as handle:  # read as a stream: files of any size
            summary = _red_list().import_csv(handle, actor)
    except ImportRefused as refused:
        typer.echo(f"{file}: {refused}", err=True)
        raise typer.Exit(1) from None
    except OSError as error:
        raise _fail(f"cannot read {file}: {error.strerror}") from None
    typer.echo(f"{file}: {summary}")


@redlist_app.command("export")
def redlist_export(
    file: Annotated[Path, typer.Argument(help="Where to write the CSV.")],
    red_only: Annotated[bool, typer.Option(help="Only firms on the red list.")] = False,
) -> None:
    """Export the registry (or the red list) as CSV in the import format."""
    from redlist import registry

    with _red_list().sessions() as session:
        text = registry.export_csv(session, red_only)
    file.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {text.count(chr(10)) - 1} firms to {file}")


@redlist_app.command("show")
def redlist_show(
    number: Annotated[str, typer.Argument(help="A caller number, as it arrives.")],
) -> None:
    """What the front door decides for a caller number."""
    caller = _red_list().identify(number)
    typer.echo(f"number:      {number!r} → {caller.number or '(not a phone number)'}")
    typer.echo(
        f"caller kind: {caller.kind.value}"
        + (
            ""
            if caller.enterprise_id
            else " (will hear the menu: press 2, key the company's number)"
        )
    )
    if caller.enterprise_id:
        typer.echo(f"enterprise:  #{caller.enterprise_id} {caller.name}")
    typer.echo(f"red list:    {caller.tier.value if caller.tier else '-'}")
    typer.echo(f"QUEUE_PRIO:  {caller.queue_prio}   queue: {caller.queue}")


@redlist_app.command("rebuild")
def redlist_rebuild() -> None:
    """Rebuild the caller directory in Redis from SQL."""
    count = _red_list().rebuild_directory()
    typer.echo(f"caller directory rebuilt: {count} numbers")


report_app = typer.Typer(
    help="Reports for a period of local days (the site's time zone), as readable tables or "
    "CSV; call journeys; the supervisors' dashboard address.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

_FROM = typer.Option("--from", help="First local day, YYYY-MM-DD (default: today).")
_TO = typer.Option("--to", help="Last local day, included (default: the first).")


def _report_sessions() -> tuple[Site, sessionmaker[Session]]:
    from core.db import make_engine, sessions
    from core.stores import database_url
    from hotline.schema import migrate

    site, paths = _site(), Paths.from_env()
    url = database_url(paths)
    if url.startswith("sqlite") and not (paths.state / "hotline.db").exists():
        raise _fail(f"no database at {paths.state / 'hotline.db'}: run `hotline demo` first")
    migrate(url)
    return site, sessions(make_engine(url))


def _print_report(
    name: str, first: str | None, last: str | None, by: str, department: str | None, as_csv: bool
) -> None:
    import csv
    import sys

    from cdr import reports

    site, factory = _report_sessions()
    today = clock.now().astimezone(site.timezone).date()
    try:
        period = reports.Period.parse(first, last, site.timezone, today)
        options = reports.Options(by, department, site.reports.service_level_seconds)
        with factory() as session:
            result = reports.make_report(session, name, period, options)
    except reports.ReportError as error:
        raise _fail(str(error)) from error
    if as_csv:
        csv.writer(sys.stdout).writerows(reports.as_csv_rows(result))
    else:
        typer.echo(reports.as_text(result))


def _report_command(name: str, about: str) -> None:
    def command(
        first: Annotated[str | None, _FROM] = None,
        last: Annotated[str | None, _TO] = None,
        by: Annotated[
            str, typer.Option(help="connect-rate: department, matter, hour, day or day-hour")
        ] = "department",
        department: Annotated[
            str | None, typer.Option(help="failed-attempts: one department's dials")
        ] = None,
        as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
    ) -> None:
        _print_report(name, first, last, by, department, as_csv)

    command.__doc__ = about
    report_app.command(name)(command)


def _add_report_commands() -> None:
    from cdr.reports import REPORTS

    for kind in REPORTS.values():
        _report_command(kind.name, kind.about)


_add_report_commands()


@report_app.command("calls")
def report_calls(
    first: Annotated[str | None, _FROM] = None,
    last: Annotated[str | None, _TO] = None,
    number: Annotated[str | None, typer.Option(help="Caller number, or part of it.")] = None,
    company: Annotated[str | None, typer.Option(help="Company name, or part of it.")] = None,
    seat: Annotated[str | None, typer.Option(help="The seat that answered.")] = None,
    outcome: Annotated[str | None, typer.Option(help="How the call ended.")] = None,
) -> None:
    """Calls of a period, newest first; `hotline report journey CALL` opens one."""

    from cdr import journeys, reports

    site, factory = _report_sessions()
    today = clock.now().astimezone(site.timezone).date()
    try:
        period = reports.Period.parse(first, last, site.timezone, today)
    except reports.ReportError as error:
        raise _fail(str(error)) from error
    with factory() as session:
        found = journeys.search(session, period, number, company, seat, outcome)
    for call in found["calls"]:
        typer.echo(
            f"{call['entered_at']}  {call['caller_number']:<14} {call['tier'] or '-':<9} "
            f"seat {call['seat'] or '-':<5} {call['outcome'] or 'in progress':<18} "
            f"{call['satisfaction'] or '':<20} {call['call']}"
        )
    if found["more"]:
        typer.echo("(more: narrow the search)")


@report_app.command("journey")
def report_journey(call: Annotated[str, typer.Argument(help="linkedid or caller channel")]) -> None:
    """One call from end to end: its timeline, transfers and Asterisk's CDRs."""
    from cdr import journeys

    site, factory = _report_sessions()
    with factory() as session:
        found = journeys.journey(session, call, site.timezone)
    if found is None:
        raise _fail(f"no call {call!r} recorded")
    typer.echo(
        f"{found['caller_number']} {found['company'] or ''} ({found['tier'] or 'no tier'}), "
        f"{found['kind']}: {found['outcome']}, satisfaction {found['satisfaction'] or '-'}"
    )
    for step in found["timeline"]:
        typer.echo(f"  {step['at']}  {step['what']}")
    typer.echo(f"  Asterisk CDRs: {len(found['asterisk_cdrs'])}")


@report_app.command("token")
def report_token() -> None:
    """The supervisors' token and the dashboard's address with it."""
    from core.secrets import Secrets

    site, paths = _site(), Paths.from_env()
    token = Secrets.load_or_create(paths.secrets_file).supervisor_token()
    web = f"http://{site.services.bind}:{site.services.web_port}"
    typer.echo(f"supervisor token: {token}")
    typer.echo(f"dashboard:        {web}/dashboard#token={token}")
    typer.echo(f"metrics:          {web}/metrics (Authorization: Bearer <token>)")
