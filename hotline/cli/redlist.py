"""`hotline redlist`: the enterprise registry and the red list."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core.paths import Paths
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    from redlist.service import RedList

_T = TypeVar("_T")


redlist_app = typer.Typer(help="The enterprise registry and the red list.", no_args_is_help=True)
app.add_typer(redlist_app, name="redlist")


@app.command("agi")
def run_agi() -> None:
    """Run the FastAGI front door in the foreground."""
    from agi.server import serve

    asyncio.run(serve(load_site_file(), Paths.from_env()))


def _red_list() -> RedList:
    from core.stores import database_url
    from hotline.redis_server import PrivateRedis
    from hotline.schema import migrate
    from redlist.service import RedList

    site, paths = load_site_file(), Paths.from_env()
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
        raise fail(f"cannot read {file}: {error.strerror}") from None
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
    """What the front door decides for a caller number (a look-up: it starts nothing)."""
    from redis.exceptions import RedisError

    from redlist.service import RedList

    red_list = RedList.for_installation(load_site_file(), Paths.from_env())
    try:
        caller = red_list.identify(number)
    except RedisError as error:
        raise fail(
            f"the caller directory (Redis) does not answer ({error}); "
            "start the services first: hotline services up"
        ) from None
    finally:
        red_list.close()
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
