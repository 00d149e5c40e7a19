"""`hotline pbx`: the Asterisk PBX."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core.paths import Paths
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    from hotline.pbx import Pbx

_T = TypeVar("_T")

pbx_app = typer.Typer(help="The Asterisk PBX: up, down, status, cli.", no_args_is_help=True)
app.add_typer(pbx_app, name="pbx")


def _pbx() -> Pbx:
    from hotline.pbx import Pbx, PbxError, locate_asterisk
    from hotline.system import SetupError

    site, paths = load_site_file(), Paths.from_env()
    if site.nodes and site.node is None:
        names = ", ".join(node.name for node in site.nodes)
        raise fail(f"this site's PBX runs as nodes behind its edge: name one with --node ({names})")
    paths.ensure()
    try:
        install = locate_asterisk(paths, paths.logs / "provision.log")
    except (PbxError, SetupError) as error:
        raise fail(str(error)) from None
    if install.warning:
        typer.echo(install.warning, err=True)
    return Pbx(site, paths, install)


@pbx_app.command("up")
def pbx_up() -> None:
    """Render the config from the site file, start Asterisk, wait until ARI answers."""
    from hotline.pbx import PbxError

    pbx = _pbx()
    try:
        listening = pbx.up()
    except PbxError as error:
        raise fail(str(error)) from None
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
