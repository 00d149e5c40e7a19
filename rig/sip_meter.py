"""Times SIP INVITEs on the loopback wire: how long the PBX takes to ring a phone.

Like :mod:`rig.rtp_meter`, an AF_PACKET socket on ``lo`` (root needed) sees every UDP
packet. The meter notes the moment of the first INVITE of each call leg, with the ports it
went between and the calling number in its ``From`` header, so a benchmark can pair a
caller's INVITE to the PBX with the PBX's INVITE to the seat that rings for it.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from dataclasses import dataclass

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
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
class KeyEnd:
    """The first end packet of an RFC 4733 key press seen on the wire."""

    at: float
    source_port: int
    key: str


_KEYS = "0123456789*#"


class SipMeter:
    """Use as a context manager; read :attr:`invites` (and :attr:`keys`) afterwards."""

    def __init__(self, interface: str = "lo") -> None:
        self.interface = interface
        self.invites: list[Invite] = []
        self.keys: list[KeyEnd] = []
        self._key_presses: set[tuple[int, int]] = set()
        self._seen: set[bytes] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> SipMeter:
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(_ETH_P_ALL))
        self._socket.bind((self.interface, 0))
        self._socket.settimeout(0.2)
        self._thread = threading.Thread(target=self._watch, name="sip-meter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._socket is not None:
            self._socket.close()

    def _watch(self) -> None:
        assert self._socket is not None
        while not self._stop.is_set():
            try:
                frame, address = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            seen_at = time.monotonic()
            if address[2] == _PACKET_OUTGOING or len(frame) < 42:
                continue
            if frame[12:14] != b"\x08\x00" or frame[23] != 17:  # IPv4, UDP
                continue
            header_length = (frame[14] & 0x0F) * 4
            udp = 14 + header_length
            payload = frame[udp + 8 :]
            if len(payload) >= 16 and payload[0] & 0xC0 == 0x80 and payload[1] & 0x7F == 101:
                self._key(seen_at, struct.unpack_from("!H", frame, udp)[0], payload)
                continue
            if not payload.startswith(b"INVITE "):
                continue
            call_id, calling = _CALL_ID.search(payload), _FROM_USER.search(payload)
            if call_id is None or calling is None or call_id.group(1) in self._seen:
                continue  # a retransmission, or not SIP we can read
            self._seen.add(call_id.group(1))
            source, destination = struct.unpack_from("!HH", frame, udp)
            self.invites.append(
                Invite(seen_at, source, destination, calling.group(1).decode(errors="replace"))
            )

    def _key(self, seen_at: float, source: int, payload: bytes) -> None:
        """Note the first end packet (E bit) of each key press (RTP timestamp per source)."""
        event, flags = payload[12], payload[13]
        timestamp = struct.unpack_from("!I", payload, 4)[0]
        if not flags & 0x80 or event >= len(_KEYS) or (source, timestamp) in self._key_presses:
            return
        self._key_presses.add((source, timestamp))
        self.keys.append(KeyEnd(seen_at, source, _KEYS[event]))
