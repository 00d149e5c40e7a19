"""The front door's decisions, with a scripted AGI conversation (the real calls are in
tests/integration/test_front_door.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from agi.front_door import FrontDoor
from core import clock
from redlist.directory import CALLERS, CallerIdentity, CallerKind, _entry, lookup_in_sql
from redlist.models import Enterprise, EnterprisePhone, RedListEntry
from redlist.tiers import RedListTier


class ScriptedCall:
    """Answers AGI commands from a script of keypad input; records the variables set."""

    def __init__(self, callerid: str, keyed: list[str], hang_up_after: int | None = None) -> None:
        self.headers = {"agi_callerid": callerid, "agi_network_script": "identify"}
        self.keyed = keyed
        self.commands: list[str] = []
        self.variables: dict[str, str] = {}
        self.hang_up_after = hang_up_after

    async def send_command(self, command: str) -> dict[str, Any]:
        self.commands.append(command)
        if self.hang_up_after is not None and len(self.commands) > self.hang_up_after:
            return {"error": "AGIAppError", "msg": "hangup"}
        if command.startswith("GET FULL VARIABLE"):
            return {"status_code": 200, "result": ("1", "/sounds/hotline")}
        if command.startswith("GET DATA"):
            return {"status_code": 200, "result": (self.keyed.pop(0) if self.keyed else "", "")}
        if command.startswith("SET VARIABLE"):
            _, _, name, value = command.split(" ", 3)
            self.variables[name] = value.strip('"')
        if command.startswith("EXEC MSet"):
            for pair in command.removeprefix("EXEC MSet ").strip('"').split(","):
                name, value = pair.split("=", 1)
                self.variables[name] = value
        return {"status_code": 200, "result": ("0", "")}


@pytest.fixture
async def door(redis_url: str) -> AsyncIterator[FrontDoor]:
    redis = Redis.from_url(redis_url)
    await redis.delete(CALLERS)
    await redis.hset(
        CALLERS,
        mapping={
            "02150000000": _entry(1, "红名单企业", ("key-firm", None, None)),
            "02150000001": _entry(2, 'Quote"d; Firm', None),
            "02150000002": _entry(3, "Acme,QUEUE_PRIO=99", None),
        },
    )
    yield FrontDoor(redis, "21", ZoneInfo("Asia/Shanghai"))
    await redis.delete(CALLERS)
    await redis.aclose()


async def test_a_registered_number_is_recognised_without_a_menu(door: FrontDoor) -> None:
    call = ScriptedCall("+86 21 5000 0000", keyed=[])
    await door.serve(call)
    assert not any(c.startswith("GET DATA") for c in call.commands)
    # one round trip for the plain values, one for the name (free text)
    assert [c.split(" ")[:2] for c in call.commands] == [["EXEC", "MSet"], ["SET", "VARIABLE"]]
    arrived = float(call.variables.pop("HOTLINE_ARRIVED"))
    assert abs(arrived - clock.time()) < 5, "the caller's place in line, on the clock"
    assert call.variables == {
        "HOTLINE_CALLER_KIND": "enterprise",
        "HOTLINE_ENTERPRISE_ID": "1",
        "HOTLINE_ENTERPRISE_NAME": "红名单企业",
        "HOTLINE_TIER": "key-firm",
        "QUEUE_PRIO": "10",
        "HOTLINE_QUEUE": "enterprise",
    }


async def test_an_unknown_caller_who_keys_a_company_number_is_that_company(door: FrontDoor) -> None:
    call = ScriptedCall("13900000001", keyed=["2", "02150000001#"])
    identity = await door.serve(call)
    assert (identity.kind, identity.enterprise_id, identity.number) == (
        CallerKind.ENTERPRISE,
        2,
        "13900000001",
    )
    assert call.variables["HOTLINE_ENTERPRISE_NAME"] == "Quoted Firm"  # display-safe


async def test_a_name_that_looks_like_variables_sets_nothing_else(door: FrontDoor) -> None:
    call = ScriptedCall("02150000002", keyed=[])
    await door.serve(call)
    assert call.variables["HOTLINE_ENTERPRISE_NAME"] == "AcmeQUEUE_PRIO=99"  # display-safe
    assert call.variables["QUEUE_PRIO"] == "0"


async def test_a_wrong_number_twice_is_an_unknown_enterprise_caller(door: FrontDoor) -> None:
    call = ScriptedCall("13900000001", keyed=["2", "123#", "456#"])
    identity = await door.serve(call)
    assert (identity.kind, identity.queue) == (CallerKind.UNKNOWN, "enterprise")


async def test_doing_nothing_makes_a_citizen(door: FrontDoor) -> None:
    identity = await door.serve(ScriptedCall("", keyed=[]))
    assert (identity.kind, identity.queue, identity.queue_prio) == (
        CallerKind.CITIZEN,
        "citizen",
        0,
    )


async def test_a_caller_who_hangs_up_in_the_menu_still_gets_a_decision(door: FrontDoor) -> None:
    identity = await door.identify(ScriptedCall("13900000009", keyed=["2"], hang_up_after=3))
    assert identity.kind is CallerKind.UNKNOWN


async def test_redis_down_means_unknown_not_stuck(door: FrontDoor) -> None:
    door.redis = Redis.from_url("unix:///nonexistent/redis.sock")
    identity = await door.identify(ScriptedCall("02150000000", keyed=["1"]))
    assert identity.kind is CallerKind.CITIZEN


def test_the_seat_behind_a_feature_code_is_the_phones_own_endpoint() -> None:
    from agi.seat_codes import seat_of

    assert seat_of("PJSIP/1001-0000002a") == "1001"
    assert seat_of("PJSIP/carrier-00000001") == "carrier"
    assert seat_of("Local/1001@x-0001;1") is None


async def test_with_redis_away_a_registered_company_is_found_in_sql_without_the_menu(
    door: FrontDoor, factory: sessionmaker[Session]
) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with factory() as session:
        firm = Enterprise(uscc="91310000000000007X", name="Red Firm", created_at=at, updated_at=at)
        session.add(firm)
        session.flush()
        session.add(EnterprisePhone(enterprise_id=firm.id, number="02150000007"))
        session.add(
            RedListEntry(enterprise_id=firm.id, tier="key-firm", added_by="test", added_at=at)
        )
        session.commit()

    async def in_sql(number: str, today: date) -> CallerIdentity | None:
        with factory() as session:
            return lookup_in_sql(session, number, today)

    door.redis = Redis.from_url("unix:///nonexistent/redis.sock")
    door.in_sql = in_sql
    call = ScriptedCall("02150000007", keyed=[])
    identity = await door.identify(call)
    assert (identity.kind, identity.name, identity.tier) == (
        CallerKind.ENTERPRISE,
        "Red Firm",
        RedListTier("key-firm"),
    )
    assert not call.commands, "no menu for a known company"
