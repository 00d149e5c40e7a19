"""Asterisk's CDRs into SQL without a PBX: the same record from AMI and from the file is
stored once, a pass over the file is idempotent and reads on from where it stopped, a line
Asterisk is still writing waits, and a bad line is reported with its number."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdr.asterisk import FILE_COLUMNS, Cdr, reconcile, store
from cdr.models import AsteriskCdr


def _line(uniqueid: str, sequence: int, start: float = 1795424343.284365) -> str:
    values = {
        "uniqueid": uniqueid, "sequence": str(sequence), "linkedid": "1795424343.0",
        "channel": "PJSIP/carrier-00000000", "dst_channel": "PJSIP/1001-00000001",
        "src": "02150000001", "dst": "s", "dcontext": "hotline-entry",
        "clid": '"02150000001" <02150000001>', "last_app": "Stasis",
        "last_data": "hotline,inbound", "start_at": str(start), "answer_at": "0.000000",
        "end_at": str(start + 2), "duration": "2", "billsec": "0",
        "disposition": "NO ANSWER", "accountcode": "", "userfield": "",
    }  # fmt: skip
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(
        [values[name] for name, _ in FILE_COLUMNS]
    )
    return out.getvalue()


def _stored(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(AsteriskCdr)).scalar_one())


def test_a_record_arrives_once_whichever_way_and_however_often(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    event = {
        "UniqueID": "1795424343.0", "Sequence": "0", "LinkedID": "1795424343.0",
        "Channel": "PJSIP/carrier-00000000", "DestinationChannel": "PJSIP/1001-00000001",
        "Source": "02150000001", "Destination": "s", "DestinationContext": "hotline-entry",
        "CallerID": '"02150000001" <02150000001>', "LastApplication": "Stasis",
        "LastData": "hotline,inbound", "StartTime": "2026-11-23 08:59:03", "AnswerTime": "",
        "EndTime": "2026-11-23 08:59:05", "Duration": "2", "BillableSeconds": "0",
        "Disposition": "NO ANSWER", "AccountCode": "", "UserField": "",
    }  # fmt: skip
    assert store(factory, [Cdr.from_ami(event)], "ami") == 1
    assert store(factory, [Cdr.from_ami(event)], "ami") == 0
    path = tmp_path / "hotline-cdr.csv"
    path.write_text(_line("1795424343.0", 0) + _line("1795424343.0", 1), encoding="utf-8")
    first = reconcile(factory, path)
    assert (first.read, first.added, first.bad) == (2, 1, [])
    assert reconcile(factory, path).read == 0, "the next pass reads on from where it stopped"

    with open(path, "a", encoding="utf-8") as file:  # one more, and half of another
        file.write(
            _line("1795424350.4", 2) + "not,a,whole,record\n" + _line("1795424350.6", 3)[:30]
        )
    second = reconcile(factory, path)
    assert (second.read, second.added) == (1, 1)
    assert second.bad == ["hotline-cdr.csv line 4: 4 columns, expected 19"]
    with open(path, "a", encoding="utf-8") as file:  # Asterisk finishes writing the line
        file.write(_line("1795424350.6", 3)[30:])
    assert reconcile(factory, path).added == 1
    assert _stored(factory) == 4
    with factory() as session:
        sources = dict(session.execute(select(AsteriskCdr.sequence, AsteriskCdr.source)).all())
    assert sources == {0: "ami", 1: "file", 2: "file", 3: "file"}
