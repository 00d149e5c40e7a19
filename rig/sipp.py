"""SIPp scenarios for the rig's phones, generated from a phone's behaviour.

Every scenario logs what happened to each call as ``<event> <call-id>`` lines
(``answered``, ``remote-hangup``, ``local-hangup``, ``busy``, ``cancelled``...), which the
orchestrator reads back as the phone's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

SDP = """v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=rig
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
"""


@dataclass(frozen=True)
class Keys:
    """DTMF keys a phone sends ``at_ms`` after its call is answered (a pcap built for them)."""

    at_ms: int
    pcap: str


@dataclass(frozen=True)
class Talk:
    """What a phone does once its call is up: play audio, key digits, hang up after hold_ms
    (None: wait for the other side to hang up, for at most ``wait_ms``)."""

    audio: str | None
    hold_ms: int | None
    keys: list[Keys] = field(default_factory=list)
    wait_ms: int = 600_000


INVITED, BY = "invited:", ":by:"
"""How an answering phone logs what it was called for: ``invited:<number>:by:<caller ID>``."""


def _log(event: str) -> str:
    return f'<nop><action><log message="{event} [call_id]"/></action></nop>'


def _talk(talk: Talk, our_uri: str, their_header: str) -> str:
    """The in-call part shared by callers and answering phones; ends at label 'end'."""
    steps = [_log("answered")]
    if talk.audio:
        steps.append(f'<nop><action><exec play_pcap_audio="{talk.audio}"/></action></nop>')
    elapsed = 0
    for keys in sorted(talk.keys, key=lambda k: k.at_ms):
        if keys.at_ms > elapsed:
            steps.append(f'<pause milliseconds="{keys.at_ms - elapsed}"/>')
            elapsed = keys.at_ms
        steps.append(
            f'<nop><action><exec play_pcap_audio="{keys.pcap}"/>'
            f'<log message="keyed [call_id]"/></action></nop>'
        )
    remaining = (talk.hold_ms - elapsed) if talk.hold_ms is not None else talk.wait_ms
    on_timeout = "hangup" if talk.hold_ms is not None else "waited-too-long"
    steps.append(f'<recv request="BYE" timeout="{max(remaining, 1)}" ontimeout="{on_timeout}"/>')
    steps.append("""<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>""")
    steps.append(_log("remote-hangup"))
    steps.append('<nop next="end"/>')
    steps.append('<label id="hangup"/>')
    steps.append(_log("local-hangup"))
    steps.append(f"""<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: {our_uri}
To: {their_header}
Call-ID: [call_id]
CSeq: 20 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>""")
    steps.append('<recv response="200" crlf="true"/>')
    steps.append('<nop next="end"/>')
    steps.append('<label id="waited-too-long"/>')
    steps.append(_log("never-hung-up"))
    steps.append('<label id="end"/>')
    return "\n".join(steps)


def _scenario(name: str, body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<scenario name="{name}">\n{body}\n</scenario>\n'
    )


def identity_headers(user: str, display: str | None = None) -> tuple[str, str]:
    """From (without tag) and Contact values for a caller ID, escaped so that any text, even
    quotes, semicolons or Chinese, goes on the wire as valid SIP."""
    uri_user = quote(user, safe="+-_.!~*'()")
    userinfo = f"{uri_user}@" if user else ""
    name = user if display is None else display
    # SIPp reads [...] as its own keywords
    name = name.replace("[", "(").replace("]", ")").replace("\\", "\\\\").replace('"', '\\"')
    shown = f'"{name}" ' if name else ""
    return (
        f"{shown}<sip:{userinfo}[local_ip]:[local_port]>",
        f"<sip:{userinfo}[local_ip]:[local_port]>",
    )


def caller(user: str, talk: Talk, display: str | None = None) -> str:
    """A caller: INVITE the hotline number (SIPp's ``-s``), talk, hang up or be hung up on."""
    from_header, contact = identity_headers(user, display)
    ours = f"{from_header};tag=[pid]rig[call_number]"
    invite = f"""<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {ours}
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: {contact}
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{SDP}]]></send>"""
    ack = f"""<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: {ours}
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>"""
    body = "\n".join(
        [
            _log("calling"),
            invite,
            '<recv response="100" optional="true"/>',
            '<recv response="180" optional="true"/>',
            '<recv response="183" optional="true"/>',
            # the far end's To (with its tag) goes into our BYE
            '<recv response="200" rrs="true"><action>'
            '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="peer"/>'
            "</action></recv>",
            ack,
            _talk(talk, our_uri=ours, their_header="[$peer]"),
        ]
    )
    return _scenario("rig caller", body)


def load_caller(talk: Talk) -> str:
    """A caller for a load run: one SIPp process places many calls, each with the calling
    number ``[field0]`` and the dialled number ``[field1]`` of its line in the injection
    file (``-inf``); each talks until the far end hangs up."""
    ours = '"[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]load[call_number]'
    invite = f"""<send retrans="500"><![CDATA[
INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {ours}
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{SDP}]]></send>"""
    ack = f"""<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: {ours}
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>"""
    body = "\n".join(
        [
            _log("calling"),
            invite,
            '<recv response="100" optional="true"/>',
            '<recv response="180" optional="true"/>',
            '<recv response="183" optional="true"/>',
            '<recv response="200" rrs="true"><action>'
            '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="peer"/>'
            "</action></recv>",
            ack,
            _talk(talk, our_uri=ours, their_header="[$peer]"),
        ]
    )
    return _scenario("rig load caller", body)


_WHO = (
    '<ereg regexp="^INVITE sip:([^@;> ]+)@" search_in="msg" assign_to="whole,called"/>'
    '<ereg regexp="sip:([^@;> ]+)@" search_in="hdr" header="From:" assign_to="whole,by"/>'
)
"""The number dialled (the request URI's user) and the caller ID (From's user)."""


def _uas_head(capture: str) -> str:
    return f"""<recv request="INVITE" rrs="true"><action>{capture}{_WHO}</action></recv>
{_log("ringing")}
<nop><action><log message="{INVITED}[$called]{BY}[$by] [call_id]"/></action></nop>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]rig[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0

]]></send>"""


_FROM_PEER = '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="peer"/>'
"""An answering phone keeps who called, for its BYE."""


def answerer(talk: Talk, answer_after_ms: int = 0) -> str:
    """A seat or specialist phone that rings, answers after a delay, and talks."""
    body = "\n".join(
        [
            _uas_head(_FROM_PEER),
            f'<pause milliseconds="{max(answer_after_ms, 1)}"/>',
            f"""<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]rig[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

{SDP}]]></send>""",
            '<recv request="ACK" crlf="true"/>',
            _talk(
                talk,
                our_uri="<sip:[local_ip]:[local_port]>;tag=[pid]rig[call_number]",
                their_header="[$peer]",
            ),
        ]
    )
    return _scenario("rig answering phone", body)


def vanisher(talk: Talk, answer_after_ms: int = 0) -> str:
    """A phone that answers, talks for ``talk.hold_ms`` and then vanishes: its audio stops
    and it never sends or answers another SIP message (a power cut, a network gone)."""
    answered = answerer(talk, answer_after_ms).replace(_FROM_PEER, "")  # it never says BYE
    start = answered.index(_log("answered"))
    gone = "\n".join(
        [
            _log("answered"),
            f'<nop><action><exec play_pcap_audio="{talk.audio}"/></action></nop>',
            f'<pause milliseconds="{talk.hold_ms or 1}"/>',
            _log("vanished"),
        ]
    )
    end = answered.index("</scenario>")
    return answered[:start] + gone + "\n" + answered[end:]


def busy() -> str:
    """A phone that answers every call with 486 Busy Here."""
    body = f"""<recv request="INVITE"><action>{_WHO}</action></recv>
{_log("busy")}
<nop><action><log message="{INVITED}[$called]{BY}[$by] [call_id]"/></action></nop>
<send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]rig[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<recv request="ACK"/>"""
    return _scenario("rig busy phone", body)


def ringing() -> str:
    """A phone that rings until the caller gives up (CANCEL), never answering."""
    capture = '<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>'
    body = f"""{_uas_head(capture)}
<recv request="CANCEL"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]rig[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
{_log("cancelled")}
<send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]rig[call_number]
[last_Call-ID:]
CSeq: [$invite_cseq] INVITE
Content-Length: 0

]]></send>
<recv request="ACK"/>"""
    return _scenario("rig ringing phone", body)


ROUTE_LINES = ("[routes]", "[last_Record-Route:]")
"""What a scenario needs behind a SIP proxy (the route set on in-dialog requests, the
Record-Route copied into answers); left out when the rig talks to the PBX directly."""


def without_routes(xml: str) -> str:
    """A scenario as it is sent straight to the PBX: the proxy's lines taken out."""
    return "\n".join(line for line in xml.split("\n") if line not in ROUTE_LINES)
