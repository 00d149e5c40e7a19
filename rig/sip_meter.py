"""Times SIP INVITEs (and BYEs) on the loopback wire: how long the PBX takes to ring a phone.

Like :mod:`rig.rtp_meter`, it watches every UDP packet on ``lo`` (:mod:`rig.wire`, root
needed). The meter notes the moment of the first INVITE of each call leg, with the ports it
went between and the calling number in its ``From`` header, so a benchmark can pair a
caller's INVITE to the PBX with the PBX's INVITE to the seat that rings for it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from rig.wire import Wire

_FROM_USER = re.compile(rb"^(?:From|f)\s*:[^\r\n]*?sip:([^@;>\s]+)@", re.IGNORECASE | re.MULTILINE)
_CALL_ID = re.compile(rb"^(?:Call-ID|i)\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Invite:
    """The first INVITE of one call leg seen on the wire."""

    at: float
    """``time.monotonic()`` when it was seen."""
    source_port: int
    destination_port: int
    calling: str
    """The user part of its From header: the calling number."""


@dataclass(frozen=True)
class Bye:
    """A BYE request seen on the wire (the first of its transaction)."""

    at: float
    source_port: int
    destination_port: int


@dataclass(frozen=True)
class KeyEnd:
    """The first end packet of an RFC 4733 key press seen on the wire."""

    at: float
    source_port: int
    key: str


_KEYS = "0123456789*#"


class SipMeter(Wire):
    """Use as a context manager; read :attr:`invites` (and :attr:`keys`) afterwards."""

    def __init__(self, interface: str = "lo", only_port: int | None = None) -> None:
        super().__init__(interface, only_port)
        self.invites: list[Invite] = []
        self.byes: list[Bye] = []
        self.keys: list[KeyEnd] = []
        self._key_presses: set[tuple[int, int]] = set()
        self._seen: set[bytes] = set()

    def packet(self, seen_at: float, source: int, destination: int, payload: bytes) -> None:
        if len(payload) >= 16 and payload[0] & 0xC0 == 0x80 and payload[1] & 0x7F == 101:
            self._key(seen_at, source, payload)
            return
        if payload.startswith(b"BYE "):
            self._bye(seen_at, source, destination, payload)
            return
        if not payload.startswith(b"INVITE "):
            return
        call_id, calling = _CALL_ID.search(payload), _FROM_USER.search(payload)
        # a proxy relays an INVITE with its Call-ID: each hop (its ports) is one INVITE
        hop = b"%s %d %d" % (call_id.group(1) if call_id else b"", source, destination)
        if call_id is None or calling is None or hop in self._seen:
            return  # a retransmission, or not SIP we can read
        self._seen.add(hop)
        self.invites.append(
            Invite(seen_at, source, destination, calling.group(1).decode(errors="replace"))
        )

    def _bye(self, seen_at: float, source: int, destination: int, payload: bytes) -> None:
        call_id = _CALL_ID.search(payload)
        key = b"BYE " + (call_id.group(1) if call_id else b"")
        if key not in self._seen:  # not a retransmission
            self._seen.add(key)
            self.byes.append(Bye(seen_at, source, destination))

    def _key(self, seen_at: float, source: int, payload: bytes) -> None:
        """Note the first end packet (E bit) of each key press (RTP timestamp per source)."""
        event, flags = payload[12], payload[13]
        timestamp = struct.unpack_from("!I", payload, 4)[0]
        if not flags & 0x80 or event >= len(_KEYS) or (source, timestamp) in self._key_presses:
            return
        self._key_presses.add((source, timestamp))
        self.keys.append(KeyEnd(seen_at, source, _KEYS[event]))
