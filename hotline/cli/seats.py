"""`hotline seats`: accounts for real phones, and the seats' states."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core.paths import Paths
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    from core.site import Site

_T = TypeVar("_T")

seats_app = typer.Typer(
    help="Seats: their phones' SIP accounts and their state.", no_args_is_help=True
)
app.add_typer(seats_app, name="seats")


def register_at(site: Site, encrypted: bool = False) -> str:
    """Where a phone registers: the PBX, or the line's edge (a line of nodes); an encrypted
    seat's over TLS."""
    if site.edge is not None:
        host, port, tls_port = site.edge.address, site.edge.port, site.edge.tls_port
    else:
        host, port = site.sip.external_address or site.sip.bind, site.sip.port
        tls_port = site.sip.tls_port
    return f"{host}:{tls_port} over TLS" if encrypted and tls_port else f"{host}:{port}"


@seats_app.command("accounts")
def seats_accounts() -> None:
    """The seats' SIP accounts: how to point a desk phone or a softphone at the PBX."""
    from core.secrets import Secrets

    site, paths = load_site_file(), Paths.from_env()
    secrets = Secrets.load_or_create(paths.secrets_file)
    web = f"http://{site.services.bind}:{site.services.web_port}"
    for seat in site.seats:
        console = f"{web}/console/{seat.id}#token={secrets.console_token(seat.id)}"
        typer.echo(f"{seat.id:>8}  {seat.name:<24} console {console}")
        if seat.contact:
            typer.echo(f"{seat.id:>8}  {seat.name:<24} fixed contact {seat.contact}")
        else:
            password = secrets.seat_password(seat.id, paths.secrets_file)
            server = register_at(site, seat.encrypted)
            typer.echo(
                f"{seat.id:>8}  {seat.name:<24} register at {server} as {seat.id} / {password}"
            )
    for phone in site.phones:
        if not phone.contact:
            password = secrets.seat_password(phone.number, paths.secrets_file)
            typer.echo(
                f"{phone.number:>8}  {'specialist phone':<24} register at {register_at(site)} as "
                f"{phone.number} / {password}"
            )


def _seat_action(seat_id: str | None, action: str, reason: str = "") -> None:
    from redis.exceptions import RedisError

    from core.stores import async_redis
    from queues.seats import LOGGED_OUT, SeatPool

    site, paths = load_site_file(), Paths.from_env()
    known = [seat.id for seat in site.seats]
    if seat_id is not None and seat_id not in known:
        raise fail(f"no seat {seat_id} in the site file (seats: {', '.join(known)})")

    async def run() -> dict[str, dict[str, object]]:
        redis = async_redis(paths)  # the services' time limits: a frozen Redis fails in 1 s
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
    except (OSError, RedisError) as error:
        raise fail(
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
