"""Watching UDP on the loopback wire: an AF_PACKET socket on ``lo`` (root needed) read by a
thread, each IPv4 UDP packet handed to :meth:`Wire.packet` once (loopback shows every
packet twice, outgoing and incoming; the outgoing copy is skipped)."""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from typing import Self

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_SO_ATTACH_FILTER, _SO_RCVBUFFORCE = 26, 33


def udp_port_filter(port: int) -> list[tuple[int, int, int, int]]:
    """A classic BPF program keeping only IPv4 UDP packets from or to ``port`` (unfragmented),
    so that the kernel drops the RTP a busy benchmark sends before Python ever sees it."""
    return [
        (0x28, 0, 0, 12),  # ldh [12]: ethertype
        (0x15, 0, 10, 0x0800),  # IPv4, else drop
        (0x30, 0, 0, 23),  # ldb [23]: protocol
        (0x15, 0, 8, 17),  # UDP, else drop
        (0x28, 0, 0, 20),  # ldh [20]: flags and fragment offset
        (0x45, 6, 0, 0x1FFF),  # a later fragment: drop
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf): IP header length
        (0x48, 0, 0, 14),  # ldh [x+14]: source port
        (0x15, 2, 0, port),  # ours: accept
        (0x48, 0, 0, 16),  # ldh [x+16]: destination port
        (0x15, 0, 1, port),  # ours: accept, else drop
        (0x06, 0, 0, 0x40000),  # accept
        (0x06, 0, 0, 0),  # drop
    ]


class Wire:
    """Use as a context manager; subclasses say what to do with each packet."""

    def __init__(self, interface: str = "lo", only_port: int | None = None) -> None:
        self.interface = interface
        self.only_port = only_port
        """With a port, the kernel passes only UDP from or to it (no RTP for Python to read)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> Self:
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(_ETH_P_ALL))
        self._socket.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 64 * 2**20)
        if self.only_port is not None:
            program = udp_port_filter(self.only_port)
            code = ctypes.create_string_buffer(
                b"".join(struct.pack("HBBI", *step) for step in program)
            )
            fprog = struct.pack("HL", len(program), ctypes.addressof(code))
            self._socket.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
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
