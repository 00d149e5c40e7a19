"""The services in the foreground (`hotline app | monitor | web | agi`) and supervised
(`hotline services`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core.paths import Paths
from hotline.cli.root import app, calendar_warnings, fail, load_site_file, state

if TYPE_CHECKING:
    pass

_T = TypeVar("_T")


@app.command("app")
def run_app(
    instance: Annotated[
        int, typer.Option(help="which of the site's services.app_processes this one is")
    ] = 1,
) -> None:
    """Run the Stasis application in the foreground (what `hotline demo` starts)."""
    from ari_app.main import serve

    site = load_site_file()
    if not 1 <= instance <= site.services.app_processes:
        raise fail(
            f"--instance must be 1 to {site.services.app_processes} "
            "(services.app_processes in the site file)"
        )
    asyncio.run(serve(site, Paths.from_env(), instance))


@app.command("monitor")
def run_monitor() -> None:
    """Run the monitor in the foreground: Asterisk's CDRs into SQL (AMI events, reconciled
    with Asterisk's CDR file), the connect-rate alerts, the retention of old details."""
    from cdr.monitor import serve

    asyncio.run(serve(load_site_file(), Paths.from_env()))


@app.command("web")
def run_web() -> None:
    """Run the web app (admin API) in the foreground on the site's web port."""
    import uvicorn

    from hotline.web import create_app

    site = load_site_file()
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
        raise fail(str(error)) from None
    try:
        migrate(database_url(paths))
    except Exception as error:
        raise fail(
            f"the database could not be prepared ({type(error).__name__}: {error}); "
            "check HOTLINE_DATABASE_URL, or unset it for the installation's SQLite file"
        ) from None


def _print_services(paths: Paths) -> None:
    from core.journal import backlog
    from hotline import services

    site = load_site_file()
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
    for warning in calendar_warnings(site):
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

    site, paths = load_site_file(), Paths.from_env()
    _prepare_services(paths)
    services.start_supervisor(paths, state.site_file)
    pbx = asterisk_running(paths)
    waiting = [n for n in services.names(site) if pbx or not n.startswith("app")]
    deadline = time.monotonic() + timeout
    for name in waiting:
        services.wait_ready(paths, site, name, max(0.0, deadline - time.monotonic()))
    _print_services(paths)
    if not pbx and not (site.nodes and site.node is None):  # a line of nodes has no PBX itself
        typer.echo("Asterisk is not running: the app connects once `hotline pbx up` has started it")
    if not all(services.ready(paths, site, name) for name in waiting):
        raise fail(f"a service is not doing its work yet; see its log under {paths.logs}")


@services_app.command("down")
def services_down() -> None:
    """Stop the supervisor, every service and the installation's private Redis."""
    from hotline import services
    from hotline.redis_server import PrivateRedis

    site, paths = load_site_file(), Paths.from_env()
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
    from hotline.services import Supervisor, redis_to_keep

    site, paths = load_site_file(), Paths.from_env()
    _prepare_services(paths)
    Supervisor(site, state.site_file, paths, redis=redis_to_keep(paths)).run()


@services_app.command("unit")
def services_unit() -> None:
    """Print a systemd unit that runs the supervisor for this installation (systemd
    restarts the supervisor; the supervisor restarts the services)."""
    import shutil
    import sys

    from hotline.services import systemd_unit

    hotline = Path(shutil.which("hotline") or Path(sys.executable).parent / "hotline")
    try:
        unit = systemd_unit(Paths.from_env(), state.site_file.resolve(), hotline.absolute())
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(unit, nl=False)
