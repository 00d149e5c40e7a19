"""`hotline edge` (Kamailio, the line's SIP edge) and `hotline nodes` (the PBX nodes behind
it): up, down, the nodes' states, drain and undrain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from core.paths import Paths
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    from hotline.edge import Edge

edge_app = typer.Typer(help="Kamailio, the line's SIP edge: up, down.", no_args_is_help=True)
app.add_typer(edge_app, name="edge")
nodes_app = typer.Typer(
    help="The PBX nodes behind the edge: their state; drain one, bring it back.",
    invoke_without_command=True,
)
app.add_typer(nodes_app, name="nodes")


def _edge() -> Edge:
    from hotline.edge import Edge

    site = load_site_file()
    if site.edge is None:
        raise fail("the site file has no [edge]: this line has one PBX and no Kamailio")
    paths = Paths.from_env()
    paths.ensure()
    return Edge(site, paths)


@edge_app.command("up")
def edge_up() -> None:
    """Render Kamailio's configuration from the site file, start it, wait until it answers."""
    from hotline.edge import EdgeError

    edge = _edge()
    try:
        edge.up()
    except EdgeError as error:
        raise fail(str(error)) from None
    assert edge.site.edge is not None
    typer.echo(
        f"the edge is up on {edge.site.edge.address}:{edge.site.edge.port} (log: {edge.log_file})"
    )


@edge_app.command("run")
def edge_run() -> None:
    """Render Kamailio's configuration and run Kamailio in the foreground, logging to
    stderr (what a container or a systemd unit runs)."""
    import os

    from hotline.edge import EdgeError

    try:
        argv = _edge().render()
    except EdgeError as error:
        raise fail(str(error)) from None
    os.execvp(argv[0], argv)


@edge_app.command("down")
def edge_down() -> None:
    """Stop Kamailio."""
    _edge().down()
    typer.echo("the edge is down")


@nodes_app.callback()
def nodes_list(context: typer.Context) -> None:
    """Each node with its state: up (takes new calls), down (did not answer), drained."""
    if context.invoked_subcommand is not None:
        return
    from hotline.edge import EdgeError

    try:
        statuses = _edge().nodes()
    except EdgeError as error:
        raise fail(str(error)) from None
    calls = _calls_per_node()
    for status in statuses:
        count = calls.get(status.name)
        typer.echo(
            f"{status.name:<16} {status.state.value:<8} {status.target:<28} "
            f"{'?' if count is None else count} calls"
        )
    registered = _edge().registered()
    typer.echo(
        f"phones registered with the edge: {len(registered)}"
        + (f" ({', '.join(registered)})" if registered else "")
    )


def _calls_per_node() -> dict[str, int]:
    """The calls each node's app processes have now, from their last heartbeat (none for a
    node whose processes are gone; nothing at all when Redis does not answer)."""
    from redis.exceptions import RedisError

    from ari_app.names import stasis_app_names
    from core import keys
    from core.stores import sync_redis

    site = load_site_file()
    try:
        with sync_redis(Paths.from_env()) as redis:
            return {
                node.name: sum(
                    int(redis.get(keys.calls_now(app)) or 0)
                    for app in stasis_app_names(site.on_node(node.name))
                )
                for node in site.nodes
            }
    except (RedisError, OSError):
        return {}


@nodes_app.command("drain")
def nodes_drain(node: str) -> None:
    """No new call to NODE; the calls it has finish."""
    from hotline.edge import EdgeError

    try:
        _edge().drain(node)
    except EdgeError as error:
        raise fail(str(error)) from None
    typer.echo(f"{node} takes no new call; its calls go on to their end")


@nodes_app.command("undrain")
def nodes_undrain(node: str) -> None:
    """NODE takes new calls again once it answers its probe."""
    from hotline.edge import EdgeError

    try:
        _edge().undrain(node)
    except EdgeError as error:
        raise fail(str(error)) from None
    typer.echo(f"{node} takes new calls again")
