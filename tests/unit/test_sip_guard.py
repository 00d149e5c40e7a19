"""The SIP guard: failed authentications counted per address, bans decided, applied through
ARI, recorded, announced and lifted when their time is up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from ari_app.client import AriError
from core import clock, keys
from core.site import Site
from guard.bans import Ban, BanRule, Guard, TrustedGuessing, source_address
from guard.service import Bans, SipGuard, acl_id, guard_for

START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
RULE = BanRule(failures=10, window=timedelta(seconds=60), duration=timedelta(minutes=10))


def test_ten_failures_within_a_minute_ban_the_address_for_ten_minutes() -> None:
    guard = Guard(RULE, trusted=["127.0.0.2/32"])
    decisions = [guard.failed("192.0.2.8", START + timedelta(seconds=n)) for n in range(10)]
    assert decisions[:9] == [None] * 9
    ban = decisions[9]
    assert isinstance(ban, Ban)
    assert ban.address == "192.0.2.8"
    assert ban.until == START + timedelta(seconds=9) + timedelta(minutes=10)
    assert ban.reason == "10 failed authentications within 60 s"


def test_failures_spread_wider_than_the_window_never_ban() -> None:
    guard = Guard(RULE, trusted=[])
    assert all(
        guard.failed("192.0.2.8", START + timedelta(seconds=7 * n)) is None for n in range(50)
    )


def test_each_address_is_counted_apart() -> None:
    guard = Guard(RULE, trusted=[])
    for n in range(9):
        assert guard.failed("192.0.2.8", START + timedelta(seconds=n)) is None
        assert guard.failed("192.0.2.9", START + timedelta(seconds=n)) is None
    assert isinstance(guard.failed("192.0.2.9", START + timedelta(seconds=10)), Ban)


def test_a_trusted_address_is_reported_not_banned() -> None:
    guard = Guard(RULE, trusted=["127.0.0.2", "10.1.0.0/16"])
    decisions = [guard.failed("10.1.2.3", START + timedelta(seconds=n)) for n in range(10)]
    assert decisions[-1] == TrustedGuessing("10.1.2.3", 10)


def test_the_site_trusts_its_trunks_and_fixed_phones(site: Site) -> None:
    guard = guard_for(site)
    assert guard.is_trusted("127.0.0.2")  # the carrier
    assert guard.is_trusted("127.0.0.1")  # the rig's seat phones
    assert not guard.is_trusted("127.0.0.8")
    assert guard.rule == RULE


def test_the_source_address_is_read_from_asterisks_remote_address() -> None:
    assert source_address("IPV4/UDP/127.0.0.8/5060") == "127.0.0.8"
    assert source_address("IPV6/UDP/::1/5060") == "::1"
    assert source_address("IPV4/UDP/not-an-address/5060") is None
    assert source_address("") is None


class FakeAri:
    """ARI's dynamic configuration, as far as bans go: ACL objects by name, with Asterisk
    22's quirk: an ACL is made, but answering with it fails (500 "Allocation failed")."""

    def __init__(self) -> None:
        self.acls: dict[str, list[dict[str, str]]] = {}

    async def request(self, method: str, path: str, json_body: Any = None, **_: Any) -> None:
        name = path.rsplit("/", 1)[1]
        if method == "PUT":
            self.acls[name] = json_body["fields"]
        known = name in self.acls
        if method == "DELETE":
            self.acls.pop(name, None)
        if not known:
            raise AriError(method, path, 404, "not found")
        if method in ("PUT", "GET"):
            raise AriError(method, path, 500, '{"error":"Allocation failed"}')


async def test_a_ban_is_applied_recorded_announced_and_lifted_in_time(
    redis: Redis, site: Site
) -> None:
    ari = FakeAri()
    bans = Bans(redis, ari)  # type: ignore[arg-type]
    guard = SipGuard(guard_for(site), bans)
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.EVENTS)
    await pubsub.get_message(timeout=5)  # the subscription's confirmation
    with clock.use(clock.ManualClock(START.timestamp())) as manual:
        for _ in range(10):
            await guard.on_event(
                {"Event": "InvalidPassword", "RemoteAddress": "IPV4/UDP/127.0.0.8/5062"}
            )
            manual.advance(1)
        assert ari.acls == {acl_id("127.0.0.8"): [{"attribute": "deny", "value": "127.0.0.8/32"}]}
        [ban] = await bans.in_force()
        assert ban.address == "127.0.0.8" and ban.until == START + timedelta(seconds=609)

        manual.advance(598)  # one second before the end
        await guard.step()
        assert await bans.in_force() and ari.acls  # not yet
        manual.advance(1)
        await guard.step()
        assert await bans.in_force() == [] and ari.acls == {}

    kinds = []
    while message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5):
        kinds.append(json.loads(message["data"])["type"])
    assert kinds == ["sip-banned", "sip-ban-lifted"]
    await pubsub.aclose()


async def test_events_that_are_not_failures_count_for_nothing(redis: Redis, site: Site) -> None:
    ari = FakeAri()
    guard = SipGuard(guard_for(site), Bans(redis, ari))  # type: ignore[arg-type]
    for _ in range(30):
        await guard.on_event({"Event": "ChallengeSent", "RemoteAddress": "IPV4/UDP/127.0.0.8/1"})
        await guard.on_event({"Event": "SuccessfulAuth", "RemoteAddress": "IPV4/UDP/127.0.0.8/1"})
    assert ari.acls == {}


async def test_bans_are_pushed_again_after_asterisk_restarts(redis: Redis) -> None:
    ari = FakeAri()
    bans = Bans(redis, ari)  # type: ignore[arg-type]
    await bans.ban(Ban("192.0.2.8", START + timedelta(hours=1), "by hand"), "admin")
    ari.acls.clear()  # Asterisk restarted: its memory ACLs are gone
    await bans.push_all()
    assert list(ari.acls) == [acl_id("192.0.2.8")]
    assert await bans.lift("192.0.2.8", "admin") is True
    assert await bans.lift("192.0.2.8", "admin") is False
