"""Recordings: a call's bridge recorded from the seat's answer, the notice before the line,
a full disk or a failing recorder that raise an alert while the call goes on, who may hear
a recording (every access in the audit log), and the retention. The files themselves — a
real three-way call in Ogg Vorbis — are checked in tests/integration/test_recordings.py."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ari_app.client import AriError
from cdr.models import CallLeg
from core import clock
from core.db import make_engine, sessions
from core.keys import SYSTEM_ALERTS
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from core.stores import database_url
from recording.files import file_of, name_for, ogg_seconds, spool_directory
from recording.models import Recording
from recording.service import Recordings
from tests.unit import web_app
from tests.unit.ari_script import SITE, Script, scripted_site

paths, client = web_app.paths, web_app.client  # the web app on an installation per test

# --- the file's length --------------------------------------------------------------------


def _page(granule: int, body: bytes) -> bytes:
    """An Ogg page header (capture pattern, version, flags, granule position) and a body."""
    return b"OggS" + bytes([0, 0]) + granule.to_bytes(8, "little", signed=True) + bytes(12) + body


def _vorbis_file(path: Path, rate: int, samples: int) -> Path:
    ident = b"\x01vorbis" + (0).to_bytes(4, "little") + bytes([1]) + rate.to_bytes(4, "little")
    path.write_bytes(_page(0, ident + bytes(40)) + bytes(3000) + _page(samples, bytes(200)))
    return path


@pytest.mark.parametrize(
    ("rate", "samples", "seconds"),
    [
        (8000, 8000 * 12, 12.0),
        (8000, 8000 * 7 + 4000, 7.5),
        (16000, 16000 * 3, 3.0),
        (8000, 0, 0.0),
    ],
)
def test_a_recordings_length_is_its_last_pages_samples_over_its_rate(
    tmp_path: Path, rate: int, samples: int, seconds: float
) -> None:
    assert ogg_seconds(_vorbis_file(tmp_path / "call.ogg", rate, samples)) == seconds


def test_a_file_that_is_no_ogg_vorbis_has_no_length(tmp_path: Path) -> None:
    (tmp_path / "call.wav").write_bytes(b"RIFF" + bytes(100))
    assert ogg_seconds(tmp_path / "call.wav") is None
    assert ogg_seconds(tmp_path / "missing.ogg") is None


# --- the call recorded -------------------------------------------------------------------------


async def _talk(script: Script) -> tuple[str, str]:
    """A caller answered by the seat rung first; the caller's channel and the call's bridge."""
    caller = script.caller_arrives(answered=True, arrived=clock.time(), music=True)
    await script.until(lambda: bool(script.ringing()), "a seat rings")
    leg = script.ringing()[0]
    script.answer(leg)
    await script.until(lambda: len(script.bridge_of(caller)) == 2, "caller and seat bridged")
    bridge = next(b for b, members in script.ari.bridges_.items() if caller in members)
    return caller, bridge


def _recordings(factory: sessionmaker[Session], caller: str) -> list[Recording]:
    with factory() as session:
        return list(
            session.execute(select(Recording).where(Recording.caller_channel == caller)).scalars()
        )


async def test_an_answered_call_is_recorded_from_the_seats_answer(
    script: Script, factory: sessionmaker[Session]
) -> None:
    caller, bridge = await _talk(script)
    await script.until(lambda: bool(script.ari.recordings), "the bridge recorded")
    assert script.ari.recordings == {name_for(bridge, clock.now()): bridge}
    script.hang_up(caller)
    await script.over(caller)
    await script.records()
    (row,) = _recordings(factory, caller)
    assert (row.state, row.name) == ("recorded", name_for(bridge, clock.now()))


@pytest.fixture
def scripted(request: pytest.FixtureRequest) -> Site:
    """The scripted site, or the one a test asks for (``indirect``)."""
    site: Site | None = getattr(request, "param", None)
    return site or scripted_site()


NOTICE_SITE = scripted_site(recordings={"enabled": True, "notice": True})


@pytest.mark.parametrize("scripted", [NOTICE_SITE], indirect=True)
async def test_the_caller_hears_the_notice_before_any_seat_is_rung(script: Script) -> None:
    """Notice on: the seat is rung only once the notice has ended."""
    caller = script.caller_arrives(answered=True, arrived=clock.time(), music=True)
    await script.until(lambda: bool(script.ari.playbacks), "the notice plays")
    ((playback, (media, target)),) = script.ari.playbacks.items()
    assert media.endswith("/recording-notice") and target == f"channel:{caller}"
    assert not script.ari.channels_[caller].music, "the notice is not played over music"
    assert not script.ringing(), "no seat rung during the notice"
    script.ari.finish(playback)
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "a seat rung after it")
    assert script.ari.channels_[caller].music, "on hold with music once in line"


async def test_a_full_disk_raises_an_alert_and_the_call_goes_on_unrecorded(
    script: Script, factory: sessionmaker[Session], redis: Redis, tmp_path: Path
) -> None:
    script.app.recorder.root, script.app.recorder.min_free_mb = tmp_path, 10**9
    caller, _ = await _talk(script)
    await script.until_stored(
        lambda: redis.hexists(SYSTEM_ALERTS, "recordings"), "the recordings alert"
    )
    alert = json.loads(await redis.hget(SYSTEM_ALERTS, "recordings") or "{}")
    assert "under the 1000000000 MB kept" in alert["detail"]
    assert not script.ari.recordings
    assert len(script.bridge_of(caller)) == 2, "the call goes on"
    script.hang_up(caller)
    await script.over(caller)
    await script.records()
    (row,) = _recordings(factory, caller)
    assert row.state == "failed" and row.name is None and "MB free" in (row.reason or "")
    # room again: the next call is recorded and the alert cleared
    script.app.recorder.min_free_mb = 0
    caller, _ = await _talk(script)
    await script.until_stored(
        lambda: _not(redis.hexists(SYSTEM_ALERTS, "recordings")), "the alert cleared"
    )
    assert len(script.ari.recordings) == 1


async def _not(check: object) -> bool:
    return not await check  # type: ignore[misc]


async def test_a_recorder_asterisk_refuses_raises_the_alert_and_the_call_goes_on(
    script: Script, factory: sessionmaker[Session], redis: Redis
) -> None:
    async def refuse(bridge: str, name: str, format: str) -> None:
        raise AriError("POST", f"/bridges/{bridge}/record", 422, "Recording failed")

    script.ari.record_bridge = refuse  # type: ignore[method-assign,assignment]
    caller, _ = await _talk(script)
    await script.until_stored(
        lambda: redis.hexists(SYSTEM_ALERTS, "recordings"), "the recordings alert"
    )
    assert len(script.bridge_of(caller)) == 2, "the call goes on"
    script.hang_up(caller)
    await script.over(caller)
    await script.records()
    (row,) = _recordings(factory, caller)
    assert row.state == "failed" and "Asterisk could not record" in (row.reason or "")


async def test_a_recording_that_fails_under_a_call_raises_the_alert(
    script: Script, factory: sessionmaker[Session], redis: Redis
) -> None:
    caller, bridge = await _talk(script)
    await script.until(lambda: bool(script.ari.recordings), "the bridge recorded")
    recording = {"name": "x", "target_uri": f"bridge:{bridge}", "cause": "write failed"}
    script.app.dispatch({"type": "RecordingFailed", "recording": recording})
    await script.until_stored(
        lambda: redis.hexists(SYSTEM_ALERTS, "recordings"), "the recordings alert"
    )
    await script.records()
    states = sorted(row.state for row in _recordings(factory, caller))
    assert states == ["failed", "recorded"]


def test_the_scripted_site_records_without_the_notice() -> None:
    """The other flow tests' site: recorded, no notice (their calls join the line at once)."""
    assert SITE["recordings"] == {"enabled": True, "notice": False}


# --- who may hear a recording ---------------------------------------------------------------


AUDIO = _page(0, b"\x01vorbis" + bytes(5) + (8000).to_bytes(4, "little")) + _page(8000 * 9, b"")


def _recorded_call(paths: Paths, seat: str, days_ago: float = 0) -> int:
    """A call taken by ``seat`` whose recording is on disk; the recording's id."""
    factory = sessions(make_engine(database_url(paths)))
    at = clock.now() - timedelta(days=days_ago)
    channel = f"c-{seat}-{days_ago}"
    name = name_for(f"call-{channel}", at)
    path = file_of(spool_directory(paths), name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(AUDIO)
    with factory.begin() as session:
        session.add(
            CallLeg(
                caller_channel=channel,
                caller_number="02150000001",
                called_number="12345",
                seat_id=seat,
                entered_at=at,
                answered_at=at,
            )
        )
        row = Recording(caller_channel=channel, name=name, started_at=at, state="recorded")
        session.add(row)
        session.flush()
        return row.id


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_supervisors_and_the_seat_that_took_the_call_may_hear_it_nobody_else(
    client: TestClient, paths: Paths, site: Site
) -> None:
    secrets = Secrets.load_or_create(paths.secrets_file)
    own, other = site.seats[0].id, site.seats[1].id
    recording = _recorded_call(paths, own)
    audio = f"/api/recordings/{recording}/audio"
    allowed = {
        "supervisor": secrets.supervisor_token(),
        "admin": secrets.admin_token,
        f"seat:{own}": secrets.console_token(own),
    }
    for token in allowed.values():
        response = client.get(audio, headers=_bearer(token))
        assert response.status_code == 200 and response.content == AUDIO
        assert response.headers["content-type"] == "audio/ogg"
    refused = client.get(audio, headers=_bearer(secrets.console_token(other)))
    assert refused.status_code == 403 and "its own calls" in refused.json()["detail"]
    assert client.get(audio).status_code == 401
    assert client.get(audio, headers=_bearer("guess")).status_code == 401
    download = client.get(f"{audio}?download=1", headers=_bearer(secrets.supervisor_token()))
    assert download.headers["content-disposition"].startswith("attachment;")
    details = client.get(f"/api/recordings/{recording}", headers=_bearer(secrets.admin_token))
    assert details.json()["seconds"] == 9.0
    who = [(access["who"], access["action"]) for access in details.json()["accesses"]]
    assert who == [*((name, "play") for name in allowed), ("supervisor", "download")]
    # a seat reads neither the details nor another seat's list
    seat_details = client.get(
        f"/api/recordings/{recording}", headers=_bearer(allowed[f"seat:{own}"])
    )
    assert seat_details.status_code == 401


def test_after_the_retention_the_file_is_gone_and_the_journey_says_so(
    client: TestClient, paths: Paths, site: Site
) -> None:
    secrets = Secrets.load_or_create(paths.secrets_file)
    days = site.recordings.retention_days
    assert days is not None
    old, recent = _recorded_call(paths, "1001", days + 1), _recorded_call(paths, "1001", 1)
    factory = sessions(make_engine(database_url(paths)))
    kept = Recordings(factory, spool_directory(paths))
    assert kept.delete_expired(clock.now(), days) == 1
    assert kept.delete_expired(clock.now(), days) == 0, "deleted once"
    headers = _bearer(secrets.supervisor_token())
    gone = client.get(f"/api/recordings/{old}/audio", headers=headers)
    assert gone.status_code == 410 and "deleted after the retention" in gone.json()["detail"]
    assert client.get(f"/api/recordings/{recent}/audio", headers=headers).status_code == 200
    journey = client.get(f"/api/journeys/c-1001-{days + 1}", headers=headers).json()
    (listed,) = journey["recordings"]
    assert listed["state"] == "deleted" and listed["audio"] is None
    assert "recording deleted after the retention" in [step["what"] for step in journey["timeline"]]
    journey = client.get("/api/journeys/c-1001-1", headers=headers).json()
    assert journey["recordings"][0]["audio"] == f"/api/recordings/{recent}/audio"
