"""`hotline sip`: addresses refused for guessing passwords."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core import clock
from core.paths import Paths
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    from guard.service import Bans

_T = TypeVar("_T")

sip_app = typer.Typer(
    help="SIP: the addresses banned for guessing passwords.", no_args_is_help=True
)
app.add_typer(sip_app, name="sip")


def _with_bans(work: Callable[[Bans], Awaitable[_T]]) -> _T:
    from ari_app.client import Ari, AriError
    from ari_app.main import ari_config
    from core.stores import async_redis
    from guard.service import Bans

    site, paths = load_site_file(), Paths.from_env()

    async def run() -> _T:
        redis = async_redis(paths)
        ari = Ari(ari_config(site, paths))
        try:
            return await work(Bans(redis, ari))
        finally:
            await ari.close()
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (OSError, AriError) as error:
        raise fail(
            f"Redis or Asterisk is not reachable ({error}); start them first: "
            "hotline pbx up && hotline services up"
        ) from None


def _address(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise fail(f"'{text}' is not an IP address") from None


@sip_app.command("bans")
def sip_bans() -> None:
    """The addresses refused on SIP now, and until when (in the site's time zone)."""
    site = load_site_file()
    bans = _with_bans(lambda bans: bans.in_force())
    if not bans:
        typer.echo("no address is banned")
    for ban in bans:
        until = ban.until.astimezone(site.timezone).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{ban.address:<40} until {until}  {ban.reason}")


@sip_app.command("ban")
def sip_ban(
    address: Annotated[str, typer.Argument(help="The IP address to refuse.")],
    minutes: Annotated[int, typer.Option(help="For how long.", min=1)] = 60,
) -> None:
    """Refuse an address on SIP by hand (audited as 'admin')."""
    from datetime import timedelta

    from guard.bans import Ban

    address = _address(address)
    ban = Ban(address, clock.now() + timedelta(minutes=minutes), "banned by hand")
    _with_bans(lambda bans: bans.ban(ban, "admin"))
    typer.echo(f"{address} refused for {minutes} min")


@sip_app.command("lift")
def sip_lift(address: Annotated[str, typer.Argument(help="The banned IP address.")]) -> None:
    """Let a banned address in again."""
    address = _address(address)
    if _with_bans(lambda bans: bans.lift(address, "admin")):
        typer.echo(f"{address} may send SIP requests again")
    else:
        raise fail(f"{address} is not banned (hotline sip bans lists the bans)")
