"""A SIP probe: single requests from a chosen source address, for what the PBX must refuse
(a caller posing as the carrier or a seat, a password guesser) and for a registration.

SIPp plays phones that talk; the probe sends one request at a time and reports the final
status code, answering digest challenges when it is given a password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

_STATUS = re.compile(r"^SIP/2\.0 (\d{3})")
_CHALLENGE = re.compile(r'(\w+)="?([^",]*)"?')
_LENGTH = re.compile(r"(?im)^(?:content-length|l)\s*:\s*(\d+)")


@dataclass(frozen=True)
class Answer:
    """The final response to a request: its status code and its headers."""

    status: int
    headers: dict[str, str]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest is MD5


def digest(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """The ``Authorization`` header answering a ``WWW-Authenticate: Digest ...`` challenge."""
    fields = dict(_CHALLENGE.findall(challenge.removeprefix("Digest ")))
    realm, nonce = fields["realm"], fields["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    cnonce, count = secrets.token_hex(8), "00000001"
    if "auth" in fields.get("qop", "").split(","):
        response = _md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={count}, cnonce="{cnonce}"'
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    opaque = f', opaque="{fields["opaque"]}"' if "opaque" in fields else ""
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5{opaque}{extra}'
    )


@dataclass
class _Connection:
    """One exchange's way to the PBX: a UDP socket, or a TLS connection (a stream: each
    message ends where its Content-Length says)."""

    sock: socket.socket
    pbx: tuple[str, int]
    stream: bool
    buffer: bytearray = field(default_factory=bytearray)

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self, message: str) -> None:
        if self.stream:
            self.sock.sendall(message.encode())
        else:
            self.sock.sendto(message.encode(), self.pbx)

    def receive(self) -> str:
        """The next message from the PBX."""
        if not self.stream:
            return self.sock.recv(65535).decode(errors="replace")
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                length = _LENGTH.search(self.buffer[:end].decode(errors="replace"))
                total = end + 4 + (int(length.group(1)) if length else 0)
                if len(self.buffer) >= total:
                    message = bytes(self.buffer[:total])
                    del self.buffer[:total]
                    return message.decode(errors="replace")
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("the PBX closed the connection")
            self.buffer += chunk


class Probe:
    """Sends requests from ``source`` (an address of this machine) to the PBX, over UDP, or
    over TLS trusting ``tls_ca`` (the PBX's or edge's certificate)."""

    def __init__(
        self,
        source: str,
        pbx: tuple[str, int],
        timeout: float = 5.0,
        tls_ca: Path | None = None,
    ) -> None:
        self.source, self.pbx, self.timeout, self.tls_ca = source, pbx, timeout, tls_ca
        self.transport = "UDP" if tls_ca is None else "TLS"
        self.contact_suffix = "" if tls_ca is None else ";transport=tls"

    async def invite(self, from_user: str, number: str, password: str | None = None) -> Answer:
        """An INVITE to ``number`` naming ``from_user`` in From (answering a proxy's
        challenge with ``password``, if given); a refused one is ACKed, an answered one
        (which a test calls a failure) is hung up again."""
        return await asyncio.to_thread(self._invite, from_user, number, password)

    async def register(
        self, user: str, password: str | None, contact_port: int | None = None, expires: int = 300
    ) -> Answer:
        """A REGISTER for ``user``, answering the challenge with ``password`` (None: no
        answer). ``contact_port``: where the registered phone takes calls; ``expires=0``
        removes the registration."""
        return await asyncio.to_thread(self._register, user, password, contact_port, expires)

    # --- the exchanges, on a blocking socket in a thread ------------------------------------

    def _connect(self) -> _Connection:
        if self.tls_ca is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.source, 0))
        else:
            raw = socket.create_connection(self.pbx, self.timeout, (self.source, 0))
            context = ssl.create_default_context(cafile=self.tls_ca)
            sock = context.wrap_socket(raw, server_hostname=self.pbx[0])
        sock.settimeout(self.timeout)
        return _Connection(sock, self.pbx, stream=self.tls_ca is not None)

    def _final(self, connection: _Connection, cseq: str) -> tuple[Answer, str]:
        while True:
            data = connection.receive()
            head = data.split("\r\n\r\n", 1)[0].split("\r\n")
            matched = _STATUS.match(head[0])
            if not matched:
                continue  # a request (an OPTIONS...): not ours to answer here
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            status = int(matched.group(1))
            if status >= 200 and headers.get("cseq") == cseq:
                return Answer(status, headers), data

    def _invite(self, from_user: str, number: str, password: str | None) -> Answer:
        host, port = self.pbx
        connection = self._connect()
        with connection.sock:
            local = connection.local_port
            call_id, tag = secrets.token_hex(8), secrets.token_hex(8)
            uri = f"sip:{number}@{host}:{port}"
            # over TLS the audio offered is SRTP (SDES), as an encrypted seat's phone offers it
            profile = "RTP/AVP" if self.tls_ca is None else "RTP/SAVP"
            crypto = (
                ""
                if self.tls_ca is None
                else "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
                f"{base64.b64encode(secrets.token_bytes(30)).decode()}\r\n"
            )
            sdp = (
                f"v=0\r\no=probe 1 1 IN IP4 {self.source}\r\ns=-\r\n"
                f"c=IN IP4 {self.source}\r\nt=0 0\r\nm=audio {local + 2} {profile} 8\r\n"
                f"a=rtpmap:8 PCMA/8000\r\n{crypto}"
            )
            common = (
                f"From: <sip:{from_user}@{self.source}>;tag={tag}\r\n"
                f"Call-ID: {call_id}\r\nMax-Forwards: 70\r\n"
            )

            def via() -> str:
                branch = secrets.token_hex(8)
                return (
                    f"Via: SIP/2.0/{self.transport} {self.source}:{local};branch=z9hG4bK{branch}"
                    "\r\n"
                )

            def send(cseq: int, authorization: str = "") -> tuple[Answer, str]:
                top = via()
                invite = (
                    f"INVITE {uri} SIP/2.0\r\n{top}{common}To: <{uri}>\r\nCSeq: {cseq} INVITE"
                    f"\r\nContact: <sip:{from_user}@{self.source}:{local}{self.contact_suffix}>\r\n"
                    f"{authorization}"
                    f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
                )
                connection.send(invite)
                answer, _ = self._final(connection, f"{cseq} INVITE")
                to = answer.headers.get("to", f"<{uri}>")
                # a refusal is acknowledged in its transaction, an answer in a fresh one
                ack_via = top if answer.status >= 300 else via()
                ack = f"ACK {uri} SIP/2.0\r\n{ack_via}{common}To: {to}\r\nCSeq: {cseq} ACK\r\n"
                connection.send(f"{ack}Content-Length: 0\r\n\r\n")
                return answer, to

            cseq = 1
            answer, to = send(cseq)
            challenge = answer.headers.get("proxy-authenticate")
            if answer.status == 407 and password is not None and challenge is not None:
                cseq = 2
                header = digest(challenge, "INVITE", uri, from_user, password)
                answer, to = send(cseq, f"Proxy-Authorization: {header}\r\n")
            if answer.status < 300:
                bye = (
                    f"BYE {uri} SIP/2.0\r\n{via()}{common}To: {to}\r\nCSeq: {cseq + 1} BYE\r\n"
                    "Content-Length: 0\r\n\r\n"
                )
                connection.send(bye)
            return answer

    def _register(
        self, user: str, password: str | None, contact_port: int | None, expires: int
    ) -> Answer:
        host, port = self.pbx
        connection = self._connect()
        with connection.sock:
            local = connection.local_port
            call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
            uri = f"sip:{host}:{port}"
            contact = f"<sip:{user}@{self.source}:{contact_port or local}{self.contact_suffix}>"

            def send(cseq: int, authorization: str = "") -> Answer:
                request = (
                    f"REGISTER {uri} SIP/2.0\r\n"
                    f"Via: SIP/2.0/{self.transport} {self.source}:{local};"
                    f"branch=z9hG4bK{secrets.token_hex(8)}"
                    f"\r\nFrom: <sip:{user}@{host}>;tag={tag}\r\nTo: <sip:{user}@{host}>\r\n"
                    f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
                    f"Contact: {contact}\r\nExpires: {expires}\r\n{authorization}Content-Length: 0"
                    "\r\n\r\n"
                )
                connection.send(request)
                return self._final(connection, f"{cseq} REGISTER")[0]

            answer = send(1)
            challenge = answer.headers.get("www-authenticate")
            if answer.status != 401 or password is None or challenge is None:
                return answer
            header = digest(challenge, "REGISTER", uri, user, password)
            return send(2, f"Authorization: {header}\r\n")
