"""The bans at the edges: recorded in Redis, applied in Asterisk, announced on the bus.

A ban is a PJSIP access-control list pushed through ARI (``res_pjsip`` ``acl`` objects live
in memory, sorcery.conf): Asterisk answers every request from the address with 403 before
any endpoint is looked for, while every other phone goes on working. Redis holds what is
in force (so that ``hotline sip bans`` can list it and a restarted Asterisk gets it back);
the monitor lifts each ban when its time is up.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from ari_app.client import Ari, AriError
from core import clock, events, keys
from core.site import Site, contact_address
from guard.bans import FAILURE_EVENTS, Ban, BanRule, Guard, TrustedGuessing, source_address

log = logging.getLogger(__name__)

LIFT_EVERY = 5.0
"""Seconds between looks for bans whose time is up."""


def acl_id(address: str) -> str:
    """The ACL object's name in Asterisk for a banned address."""
    return "hotline-ban-" + address.replace(":", "-")


def _deny(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{ip.max_prefixlen}"


def guard_for(site: Site) -> Guard:
    """The site's guard: its rule, and its trunks' and fixed phones' addresses trusted."""
    sip = site.sip
    rule = BanRule(
        sip.ban_after,
        timedelta(seconds=sip.ban_window),
        timedelta(seconds=sip.ban_seconds),
    )
    trusted = [network for trunk in site.trunks for network in trunk.match]
    phones = [seat.contact for seat in site.seats] + [phone.contact for phone in site.phones]
    trusted += [contact_address(contact) for contact in phones if contact]
    return Guard(rule, trusted)


class Bans:
    """The SIP bans in force."""

    def __init__(self, redis: Redis, ari: Ari) -> None:
        self.redis, self.ari = redis, ari

    async def ban(self, ban: Ban, by: str) -> None:
        """Refuse ``ban.address`` until ``ban.until``: in Asterisk first, then on record."""
        await self._push(ban.address)
        record = {"until": ban.until.isoformat(), "reason": ban.reason, "by": by}
        await self.redis.hset(keys.SIP_BANS, ban.address, json.dumps(record))
        log.warning("SIP: %s banned until %s (%s)", ban.address, ban.until, ban.reason)
        await events.publish(
            self.redis, "sip-banned", address=ban.address, until=record["until"], reason=ban.reason
        )

    async def lift(self, address: str, by: str) -> bool:
        """Let ``address`` in again; False if it was not banned."""
        try:
            await self.ari.request("DELETE", _acl_path(address))
        except AriError as error:
            if error.status != 404:
                raise
        removed = bool(await self.redis.hdel(keys.SIP_BANS, address))
        if removed:
            log.info("SIP: the ban of %s lifted (%s)", address, by)
            await events.publish(self.redis, "sip-ban-lifted", address=address, by=by)
        return removed

    async def in_force(self) -> list[Ban]:
        """Every ban on record, soonest to end first."""
        stored = await self.redis.hgetall(keys.SIP_BANS)
        bans = []
        for address, raw in stored.items():
            record = json.loads(raw)
            until = datetime.fromisoformat(record["until"])
            name = address.decode() if isinstance(address, bytes) else address
            bans.append(Ban(name, until, record.get("reason", "")))
        return sorted(bans, key=lambda ban: ban.until)

    async def lift_expired(self, now: datetime) -> list[str]:
        """Lift the bans whose time is up; their addresses."""
        lifted = []
        for ban in await self.in_force():
            if ban.until <= now and await self.lift(ban.address, "expired"):
                lifted.append(ban.address)
        return lifted

    async def push_all(self) -> None:
        """Put every ban on record into Asterisk again (it forgets them when it restarts)."""
        for ban in await self.in_force():
            await self._push(ban.address)

    async def _push(self, address: str) -> None:
        fields = {"fields": [{"attribute": "deny", "value": _deny(address)}]}
        path = _acl_path(address)
        try:
            await self.ari.request("PUT", path, fields)
        except AriError as error:
            # Asterisk 22 makes the ACL but cannot write it back in its answer (an ACL's
            # fields have no text form): 500 "Allocation failed". Asking for it tells: 404
            # if it was not made, the same 500 if it is there.
            if error.status != 500:
                raise
            try:
                await self.ari.request("GET", path)
            except AriError as check:
                if check.status != 500:
                    raise error from None


def _acl_path(address: str) -> str:
    return f"/asterisk/config/dynamic/res_pjsip/acl/{acl_id(address)}"


class SipGuard:
    """The monitor's part: AMI security events in, bans applied and lifted."""

    def __init__(self, guard: Guard, bans: Bans) -> None:
        self.guard, self.bans = guard, bans

    async def on_event(self, event: dict[str, Any]) -> None:
        """One AMI security event; a failed authentication counts toward a ban."""
        if event.get("Event") not in FAILURE_EVENTS:
            return
        address = source_address(str(event.get("RemoteAddress", "")))
        if address is None:
            return
        decision = self.guard.failed(address, clock.now())
        if isinstance(decision, Ban):
            await self.bans.ban(decision, "guard")
        elif isinstance(decision, TrustedGuessing):
            log.warning(
                "SIP: %d failed authentications from %s, which the site trusts (a trunk or a "
                "fixed phone): not banned; look at what sends them",
                decision.failures,
                address,
            )

    async def step(self) -> None:
        """Lift the bans whose time is up."""
        await self.bans.lift_expired(clock.now())
