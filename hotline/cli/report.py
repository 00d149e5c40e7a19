"""`hotline report`: reports, calls and journeys, the dashboard's address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from core import clock
from core.paths import Paths
from core.site import Site
from hotline.cli.root import app, fail, load_site_file

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


_T = TypeVar("_T")

report_app = typer.Typer(
    help="Reports for a period of local days (the site's time zone), as readable tables or "
    "CSV; call journeys; the supervisors' dashboard address.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

_FROM = typer.Option("--from", help="First local day, YYYY-MM-DD (default: today).")
_TO = typer.Option("--to", help="Last local day, included (default: the first).")


def _report_sessions() -> tuple[Site, sessionmaker[Session]]:
    from core.db import make_engine, sessions
    from core.stores import database_url
    from hotline.schema import migrate

    site, paths = load_site_file(), Paths.from_env()
    url = database_url(paths)
    if url.startswith("sqlite") and not (paths.state / "hotline.db").exists():
        raise fail(f"no database at {paths.state / 'hotline.db'}: run `hotline demo` first")
    migrate(url)
    return site, sessions(make_engine(url))


def _print_report(
    name: str, first: str | None, last: str | None, by: str, department: str | None, as_csv: bool
) -> None:
    import csv
    import sys

    from cdr import reports

    site, factory = _report_sessions()
    today = clock.now().astimezone(site.timezone).date()
    try:
        period = reports.Period.parse(first, last, site.timezone, today)
        options = reports.Options(by, department, site.reports.service_level_seconds)
        with factory() as session:
            result = reports.make_report(session, name, period, options)
    except reports.ReportError as error:
        raise fail(str(error)) from error
    if as_csv:
        csv.writer(sys.stdout).writerows(reports.as_csv_rows(result))
    else:
        typer.echo(reports.as_text(result))


def _report_command(name: str, about: str) -> None:
    def command(
        first: Annotated[str | None, _FROM] = None,
        last: Annotated[str | None, _TO] = None,
        by: Annotated[
            str, typer.Option(help="connect-rate: department, matter, hour, day or day-hour")
        ] = "department",
        department: Annotated[
            str | None, typer.Option(help="failed-attempts: one department's dials")
        ] = None,
        as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
    ) -> None:
        _print_report(name, first, last, by, department, as_csv)

    command.__doc__ = about
    report_app.command(name)(command)


def _add_report_commands() -> None:
    from cdr.reports import REPORTS

    for kind in REPORTS.values():
        _report_command(kind.name, kind.about)


_add_report_commands()


@report_app.command("calls")
def report_calls(
    first: Annotated[str | None, _FROM] = None,
    last: Annotated[str | None, _TO] = None,
    number: Annotated[
        str | None, typer.Option(help="Caller number, written any way, or part of it.")
    ] = None,
    company: Annotated[
        str | None, typer.Option(help="Company name, or part of it, or its credit code.")
    ] = None,
    seat: Annotated[str | None, typer.Option(help="The seat that answered.")] = None,
    outcome: Annotated[str | None, typer.Option(help="How the call ended.")] = None,
) -> None:
    """Calls of a period (the last 7 days unless dates are given), newest first;
    `hotline report journey CALL` opens one."""

    from cdr import journeys, reports

    site, factory = _report_sessions()
    today = clock.now().astimezone(site.timezone).date()
    try:
        period, note = journeys.search_period(first, last, site.timezone, today)
    except reports.ReportError as error:
        raise fail(str(error)) from error
    if note:
        typer.echo(f"({note})")
    with factory() as session:
        found = journeys.search(
            session, period, number, company, seat, outcome, area_code=site.site.area_code
        )
    for call in found["calls"]:
        typer.echo(
            f"{call['entered_at']}  {call['caller_number']:<14} {call['tier'] or '-':<9} "
            f"seat {call['seat'] or '-':<5} {call['outcome'] or 'in progress':<18} "
            f"{call['satisfaction'] or '':<20} {call['call']}"
        )
    if found["more"]:
        typer.echo("(more: narrow the search)")


@report_app.command("journey")
def report_journey(call: Annotated[str, typer.Argument(help="linkedid or caller channel")]) -> None:
    """One call from end to end: its timeline, transfers and Asterisk's CDRs."""
    from cdr import journeys

    site, factory = _report_sessions()
    with factory() as session:
        found = journeys.journey(session, call, site.timezone)
    if found is None:
        raise fail(f"no call {call!r} recorded")
    typer.echo(
        f"{found['caller_number']} {found['company'] or ''} ({found['tier'] or 'no tier'}), "
        f"{found['kind']}: {found['outcome']}, satisfaction {found['satisfaction'] or '-'}"
    )
    for step in found["timeline"]:
        typer.echo(f"  {step['at']}  {step['what']}")
    typer.echo(f"  Asterisk CDRs: {len(found['asterisk_cdrs'])}")


@report_app.command("token")
def report_token() -> None:
    """The supervisors' token and the dashboard's address with it."""
    from core.secrets import Secrets

    site, paths = load_site_file(), Paths.from_env()
    token = Secrets.load_or_create(paths.secrets_file).supervisor_token()
    web = f"http://{site.services.bind}:{site.services.web_port}"
    typer.echo(f"supervisor token: {token}")
    typer.echo(f"dashboard:        {web}/dashboard#token={token}")
    typer.echo(f"metrics:          {web}/metrics (Authorization: Bearer <token>)")
