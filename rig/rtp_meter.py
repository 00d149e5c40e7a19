"""Counts UDP packets on the loopback interface per port: proof that RTP really flowed.

SIPp's exit code only says that SIP went as scripted. The meter watches the wire (an
AF_PACKET socket on ``lo``, so it needs root) and counts, for each phone's media port, the
packets it sent and the packets it received.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4


class RtpMeter:
    """Use as a context manager; read :meth:`received` and :meth:`sent` for a port."""

    def __init__(
        self, ports: set[int] | None = None, interface: str = "lo", keep: set[int] | None = None
    ) -> None:
        self.ports = ports
        self.interface = interface
        self.keep = keep or set()
        """Ports whose received G.711 µ-law payloads are kept (see :meth:`audio`)."""
        self._audio: dict[int, list[bytes]] = {port: [] for port in self.keep}
        self._to: Counter[int] = Counter()
        self._from: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> RtpMeter:
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(_ETH_P_ALL))
        self._socket.bind((self.interface, 0))
        self._socket.settimeout(0.2)
        self._thread = threading.Thread(target=self._count, name="rtp-meter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._socket is not None:
            self._socket.close()

    def _count(self) -> None:
        assert self._socket is not None
        while not self._stop.is_set():
            try:
                frame, address = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            # on loopback every packet is seen twice, outgoing and incoming: count it once
            if address[2] == _PACKET_OUTGOING or len(frame) < 42:
                continue
            if frame[12:14] != b"\x08\x00" or frame[23] != 17:  # IPv4, UDP
                continue
            header_length = (frame[14] & 0x0F) * 4
            source, destination = struct.unpack_from("!HH", frame, 14 + header_length)
            if self.ports is None or destination in self.ports:
                self._to[destination] += 1
            if destination in self.keep:
                rtp = frame[14 + header_length + 8 :]
                if len(rtp) > 12 and rtp[1] & 0x7F == 0:  # PCMU
                    self._audio[destination].append(rtp[12:])
            if self.ports is None or source in self.ports:
                self._from[source] += 1

    def audio(self, port: int) -> list[bytes]:
        """The µ-law payloads received at a kept port, in arrival order."""
        return self._audio.get(port, [])

    def received(self, port: int) -> int:
        """UDP packets that arrived at ``port``."""
        return self._to[port]

    def sent(self, port: int) -> int:
        """UDP packets sent from ``port``."""
        return self._from[port]
