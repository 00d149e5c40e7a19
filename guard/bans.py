"""Deciding bans: failed authentications in, bans out. Pure: no Asterisk, no Redis.

Asterisk reports each failed attempt as an AMI security event (a wrong password, a
challenge answered wrongly, a name that is no endpoint). :class:`Guard` counts them per
source address over a sliding window; at the threshold it decides a :class:`Ban` for a
while. Addresses the site trusts (its trunks, its fixed-contact phones) are never banned:
refusing them would cut the carrier or the seats; they are reported instead.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

FAILURE_EVENTS = frozenset(
    {"InvalidPassword", "ChallengeResponseFailed", "InvalidAccountID", "AuthMethodNotAllowed"}
)
"""The AMI security events that are a failed authentication."""

TRACKED_AT_MOST = 10_000
"""Addresses counted at once: beyond, the least recently failing are forgotten first."""


@dataclass(frozen=True)
class BanRule:
    """``failures`` within ``window`` ban an address for ``duration``."""

    failures: int = 10
    window: timedelta = timedelta(seconds=60)
    duration: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class Ban:
    """An address refused on SIP until ``until`` (UTC)."""

    address: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class TrustedGuessing:
    """A trusted address failed as often as a ban needs: reported, not banned."""

    address: str
    failures: int


def source_address(remote: str) -> str | None:
    """The IP address in a security event's ``RemoteAddress`` (``IPV4/UDP/192.0.2.7/5060``);
    None if it holds none."""
    parts = remote.split("/")
    candidate = parts[2] if len(parts) >= 3 else remote
    try:
        return str(ipaddress.ip_address(candidate.strip("[]")))
    except ValueError:
        return None


class Guard:
    """Counts failed authentications per address and decides bans."""

    def __init__(self, rule: BanRule, trusted: Iterable[str]) -> None:
        self.rule = rule
        self.trusted = [ipaddress.ip_network(network, strict=False) for network in trusted]
        self._failures: dict[str, deque[datetime]] = {}

    def is_trusted(self, address: str) -> bool:
        """Whether the site names this address (a trunk's network, a fixed phone's address)."""
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in self.trusted)

    def failed(self, address: str, at: datetime) -> Ban | TrustedGuessing | None:
        """One failed attempt from ``address`` at ``at``: a ban when it is one too many."""
        times = self._failures.pop(address, None) or deque()
        self._failures[address] = times  # re-inserted: the dict's order is recency
        times.append(at)
        while times and at - times[0] > self.rule.window:
            times.popleft()
        while len(self._failures) > TRACKED_AT_MOST:
            del self._failures[next(iter(self._failures))]
        if len(times) < self.rule.failures:
            return None
        count = len(times)
        del self._failures[address]
        if self.is_trusted(address):
            return TrustedGuessing(address, count)
        seconds = int(self.rule.window.total_seconds())
        return Ban(
            address,
            at + self.rule.duration,
            f"{count} failed authentications within {seconds} s",
        )
