"""The main job: a real call flow through the real PBX, with its report."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from cdr.models import CallLeg
from hotline.db import database_url, make_engine, sessions
from hotline.paths import Paths
from hotline.site import Site
from hotline.stack import Stack
from rig.orchestrator import Rig, RigReport
from rig.scenario_file import load_scenario

BUILT_IN = Path(__file__).resolve().parent.parent / "rig" / "scenarios" / "demo.toml"


def _call_table(paths: Paths, site: Site) -> str:
    engine = make_engine(database_url(paths))
    with sessions(engine)() as session:
        legs = session.execute(select(CallLeg).order_by(CallLeg.entered_at)).scalars().all()
    engine.dispose()
    zone = site.timezone
    lines = [
        f"{'entered (' + site.site.timezone + ')':<28}{'caller':<15}{'seat':<6}"
        f"{'wait s':>7}{'talk s':>8}  outcome"
    ]
    for leg in legs:
        lines.append(
            f"{leg.entered_at.astimezone(zone):%Y-%m-%d %H:%M:%S}         "
            f"{leg.caller_number:<15}{leg.seat_id or '-':<6}"
            f"{leg.wait_seconds or 0:>7.1f}{leg.talk_seconds or 0:>8.1f}  {leg.outcome}"
        )
    return "\n".join(lines)


def run_demo(
    site: Site, site_file: Path, paths: Paths, scenario_file: Path | None, keep_up: bool
) -> int:
    """Bring everything up, play the scenario, print the report, bring everything down.
    Returns 0 when every caller's call went as the scenario expects."""
    scenario = load_scenario(scenario_file or BUILT_IN, site)
    print(f"hotline demo — {site.site.name}")
    print(f"scenario: {scenario.name}: {scenario.description}")
    stack = Stack(site, site_file, paths)
    try:
        print("bringing up Redis, the database, Asterisk and the Stasis app...")
        stack.up()
        listening = stack.pbx.listening
        print(f"  Asterisk {stack.pbx.install.version}: SIP {listening.sip}, ARI {listening.ari}")
        rig = Rig(
            paths.state / "rig",
            pbx=(site.sip.bind, site.sip.port),
            caller_ip=site.trunks[0].match[0].split("/")[0],
        )
        report: RigReport = asyncio.run(rig.run(scenario))
        leftovers = stack.pbx.rx("core show channels count").strip().splitlines()
        print("\nwhat every phone saw (SIPp, RTP packets counted on the wire):")
        print(report.render())
        print("\nwhat the hotline recorded:")
        print(_call_table(paths, site))
        print("\nAsterisk afterwards: " + "; ".join(line for line in leftovers if line))
        failed = [
            c
            for c in report.callers
            if c.exit_code != 0 or not c.calls or not c.calls[0].has("answered")
        ]
        good = len(report.callers) - len(failed)
        print(f"\n{good}/{len(report.callers)} calls answered and ended cleanly")
        return 1 if failed else 0
    finally:
        if not keep_up:
            print("shutting down...")
            stack.down()
