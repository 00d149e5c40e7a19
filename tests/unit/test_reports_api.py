"""The reports API: who may read it, the same figures as JSON and CSV, the drill-down to the
calls behind a figure, the wallboard over a WebSocket, and /metrics. (The figures from real
calls are checked end to end in tests/integration/test_reports.py.)"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis as AsyncRedis
from starlette.websockets import WebSocketDisconnect

from cdr.live import LiveRates
from cdr.models import CallLeg
from cdr.rollups import Rollups
from core import clock
from core.db import make_engine, sessions
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from core.stores import database_url
from redlist.models import Enterprise
from tests.unit import web_app
from tests.unit.transfers import record_transfer
from transfer.plan import TransferPlan
from transfer.recorder import TransferRecords

paths, client = web_app.paths, web_app.client  # the web app on an installation per test


def _record_transfers(site: Site, paths: Paths, redis_url: str) -> str:
    """Three transfer requests for the tax bureau today (two answered); the local day."""
    factory = sessions(make_engine(database_url(paths)))
    plan = TransferPlan(factory, site.timezone)
    plan.seed(site)
    route = plan.route("101")
    assert route is not None
    now = datetime.now(site.timezone).replace(microsecond=0)

    records = TransferRecords(Rollups(site.timezone), site.timezone)

    async def count_live(outcomes: tuple[str, ...]) -> None:
        redis = AsyncRedis.from_url(redis_url)
        live = LiveRates(redis, site.timezone)
        for outcome in outcomes:
            await live.request_decided(route.department, route.matter, True, outcome)
            dial = "answered" if outcome == "answered" else "busy"
            await live.dial_ended(route.numbers[0], True, dial)
        await redis.aclose()

    outcomes = ("answered", "answered", "failed")
    for n, outcome in enumerate(outcomes):
        at = now - timedelta(seconds=30 - n)
        dial = "answered" if outcome == "answered" else "busy"
        record_transfer(
            factory,
            records,
            at,
            route,
            [(route.numbers[0], dial)],
            outcome,
            caller=f"caller-{n}",
            linkedid=f"call-{n}",
        )
    asyncio.run(count_live(outcomes))
    return now.date().isoformat()


def _tokens(paths: Paths) -> dict[str, str]:
    secrets = Secrets.load_or_create(paths.secrets_file)
    return {
        "admin": secrets.admin_token,
        "supervisor": secrets.supervisor_token(),
        "seat": secrets.console_token("1001"),
    }


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reports_need_a_supervisor_or_admin_and_admin_routes_only_an_admin(
    client: TestClient, paths: Paths
) -> None:
    tokens = _tokens(paths)
    for path in ("/api/reports/connect-rate", "/api/journeys", "/api/live", "/metrics"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=_as(tokens["seat"])).status_code == 401, path
        assert client.get(path, headers=_as(tokens["supervisor"])).status_code == 200, path
        assert client.get(path, headers=_as(tokens["admin"])).status_code == 200, path
    # the supervisor reads; it changes nothing
    assert client.get("/api/enterprises", headers=_as(tokens["supervisor"])).status_code == 401
    assert client.get("/api/seats", headers=_as(tokens["supervisor"])).status_code == 401
    schema = client.get("/api/openapi.json", headers=_as(tokens["admin"])).json()
    assert "/api/reports/{name}" in schema["paths"] and "/api/journeys/{call}" in schema["paths"]


def test_the_same_figures_come_as_json_and_csv_with_the_calls_behind_them(
    client: TestClient, site: Site, paths: Paths, redis_url: str
) -> None:
    day = _record_transfers(site, paths, redis_url)
    headers = _as(_tokens(paths)["supervisor"])
    body = client.get(
        "/api/reports/connect-rate", params={"from": day, "to": day}, headers=headers
    ).json()
    (tax,) = body["rows"]
    assert (tax["department"], tax["answered"], tax["requests"]) == ("tax", 2, 3)
    assert tax["connect_rate"] == 0.6667 and body["timezone"] == "Asia/Shanghai"
    assert "÷" in body["definitions"]["connect_rate"]

    text = client.get(
        "/api/reports/connect-rate",
        params={"from": day, "to": day, "format": "csv"},
        headers=headers,
    ).text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:4] == ["department", "answered", "requests", "connect_rate"]
    assert table[1][:4] == ["tax", "2", "3", "0.6667"]

    behind = client.get(tax["calls"], headers=headers).json()["calls"]
    assert sorted(call["outcome"] for call in behind) == ["answered", "answered", "failed"]
    failed = client.get(
        "/api/reports/calls",
        params={"figure": "attempts", "from": day, "to": day, "outcome": "busy"},
        headers=headers,
    ).json()["calls"]
    assert [call["call"] for call in failed] == ["call-2"]

    live = client.get("/api/live", headers=headers).json()
    (board,) = live["connect_rate"]
    assert (board["department"], board["15m"]["answered"], board["15m"]["requests"]) == (
        "tax",
        2,
        3,
    )
    metrics = client.get("/metrics", headers=headers).text
    assert 'hotline_transfer_attempts_total{outcome="busy"} 1' in metrics
    assert 'hotline_connect_rate{department="tax",window="15m"} 0.6666' in metrics

    refused = client.get(
        "/api/reports/connect-rate", params={"from": "2026-13-01"}, headers=headers
    )
    assert refused.status_code == 422 and "YYYY-MM-DD" in refused.json()["detail"]
    assert client.get("/api/reports/nothing", headers=headers).status_code == 404


def test_the_wallboard_socket_wants_a_viewer_token_and_pushes_the_board(
    client: TestClient, paths: Paths
) -> None:
    tokens = _tokens(paths)
    for refused in ({"token": tokens["seat"]}, {"token": ""}, ["not", "an", "object"]):
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/ws/wallboard") as socket,
        ):
            socket.send_json(refused)
            socket.receive_json()
        assert closed.value.code == 4401
    with client.websocket_connect("/ws/wallboard") as socket:
        socket.send_json({"token": tokens["supervisor"]})
        board = socket.receive_json()
    assert {"waiting", "seats", "connect_rate", "alerts", "today", "target"} <= set(board)
    assert board["target"] == 0.9


def test_journeys_find_a_number_however_written_a_company_by_code_and_the_last_week(
    client: TestClient, paths: Paths, site: Site
) -> None:
    """A firm's calls from ``+86 21 …``, ``0086 21 …`` and ``6234 5678`` are one number to the
    search; without dates it covers the last 7 days, so a call at 23:59 is found after
    midnight, and says so."""
    zone = site.timezone
    just_after_midnight = datetime(2026, 11, 24, 0, 30, tzinfo=zone)
    factory = sessions(make_engine(database_url(paths)))
    calls = {  # channel: (caller ID as it arrived, local time)
        "late": ("+862162345678", datetime(2026, 11, 23, 23, 59, tzinfo=zone)),
        "noon": ("00862162345678", datetime(2026, 11, 23, 12, 0, tzinfo=zone)),
        "local": ("62345678", datetime(2026, 11, 18, 9, 0, tzinfo=zone)),
        "other": ("13800138000", datetime(2026, 11, 23, 10, 0, tzinfo=zone)),
        "too-old": ("02162345678", datetime(2026, 11, 17, 23, 0, tzinfo=zone)),
    }
    with factory.begin() as session:
        firm = Enterprise(
            uscc="91310000MA1FL0001X",
            name="Acme Trading",
            created_at=just_after_midnight,
            updated_at=just_after_midnight,
        )
        session.add(firm)
        session.flush()
        for channel, (number, at) in calls.items():
            session.add(
                CallLeg(
                    caller_channel=channel,
                    linkedid=channel,
                    caller_number=number,
                    called_number="12345",
                    entered_at=at,
                    enterprise_id=firm.id if channel == "noon" else None,
                )
            )
    headers = _as(_tokens(paths)["supervisor"])

    def found(**query: str) -> list[str]:
        body = client.get("/api/journeys", params=query, headers=headers).json()
        return [call["call"] for call in body["calls"]]

    with clock.use(clock.ManualClock(just_after_midnight.timestamp())):
        body = client.get("/api/journeys", headers=headers).json()
        assert body["period"]["from"] == "2026-11-18" and body["period"]["to"] == "2026-11-24"
        assert "last 7 days" in body["period"]["note"]
        assert [call["call"] for call in body["calls"]] == ["late", "noon", "other", "local"]
        for written in ("+86 21 6234 5678", "0086-21-62345678", "(021) 6234-5678", "6234 5678"):
            assert found(number=written) == ["late", "noon", "local"], written
        assert found(number="6234") == ["late", "noon", "local"]
        assert found(number="138 0013 8000") == ["other"]
        assert found(company="91310000ma1fl0001x") == ["noon"]
        assert found(company="Acme") == ["noon"]
        assert found(number="62345678", **{"from": "2026-11-17", "to": "2026-11-17"}) == ["too-old"]
        dated = client.get("/api/journeys", params={"from": "2026-11-23"}, headers=headers)
        assert dated.json()["period"]["note"] is None
