"""Whether a node's Asterisk is still there, asked over SIP: any answer counts (a node
answers everybody but its edge with 403); nothing listening, or nothing at all, does not."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from ari_app.lost_nodes import sip_answers


class _Refuser(asyncio.DatagramProtocol):
    """A SIP server that answers every request with 403, as a node does a stranger."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        assert data.startswith(b"OPTIONS sip:127.0.0.1:")
        self.transport.sendto(b"SIP/2.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n", addr)


async def test_a_node_that_answers_anything_is_there() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Refuser, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        assert await sip_answers("127.0.0.1", port)
    finally:
        transport.close()


async def test_a_node_with_nothing_listening_or_silent_is_not() -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not await sip_answers("127.0.0.1", port, within=1.0)  # ICMP: port unreachable
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        assert not await sip_answers("127.0.0.1", silent.getsockname()[1], within=0.3)
    finally:
        silent.close()
