"""`hotline db`: the SQL database."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import typer

from core.paths import Paths
from hotline.cli.root import app

if TYPE_CHECKING:
    pass

_T = TypeVar("_T")

db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


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
