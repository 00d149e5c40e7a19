"""`hotline site`: the site file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from hotline.cli.root import app, calendar_warnings, load_site_file, state

if TYPE_CHECKING:
    pass

_T = TypeVar("_T")

site_app = typer.Typer(help="The site file.", no_args_is_help=True)
app.add_typer(site_app, name="site")


@site_app.command("check")
def site_check(
    file: Annotated[Path | None, typer.Argument(help="Defaults to --site.")] = None,
) -> None:
    """Check a site file; print every problem with the key it is at."""
    if file is not None:
        state.site_file = file
    site = load_site_file()
    typer.echo(
        f"{state.site_file}: OK — {site.site.name}: {len(site.seats)} seats, "
        f"{len(site.departments)} departments, {len(site.matters)} matters, "
        f"hotline number(s) {', '.join(site.hotline_numbers)}"
    )
    for warning in calendar_warnings(site):
        typer.echo(warning)
