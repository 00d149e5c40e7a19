"""`hotline clock`: the installation's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core import clock
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    pass

_T = TypeVar("_T")

clock_app = typer.Typer(
    help="The installation's clock: real time, or a moment every process runs on from "
    "(rehearsals and tests).",
    invoke_without_command=True,
)
app.add_typer(clock_app, name="clock")


@clock_app.callback()
def clock_show(context: typer.Context) -> None:
    """What time the installation believes it is."""
    if context.invoked_subcommand is not None:
        return

    offset = clock.read_offset(clock.clock_file())
    local = clock.now().astimezone(load_site_file().timezone)
    how = f"moved {offset:+.0f} s from real time" if offset else "real time"
    typer.echo(f"{local.isoformat(timespec='seconds')} ({how})")


@clock_app.command("set")
def clock_set(
    moment: Annotated[str, typer.Argument(help="e.g. 2026-11-23T10:00:00+08:00")],
) -> None:
    """Run every process of the installation from MOMENT on (rehearsals, tests)."""
    from datetime import datetime

    try:
        clock.set_installation_time(datetime.fromisoformat(moment))
    except ValueError:
        raise fail(
            f"{moment!r} is not a moment with its time zone, like 2026-11-23T10:00:00+08:00"
        ) from None
    typer.echo(f"the installation's clock runs from {moment}")


@clock_app.command("advance")
def clock_advance(seconds: Annotated[float, typer.Argument(help="negative: back")]) -> None:
    """Move the installation's clock on by SECONDS."""

    clock.advance_installation_time(seconds)
    typer.echo(
        f"now {clock.now().astimezone(load_site_file().timezone).isoformat(timespec='seconds')}"
    )


@clock_app.command("real")
def clock_real() -> None:
    """Back to real time."""

    clock.real_installation_time()
    typer.echo("the installation's clock is real time again")
