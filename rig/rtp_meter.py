"""Counts UDP packets on the loopback interface per port: proof that RTP really flowed.

SIPp's exit code only says that SIP went as scripted. The meter watches the wire (an
AF_PACKET socket on ``lo``, so it needs root) and counts, for each phone's media port, the
packets it sent and the packets it received.
"""

from __future__ import annotations

from collections import Counter

from rig.wire import Wire


class RtpMeter(Wire):
    """Use as a context manager; read :meth:`received` and :meth:`sent` for a port."""

    def __init__(
        self, ports: set[int] | None = None, interface: str = "lo", keep: set[int] | None = None
    ) -> None:
        super().__init__(interface)
        self.ports = ports
        self.keep = keep or set()
        """Ports whose received G.711 µ-law payloads are kept (see :meth:`audio`)."""
        self._audio: dict[int, list[bytes]] = {port: [] for port in self.keep}
        self._to: Counter[int] = Counter()
        self._from: Counter[int] = Counter()

    def packet(self, seen_at: float, source: int, destination: int, payload: bytes) -> None:
        if self.ports is None or destination in self.ports:
            self._to[destination] += 1
        if self.ports is None or source in self.ports:
            self._from[source] += 1
        if destination in self.keep and len(payload) > 12 and payload[1] & 0x7F == 0:  # PCMU
            self._audio[destination].append(payload[12:])

    def audio(self, port: int) -> list[bytes]:
        """The µ-law payloads received at a kept port, in arrival order."""
        return self._audio.get(port, [])

    def received(self, port: int) -> int:
        """UDP packets that arrived at ``port``."""
        return self._to[port]

    def sent(self, port: int) -> int:
        """UDP packets sent from ``port``."""
        return self._from[port]
