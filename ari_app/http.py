"""HTTP/1.1 requests to ARI over a few kept-alive connections.

Every call makes a few ARI requests (originate, bridge, hang-ups: six for a plain call); with a
general-purpose client each one cost about a millisecond of CPU in the app process, which at
50 calls a second was most of a core (measured with py-spy, ``docs/benchmarks.md``). ARI is
one plain-HTTP server on loopback or the LAN, so the app speaks the little HTTP it needs
itself: a request line, three headers, a body with its length; the response's status,
length (or chunks) and body. Connections are kept alive and reused; one that has been idle
longer than :data:`IDLE_LIMIT` is closed rather than trusted (Asterisk closes idle
sessions after 15 s). A request that finds its kept-alive connection closed before any byte
of the answer came is sent once more on a new connection: the server never read it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

IDLE_LIMIT = 5.0
"""Seconds an idle connection may be reused (well below Asterisk's 15 s keep-alive)."""
CONNECTIONS = 24
"""Connections to ARI at most, all kept alive: a request beyond them waits for a free one
(in turn, however long: its time limit starts when it has a connection).
Each connection is a thread in Asterisk's HTTP server, which refuses sessions past its
``sessionlimit``: an app that opened a connection per request in flight refused itself
calls at 75 calls/s ("HTTP session count exceeded"), and each new session cost Asterisk a
thread (measured: ``docs/benchmarks.md``)."""


class HttpError(OSError):
    """The server's answer could not be read as HTTP."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class KeepAliveClient:
    """Requests to one ``http://host:port/prefix`` with basic authentication."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base_url!r} is not a plain http:// URL")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._head = f"Host: {parts.netloc}\r\nAuthorization: Basic {token}\r\n"
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(CONNECTIONS)

    async def request(
        self, method: str, path: str, query: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        """Send one request; its status and body."""
        target = self.prefix + path + (f"?{urlencode(query)}" if query else "")
        head = f"{method} {target} HTTP/1.1\r\n{self._head}Content-Length: {len(body or b'')}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        data = (head + "\r\n").encode() + (body or b"")
        # The time limit is the exchange's, not the wait for a free connection: in a burst
        # every connection is busy and requests queue, and a request failed for waiting its
        # turn ended its call (the caller hung up): 291 of 600 callers at 100 calls/s.
        async with self._slots, asyncio.timeout(self.timeout):
            while True:
                connection, reused = await self._connection()
                try:
                    status, answer, keep = await self._exchange(connection, data)
                except _ClosedUnanswered:
                    connection.close()
                    if reused:
                        continue  # the server had closed it: it never read the request
                    raise HttpError(f"{self.host}:{self.port} closed the connection") from None
                except BaseException:
                    connection.close()
                    raise
                if keep:
                    connection.idle_since = time.monotonic()
                    self._idle.append(connection)
                else:
                    connection.close()
                return status, answer

    async def _connection(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < IDLE_LIMIT and not connection.reader.at_eof():
                return connection, True
            connection.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer), False

    async def _exchange(self, connection: _Connection, data: bytes) -> tuple[int, bytes, bool]:
        reader = connection.reader
        connection.writer.write(data)
        try:
            await connection.writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            partial = getattr(error, "partial", b"")
            if not partial:
                raise _ClosedUnanswered from error
            raise HttpError("the answer was cut off") from error
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"not an HTTP answer: {lines[0][:80]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _chunks(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length") or 0))
        keep = headers.get("connection", "").lower() != "close" and lines[0].startswith("HTTP/1.1")
        return status, body, keep

    async def close(self) -> None:
        """Close every kept connection."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _ClosedUnanswered(Exception):
    """The connection was closed before any byte of the answer came."""


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent to us
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)
