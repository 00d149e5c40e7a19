"""The ``hotline`` command's root: the app, its global options, and what every command
group shares (the site file, one way to fail, the calendar's warnings)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core import clock
from core.paths import Paths
from core.site import Site, SiteError, load_site

if TYPE_CHECKING:
    pass

_T = TypeVar("_T")

DEFAULT_SITE = Path(__file__).resolve().parents[2] / "sites" / "example.toml"

app = typer.Typer(
    help="The enterprise service line of a 12345 hotline, on a real Asterisk PBX.\n\n"
    "Start with `hotline demo`: it brings up the PBX, Redis and the services, "
    "plays a scenario of phone calls through them and prints what happened.",
    no_args_is_help=True,
    add_completion=False,
)


class _State:
    site_file: Path = DEFAULT_SITE


state = _State()


@app.callback()
def _main(
    site: Annotated[
        Path, typer.Option(envvar="HOTLINE_SITE", help="The site file (TOML).")
    ] = DEFAULT_SITE,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
    node: Annotated[
        str | None,
        typer.Option(
            envvar="HOTLINE_NODE",
            help="The PBX node (the site's [[nodes]]) whose Asterisk and services this is.",
        ),
    ] = None,
) -> None:
    state.site_file = site
    if node:  # every process this one starts serves the same node
        os.environ["HOTLINE_NODE"] = node
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # every ARI request and migration step is noise on a terminal
        for chatty in ("httpx", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def load_site_file() -> Site:
    """The site file, checked, as the node this process serves sees it (``--node``); its
    holidays and make-up working days are put into this process's calendar (every service
    runs through here)."""
    from core.calendar import install

    try:
        site = load_site(state.site_file)
        node = os.environ.get("HOTLINE_NODE")
        if node:
            site = site.on_node(node)
    except SiteError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    install(site)
    return site


def calendar_warnings(site: Site) -> list[str]:
    """A sentence for each year whose public holidays should be known by now and are not."""
    from sqlalchemy.orm import Session

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


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)
