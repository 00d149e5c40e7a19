"""The app's own HTTP/1.1 client for ARI, against a small server that answers as Asterisk
does: kept-alive connections reused, chunked bodies, errors, and a connection the server
closed while it was idle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ari_app.client import Ari, AriConfig, AriError
from ari_app.http import KeepAliveClient


class Server:
    """Answers each request from ``answers`` in turn; notes what it was sent and on which
    connection; closes a connection after its answer when told to."""

    def __init__(self) -> None:
        self.answers: list[bytes] = []
        self.seen: list[tuple[int, bytes, bytes]] = []
        self.connections = 0
        self.close_after_answer = False
        self.delay = 0.0
        """Seconds the server takes over each answer."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                self.seen.append((number, head.split(b"\r\n")[0], body))
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(self.answers.pop(0))
                await writer.drain()
                if self.close_after_answer:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    listening = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    yield state, f"http://127.0.0.1:{port}/ari"
    listening.close()


def ok(body: bytes, status: str = "200 OK") -> bytes:
    return b"HTTP/1.1 " + status.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body


async def test_requests_reuse_one_kept_alive_connection(server: tuple[Server, str]) -> None:
    state, url = server
    state.answers = [ok(b'{"id": "a"}'), ok(b""), ok(b"[]")]
    async with Ari(AriConfig(url, "user", "secret")) as ari:
        assert await ari.request("POST", "/channels", {"x": 1}, endpoint="PJSIP/1001") == {
            "id": "a"
        }
        assert await ari.request("DELETE", "/channels/a") is None
        assert await ari.channels() == []
    assert state.connections == 1
    assert [line for _, line, _ in state.seen] == [
        b"POST /ari/channels?endpoint=PJSIP%2F1001 HTTP/1.1",
        b"DELETE /ari/channels/a HTTP/1.1",
        b"GET /ari/channels HTTP/1.1",
    ]
    assert state.seen[0][2] == b'{"x": 1}'


async def test_an_error_status_is_an_ari_error_with_its_text(server: tuple[Server, str]) -> None:
    state, url = server
    state.answers = [ok(b'{"message": "Channel not found"}', "404 Not Found")]
    async with Ari(AriConfig(url, "user", "secret")) as ari:
        with pytest.raises(AriError, match=r"404.*Channel not found") as raised:
            await ari.channel("gone")
    assert raised.value.status == 404


async def test_a_chunked_body_is_read_whole(server: tuple[Server, str]) -> None:
    state, url = server
    state.answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[1, \r\n3\r\n2]\n\r\n0\r\n\r\n"
    ]
    client = KeepAliveClient(url, "u", "p", timeout=2)
    assert await client.request("GET", "/x", {}, None) == (200, b"[1, 2]\n")
    await client.close()


async def test_a_connection_the_server_closed_is_replaced_and_the_request_sent_again(
    server: tuple[Server, str],
) -> None:
    state, url = server
    state.close_after_answer = True  # every connection closed after one answer
    state.answers = [ok(b"1"), ok(b"2")]
    client = KeepAliveClient(url, "u", "p", timeout=2)
    assert await client.request("GET", "/one", {}, None) == (200, b"1")
    await asyncio.sleep(0)
    assert await client.request("GET", "/two", {}, None) == (200, b"2")
    assert state.connections == 2
    assert [line for _, line, _ in state.seen] == [
        b"GET /ari/one HTTP/1.1",
        b"GET /ari/two HTTP/1.1",
    ]
    await client.close()


async def test_no_answer_within_the_timeout_raises() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    listening = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    client = KeepAliveClient(f"http://127.0.0.1:{port}/ari", "u", "p", timeout=0.2)
    with pytest.raises(TimeoutError):
        await client.request("GET", "/x", {}, None)
    await client.close()
    listening.close()


async def test_many_requests_at_once_share_a_bounded_pool_of_connections(
    server: tuple[Server, str],
) -> None:
    from ari_app.http import CONNECTIONS

    state, url = server
    state.answers = [ok(b"{}") for _ in range(10 * CONNECTIONS)]
    client = KeepAliveClient(url, "user", "password", timeout=5.0)
    answers = await asyncio.gather(
        *(client.request("GET", "/channels", {}, None) for _ in range(10 * CONNECTIONS))
    )
    await client.close()
    assert [status for status, _ in answers] == [200] * (10 * CONNECTIONS)
    assert state.connections <= CONNECTIONS, "a connection per request in flight (Asterisk refuses)"


async def test_a_request_waiting_its_turn_for_a_connection_is_not_timed_out(
    server: tuple[Server, str],
) -> None:
    """In a burst every connection is busy and requests queue: the time limit is each
    exchange's, not the wait, or a call that is only late would fail (and end)."""
    from ari_app.http import CONNECTIONS

    state, url = server
    state.delay = 0.03  # ten rounds of answers on each connection: 0.3 s, past the limit
    state.answers = [ok(b"{}") for _ in range(10 * CONNECTIONS)]
    client = KeepAliveClient(url, "user", "password", timeout=0.1)
    answers = await asyncio.gather(
        *(client.request("GET", "/channels", {}, None) for _ in range(10 * CONNECTIONS))
    )
    await client.close()
    assert [status for status, _ in answers] == [200] * (10 * CONNECTIONS)
