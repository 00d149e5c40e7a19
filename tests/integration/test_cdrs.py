"""Asterisk's CDRs reach SQL, none lost: the monitor's AMI listener stores them as they
come, and after it was stopped for part of the run, the reconciliation fills in what it
missed from Asterisk's CDR file. The count stored equals what Asterisk wrote (its own
``cdr_csv`` Master.csv, an independent count), and a second pass changes nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import delete, func, select

from cdr.asterisk import cdr_file, count_file_records, reconcile
from cdr.models import AsteriskCdr, CallLeg, CdrFileMark
from core.db import make_engine, sessions
from core.site import Site
from core.stores import database_url
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.orchestrator import CallerSpec, Rig, Scenario
from tests.conftest import eventually, seat_phones

pytestmark = pytest.mark.pbx


def _calls(name: str, site: Site, firms: range) -> Scenario:
    return Scenario(
        name,
        phones=seat_phones(site, "enterprise", hold=None),
        callers=tuple(CallerSpec(landline(n), at=0.3 * i, hold=2.0) for i, n in enumerate(firms)),
    )


def _master_csv_lines(stack: Stack) -> int:
    master = stack.paths.asterisk / "log" / "cdr-csv" / "Master.csv"
    return count_file_records(master)


async def test_cdrs_stored_equal_what_asterisk_wrote_across_a_listener_outage(
    rig: Rig, stack: Stack, site: Site, registry: RedList
) -> None:
    engine = make_engine(database_url(stack.paths))
    factory = sessions(engine)
    the_file = cdr_file(stack.paths.asterisk)

    def stored() -> int:
        with factory() as session:
            return int(session.execute(select(func.count()).select_from(AsteriskCdr)).scalar_one())

    async def caught_up() -> bool:
        return stored() == _master_csv_lines(stack) == count_file_records(the_file)

    try:
        stack.start_monitor()
        before = _master_csv_lines(stack)
        report = await rig.run(_calls("cdrs-live", site, range(1, 4)))
        assert all(caller.exit_code == 0 for caller in report.callers)
        assert await eventually(caught_up, within=10), (stored(), _master_csv_lines(stack))
        live_phase = stored()
        assert live_phase > before

        stack.stop_monitor()
        report = await rig.run(_calls("cdrs-outage", site, range(4, 7)))
        assert all(caller.exit_code == 0 for caller in report.callers)
        assert await eventually(lambda: _async(_master_csv_lines(stack) > live_phase), within=5)
        assert stored() == live_phase, "nothing is stored while the listener is down"

        stack.start_monitor()
        assert await eventually(caught_up, within=15), (stored(), _master_csv_lines(stack))

        with factory() as session:
            sources = Counter(session.execute(select(AsteriskCdr.source)).scalars())
            call_linkedids = set(session.execute(select(CallLeg.linkedid)).scalars())
            cdr_linkedids = set(session.execute(select(AsteriskCdr.linkedid)).scalars())
        assert sources["ami"] > 0, "the live listener stored records"
        assert sources["file"] > 0, "the reconciliation filled in the outage"
        # every call the app recorded is grouped with Asterisk's records by its linkedid
        assert call_linkedids - {None} <= cdr_linkedids

        again = reconcile(factory, the_file)
        with factory.begin() as session:  # read the whole file again from the first line
            session.execute(delete(CdrFileMark))
        from_start = reconcile(factory, the_file)
        assert (again.added, from_start.added, from_start.bad) == (0, 0, [])
        assert from_start.read == count_file_records(the_file) == stored()
    finally:
        engine.dispose()
        stack.start_monitor()


async def _async(value: bool) -> bool:
    return value
