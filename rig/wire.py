"""Watching UDP on the loopback wire: an AF_PACKET socket on ``lo`` (root needed) read by a
thread, each IPv4 UDP packet handed to :meth:`Wire.packet` once (loopback shows every
packet twice, outgoing and incoming; the outgoing copy is skipped)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Self

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4


class Wire:
    """Use as a context manager; subclasses say what to do with each packet."""

    def __init__(self, interface: str = "lo") -> None:
        self.interface = interface
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> Self:
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(_ETH_P_ALL))
        self._socket.bind((self.interface, 0))
        self._socket.settimeout(0.2)
        self._thread = threading.Thread(target=self._read, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._socket is not None:
            self._socket.close()

    def _read(self) -> None:
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
            udp = 14 + (frame[14] & 0x0F) * 4
            source, destination = struct.unpack_from("!HH", frame, udp)
            self.packet(seen_at, source, destination, frame[udp + 8 :])

    def packet(self, seen_at: float, source: int, destination: int, payload: bytes) -> None:
        """One UDP packet seen at ``seen_at`` (``time.monotonic()``)."""
        raise NotImplementedError
