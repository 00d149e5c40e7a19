"""Recordings on real calls: a three-way call (caller, seat, specialist, each sending its own
tone) is in one Ogg Vorbis file as long as the talk, with the three tones in it; playing it
is in the audit log; after the retention it is gone and the journey says so. With the
recordings directory full, calls still connect and the alert is raised."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import select

from ari_app.client import Ari
from cdr.models import CallLeg
from core import clock
from core.keys import SYSTEM_ALERTS
from core.secrets import Secrets
from core.stores import redis_url
from hotline.stack import Stack
from recording.files import file_of, ogg_seconds, spool_directory
from recording.models import Recording
from recording.service import Recordings
from redlist.service import RedList
from redlist.synthetic import landline
from rig.browser import chromium
from rig.media import tone_presence, tone_share
from rig.orchestrator import CallerSpec, KeyPress, PhoneSpec, Rig, Scenario
from tests.conftest import SPECIALIST_A, ended_calls, eventually, seat_phones

pytestmark = pytest.mark.pbx

CALLER_TONE, SEAT_TONE, SPECIALIST_TONE = 440.0, 700.0, 1100.0


def _recordings_of(registry: RedList, leg: CallLeg) -> list[Recording]:
    with registry.sessions() as session:
        rows = list(
            session.execute(
                select(Recording).where(Recording.caller_channel == leg.caller_channel)
            ).scalars()
        )
        session.expunge_all()
    return rows


def _samples(path: Path) -> list[int]:
    """The recording decoded to 8 kHz 16-bit linear samples (sox reads Ogg Vorbis)."""
    raw = subprocess.run(
        ["sox", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-r", "8000", "-c", "1", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return [int.from_bytes(raw[i : i + 2], "little", signed=True) for i in range(0, len(raw), 2)]


async def _file_closed(path: Path) -> float | None:
    """The recording's length once Asterisk has closed it (its length stops changing)."""
    lengths: list[float | None] = []

    async def steady() -> bool:
        lengths.append(ogg_seconds(path))
        return len(lengths) > 2 and lengths[-1] is not None and lengths[-1] == lengths[-3]

    assert await eventually(steady, within=10), f"{path} never settled: {lengths[-3:]}"
    return lengths[-1]


async def test_a_three_way_call_is_recorded_whole_heard_by_the_allowed_and_kept_its_time(
    rig: Rig, stack: Stack, registry: RedList, one_seat: str
) -> None:
    since, caller_number = clock.now(), landline(3)
    port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    phones = (
        PhoneSpec(one_seat, port, answer_after=0.3, keys=(KeyPress(1.0, "*101#"),), tone=SEAT_TONE),
        PhoneSpec(SPECIALIST_A, 5081, answer_after=0.5, hold=6.0, tone=SPECIALIST_TONE),
    )
    caller = CallerSpec(caller_number, hold=12.0, tone=CALLER_TONE)
    report = await rig.run(Scenario("recorded", phones, (caller,)))
    assert report.callers[0].exit_code == 0, report.render()
    (leg,) = [
        leg for leg in await ended_calls(registry, since) if leg.caller_number == caller_number
    ]
    (recording,) = _recordings_of(registry, leg)
    assert recording.state == "recorded" and recording.name
    path = file_of(spool_directory(stack.paths), recording.name)
    seconds = await _file_closed(path)
    assert leg.talk_seconds is not None and seconds is not None
    assert abs(seconds - leg.talk_seconds) <= 1.0, (seconds, leg.talk_seconds)
    samples = _samples(path)
    # everyone is in the one file: the caller and the seat all along, the specialist for 6 s
    assert tone_share(samples, CALLER_TONE) > 0.5
    assert tone_share(samples, SEAT_TONE) > 0.5
    assert tone_share(samples, SPECIALIST_TONE) > 0.2
    assert tone_share(samples, 1700.0) < 0.05, "the detector hears no tone nobody sent"

    # a supervisor plays it through the web app: the access is in the audit log
    address = stack.start_web()
    secrets = Secrets.load_or_create(stack.paths.secrets_file)
    supervisor = {"Authorization": f"Bearer {secrets.supervisor_token()}"}
    async with httpx.AsyncClient(base_url=address, headers=supervisor) as web:
        audio = await web.get(f"/api/recordings/{recording.id}/audio")
        assert audio.status_code == 200 and audio.content == path.read_bytes()
        # and in the dashboard: found by the caller's number, played from the page
        async with chromium(f"{address}/dashboard#token={secrets.supervisor_token()}") as page:
            await page.wait_for("!!document.getElementById('call-find')")
            await page.evaluate(
                f"document.getElementById('call-search').value = '{caller_number}';"
                "document.getElementById('call-find').click()"
            )
            await page.wait_for(
                "[...document.querySelectorAll('#calls button')]"
                ".some(b => b.textContent === 'recordings')"
            )
            await page.evaluate(
                "[...document.querySelectorAll('#calls button')]"
                ".find(b => b.textContent === 'recordings').click()"
            )
            await page.wait_for(
                "[...document.querySelectorAll('#calls button')]"
                ".some(b => b.textContent === '▶ play')"
            )
            await page.evaluate(
                "[...document.querySelectorAll('#calls button')]"
                ".find(b => b.textContent === '▶ play').click()"
            )
            # the browser decoded the file: its length is the recording's
            played = await page.wait_for(
                "(() => { const p = document.getElementById('player');"
                " return p.readyState >= 1 && p.duration > 0 ? p.duration : null; })()"
            )
        assert abs(float(played) - seconds) < 0.5, (played, seconds)
        details = (await web.get(f"/api/recordings/{recording.id}")).json()
        accesses = [(a["who"], a["action"]) for a in details["accesses"]]
        assert accesses == [("supervisor", "play"), ("supervisor", "play")]
        # past the retention the file is deleted; the journey says so
        days = stack.site.recordings.retention_days
        assert days is not None
        kept = Recordings(registry.sessions, spool_directory(stack.paths))
        assert kept.delete_expired(clock.now() + timedelta(days=days + 1), days) >= 1
        assert not path.exists()
        assert (await web.get(f"/api/recordings/{recording.id}/audio")).status_code == 410
        journey = (await web.get(f"/api/journeys/{leg.caller_channel}")).json()
        assert journey["recordings"][0]["state"] == "deleted"
        assert any("deleted after the retention" in s["what"] for s in journey["timeline"])


@contextlib.contextmanager
def _full(directory: Path) -> Iterator[None]:
    """A full file system mounted where Asterisk writes its recordings: no block and no
    inode left."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=3", "tmpfs", str(directory)],
        check=True,
    )
    try:
        with contextlib.suppress(OSError), (directory / "filler").open("wb") as filler:
            while True:
                filler.write(bytes(4096))
                filler.flush()
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def _asterisk_recordings(stack: Stack) -> Path:
    """The recordings directory as Asterisk sees it (inside its private root, if any)."""
    if stack.pbx.install.root is None:
        return spool_directory(stack.paths)
    return stack.pbx.install.root / stack.pbx.prefix.lstrip("/") / "spool" / "recording"


async def test_with_the_recordings_directory_full_calls_connect_and_an_alert_is_raised(
    rig: Rig, ari: Ari, stack: Stack, registry: RedList, one_seat: str
) -> None:
    alerts = Redis.from_url(redis_url(stack.paths))
    alerts.hdel(SYSTEM_ALERTS, "recordings")
    port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    seat = PhoneSpec(one_seat, port, answer_after=0.3, tone=SEAT_TONE)
    since = clock.now()
    with _full(_asterisk_recordings(stack)):
        report = await rig.run(
            Scenario("disk-full", (seat,), (CallerSpec(landline(4), hold=4.0),)),
            listen=(landline(4), one_seat),
        )
    assert report.callers[0].exit_code == 0, report.render()
    caller = report.callers[0]
    assert tone_presence(caller.audio, SEAT_TONE) > 0.6, "the caller heard the seat"
    (leg,) = await ended_calls(registry, since)
    assert leg.answered_at is not None and leg.outcome == "caller-hangup"
    (recording,) = _recordings_of(registry, leg)
    assert recording.state == "failed" and "Asterisk could not record" in (recording.reason or "")
    raised = alerts.hget(SYSTEM_ALERTS, "recordings")
    assert raised is not None, "the recordings alert was not raised"
    # room again: the next call is recorded, and the alert cleared
    since = clock.now()
    report = await rig.run(Scenario("room-again", (seat,), (CallerSpec(landline(5), hold=2.0),)))
    assert report.callers[0].exit_code == 0, report.render()
    (leg,) = await ended_calls(registry, since)
    assert [r.state for r in _recordings_of(registry, leg)] == ["recorded"]

    async def cleared() -> bool:
        return alerts.hget(SYSTEM_ALERTS, "recordings") is None

    assert await eventually(cleared, within=5), "the alert stayed raised"
    alerts.close()
