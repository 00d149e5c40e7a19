"""The SIP probe's TLS stream: each message ends where its Content-Length says, however the
bytes arrive (several messages in one read, one message over several)."""

from __future__ import annotations

import socket

import pytest

from rig.probe import _Connection

TRYING = "SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
ANSWER = "SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nl: 10\r\n\r\nv=0\r\ns=-\r\n"


@pytest.mark.parametrize(
    "pieces",
    [
        [TRYING + ANSWER],  # both in one read
        [TRYING[:10], TRYING[10:] + ANSWER[:30], ANSWER[30:]],  # split anywhere
        ["\r\n\r\n" + TRYING, ANSWER],  # a keep-alive first
    ],
)
def test_messages_are_cut_where_their_length_says(pieces: list[str]) -> None:
    near, far = socket.socketpair()
    with near, far:
        connection = _Connection(near, ("127.0.0.1", 5061), stream=True)
        near.settimeout(2)
        for piece in pieces:
            far.sendall(piece.encode())
        received = [connection.receive() for _ in range(3 if pieces[0][:2] == "\r\n" else 2)]
    assert [m for m in received if m.strip()] == [TRYING, ANSWER]
