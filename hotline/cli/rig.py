"""`hotline rig run` and `hotline demo`: real calls through the PBX."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core.paths import Paths
from core.site import Site
from hotline.cli.root import app, load_site_file, state

if TYPE_CHECKING:
    from rig.orchestrator import RigReport, Scenario

_T = TypeVar("_T")

rig_app = typer.Typer(help="The softphone rig (SIPp phones).", no_args_is_help=True)
app.add_typer(rig_app, name="rig")


@rig_app.command("run")
def rig_run(scenario: Annotated[Path, typer.Argument(help="A scenario file (TOML).")]) -> None:
    """Play a scenario against an already running PBX and app."""
    from rig.scenario_file import load_scenario

    site = load_site_file()
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
    nodes: Annotated[
        int,
        typer.Option(
            min=0, max=4, help="Run the line on this many PBX nodes behind Kamailio (0: one PBX)."
        ),
    ] = 0,
) -> None:
    """Bring up the PBX, Redis and the services, play a scenario of real calls, print what
    happened to every call, and shut everything down."""
    from hotline.demo import run_demo

    code = run_demo(load_site_file(), state.site_file, Paths.from_env(), scenario, keep_up, nodes)
    raise typer.Exit(code)
