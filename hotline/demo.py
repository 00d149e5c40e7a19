"""The main job: a real call flow through the real PBX, with its report."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from cdr import reports
from cdr.asterisk import cdr_file, count_file_records
from cdr.models import AsteriskCdr, CallLeg
from core import calendar, clock
from core.db import make_engine, sessions
from core.paths import Paths
from core.site import Site, load_site
from core.stores import database_url
from hotline.line import Line, on_nodes
from hotline.pbx import Pbx
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import csv_bytes, rows
from rig.orchestrator import Rig, RigReport, Scenario
from rig.scenario_file import load_scenario
from transfer.models import TransferAttempt, TransferRequest, WorkOrder

BUILT_IN = Path(__file__).resolve().parent.parent / "rig" / "scenarios" / "demo.toml"


def _legs(paths: Paths) -> list[CallLeg]:
    engine = make_engine(database_url(paths))
    with sessions(engine)() as session:
        legs = list(session.execute(select(CallLeg).order_by(CallLeg.entered_at)).scalars())
    engine.dispose()
    return legs


def _transfer_table(paths: Paths, site: Site) -> str:
    """Each transfer request with its attempts and work order."""
    engine = make_engine(database_url(paths))
    lines = []
    with sessions(engine)() as session:
        requests = session.execute(select(TransferRequest).order_by(TransferRequest.id)).scalars()
        for request in requests:
            attempts = session.execute(
                select(TransferAttempt)
                .where(TransferAttempt.request_id == request.id)
                .order_by(TransferAttempt.position)
            ).scalars()
            tried = ", ".join(f"{a.number} {a.outcome}" for a in attempts) or "nothing dialled"
            order = session.get(WorkOrder, request.work_order_id) if request.work_order_id else None
            due = ""
            if order is not None:
                deadline = order.deadline_at.astimezone(site.timezone)
                due = f"; work order {order.number} due {deadline:%Y-%m-%d %H:%M}"
            hours = "in" if request.in_hours else "out of"
            lines.append(
                f"  seat {request.seat_id} matter {request.matter_code} "
                f"({request.department_code}, {hours} hours): {tried} → {request.outcome}{due}"
            )
    engine.dispose()
    return "\n".join(lines) or "  none"


def _call_table(legs: list[CallLeg], site: Site) -> str:
    zone = site.timezone
    lines = [
        f"{'entered (' + site.site.timezone + ')':<28}{'caller':<15}{'kind':<11}{'tier':<9}"
        f"{'queue':<11}{'seat':<6}{'wait s':>7}{'talk s':>8}  {'outcome':<19}rating"
    ]
    for leg in legs:
        lines.append(
            f"{leg.entered_at.astimezone(zone):%Y-%m-%d %H:%M:%S}         "
            f"{leg.caller_number:<15}{leg.caller_kind or '-':<11}{leg.tier or '-':<9}"
            f"{leg.queue or '-':<11}{leg.seat_id or '-':<6}"
            f"{leg.wait_seconds or 0:>7.1f}{leg.talk_seconds or 0:>8.1f}  {leg.outcome or '-':<19}"
            f"{leg.satisfaction or '-'}"
        )
    return "\n".join(lines)


def _figures(paths: Paths, site: Site, pbx_paths: list[Paths]) -> str:
    """Today's reports as an admin reads them, and Asterisk's CDRs stored against written
    (by every node's Asterisk; the monitors get a few seconds to catch up)."""
    engine = make_engine(database_url(paths))
    factory = sessions(engine)
    written = sum(count_file_records(cdr_file(each.asterisk)) for each in pbx_paths)
    stored = 0
    for _ in range(50):
        with factory() as session:
            stored = session.execute(select(func.count()).select_from(AsteriskCdr)).scalar_one()
        if stored >= written:
            break
        time.sleep(0.2)
    today = clock.now().astimezone(site.timezone).date()
    period = reports.Period(today, today, site.timezone)
    with factory() as session:
        parts = [
            reports.as_text(reports.connect_rate(session, period)),
            reports.as_text(reports.queues(session, period, site.reports.service_level_seconds)),
        ]
    engine.dispose()
    parts.append(f"Asterisk CDRs: {written} written, {stored} stored in SQL")
    return "\n\n".join(parts)


def seed_registry(site: Site, paths: Paths) -> None:
    """The sample registry the demo scenario's callers belong to."""
    red_list = RedList.for_installation(site, paths)
    summary = red_list.import_csv(csv_bytes(list(rows(10, red_every=2))), actor="demo")
    red_list.close()
    print(f"  sample registry: firms 02150000000-09, the even ones on the red list ({summary})")


def rehearsal_moment(site: Site, scenario: Scenario, now: datetime) -> datetime | None:
    """None if the enterprise queue and every department the scenario's seats transfer to
    are open now; otherwise the first moment, on a coming half hour, when all of them are."""
    matters = {
        match
        for phone in scenario.phones
        for keys in phone.keys
        for match in re.findall(r"\*(\d+)#", keys.digits)
    }
    departments = {matter.department for matter in site.matters if matter.code in matters}
    schedules = [site.queue("enterprise").hours.schedule(site.timezone)]
    schedules += [
        d.hours.schedule(site.timezone) for d in site.departments if d.code in departments
    ]
    if all(schedule.is_open(now) for schedule in schedules):
        return None
    start = now.astimezone(site.timezone).replace(minute=0, second=0, microsecond=0)
    for step in range(1, 14 * 48):
        moment = start + timedelta(minutes=30 * step, seconds=30)
        if all(schedule.is_open(moment) for schedule in schedules):
            return moment
    return None


def _as_line(site: Site, site_file: Path, paths: Paths, nodes: int) -> tuple[Site, Path]:
    """The site as a line of ``nodes`` PBX nodes on this machine, behind an edge where its
    PBX listened (a site that already has nodes is taken as it is)."""
    if site.nodes or nodes < 1:
        return site, site_file
    text = on_nodes(site_file.read_text("utf-8"), nodes, (site.sip.bind, site.sip.port))
    paths.ensure()
    line_file = paths.state / "demo-line.toml"
    line_file.write_text(text, "utf-8")
    line_site = load_site(line_file)
    calendar.install(line_site)
    return line_site, line_file


def run_demo(
    site: Site,
    site_file: Path,
    paths: Paths,
    scenario_file: Path | None,
    keep_up: bool,
    nodes: int = 0,
) -> int:
    """Bring everything up, play the scenario, print the report, bring everything down
    (with ``nodes``: that many PBX nodes behind Kamailio). Returns 0 when every caller's
    call went as the scenario expects."""
    site, site_file = _as_line(site, site_file, paths, nodes)
    scenario = load_scenario(scenario_file or BUILT_IN, site)
    print(f"hotline demo — {site.site.name}")
    print(f"scenario: {scenario.name}: {scenario.description}")
    stack: Stack | Line = (
        Line(site, site_file, paths) if site.nodes else Stack(site, site_file, paths)
    )
    paths.ensure()
    clock.real_installation_time(paths.state)
    rehearsal = rehearsal_moment(site, scenario, clock.now())
    if rehearsal is not None:
        local = clock.now().astimezone(site.timezone)
        clock.set_installation_time(rehearsal, paths.state)
        print(
            f"  it is {local:%a %H:%M} in {site.site.timezone}: the enterprise line or a "
            "department the demo's seats call is closed; the demo runs the installation's "
            f"clock from {rehearsal:%a %Y-%m-%d %H:%M} so that every step of the call can be "
            "seen (`hotline clock` shows it, `hotline clock real` goes back)"
        )
    try:
        print("bringing up Redis, the database, Asterisk and the Stasis app...")
        stack.up()
        seed_registry(site, paths)
        pbxes = _pbxes(stack)
        for name, pbx in pbxes.items():
            listening = pbx.listening
            print(
                f"  {name}Asterisk {pbx.install.version}: SIP {listening.sip}, ARI {listening.ari}"
            )
        edge = site.edge
        if edge is not None:
            print(f"  Kamailio, the edge, takes the carrier's calls on {edge.address}:{edge.port}")
        rig = Rig(
            paths.state / "rig",
            pbx=(edge.address, edge.port) if edge else (site.sip.bind, site.sip.port),
            caller_ip=site.trunks[0].match[0].split("/")[0],
            proxied=edge is not None,
        )
        report: RigReport = asyncio.run(rig.run(scenario))
        leftovers = [
            f"{name}{line}"
            for name, pbx in pbxes.items()
            for line in pbx.rx("core show channels count").strip().splitlines()
        ]
        print("\nwhat every phone saw (SIPp, RTP packets counted on the wire):")
        print(report.render())
        print("\nwhat the hotline recorded:")
        legs = _legs(paths)
        print(_call_table(legs, site))
        if site.nodes:
            per_node = Counter(leg.node for leg in legs)
            print(
                "calls per node: " + ", ".join(f"{n.name} {per_node[n.name]}" for n in site.nodes)
            )
        print("\nthree-way transfers (seat keyed *<matter>#):")
        print(_transfer_table(paths, site))
        print("\n" + _figures(paths, site, [pbx.paths for pbx in pbxes.values()]))
        print("\nAsterisk afterwards: " + "; ".join(line for line in leftovers if line))
        clean = sum(1 for caller in report.callers if caller.exit_code == 0)
        served = sum(1 for leg in legs if leg.seat_id)
        total = len(report.callers)
        print(
            f"\n{served}/{total} answered by a seat; {clean}/{total} ended cleanly for the caller"
        )
        return 0 if served == clean == total == len(legs) else 1
    finally:
        clock.real_installation_time(paths.state)
        if keep_up:
            _leave_up(stack, site_file)
            if rehearsal is not None:
                print(
                    "the installation's clock is real time again, so calls made now are "
                    f"recorded when they happen; the rehearsal's calls are on {rehearsal:%Y-%m-%d}"
                    " (report them with --from/--to that day)"
                )
        else:
            print("shutting down...")
            stack.down()


def _pbxes(stack: Stack | Line) -> dict[str, Pbx]:
    """Every Asterisk of the demo, by the prefix its lines are printed with."""
    if isinstance(stack, Line):
        return {f"{name}: ": node.pbx for name, node in stack.nodes.items()}
    return {"": stack.pbx}


def _leave_up(stack: Stack | Line, site_file: Path) -> None:
    """After ``--keep-up``: the web app too, so that the dashboard can be opened (a line of
    nodes: how to stop it)."""
    from hotline.pbx import PbxError

    if isinstance(stack, Line):
        site = f"hotline --site {site_file}"
        print(
            f"\nleft running: the edge and every node; stop them with `{site} edge down`, "
            f"`{site} --node NAME services down && {site} --node NAME pbx down` for each "
            f"node ({', '.join(stack.nodes)}), then `{site} services down`"
        )
        return

    try:
        address = stack.start_web()
    except PbxError as error:
        print(f"\n{error}")
        return
    print(
        f"\nleft running: Asterisk, Redis, the front door, the app, the monitor and the web app "
        f"at {address} (the dashboard: `hotline report token` prints its address);\n"
        "stop everything with `hotline services down && hotline pbx down`"
    )
