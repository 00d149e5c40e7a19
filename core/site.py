"""The site file: the one declarative TOML file an admin edits to describe a hotline site.

Everything else (Asterisk's configuration, the queues, the transfer plan) is derived from
it. :func:`load_site` refuses a wrong file before anything starts, with one sentence per
problem naming the key, e.g. ``seats[2].queues: unknown queue 'enterprize'``.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from core.worktime import DayRule, Period, Schedule

_SIP_CONTACT = re.compile(
    r"^sip:(?:[A-Za-z0-9._+-]+@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$"
)

Digits = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{3,20}$")]
"""A dialable number: digits, optionally a leading +."""

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
"""Line breaks and the like: never in a value that reaches a rendered file."""
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=_PRINTABLE)]
"""A person's or a department's name: any characters but control ones (no line breaks)."""
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]


class SiteError(Exception):
    """A site file that cannot be used; ``problems`` holds one sentence per wrong key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"site file {source} has {len(problems)} problem(s):\n{listing}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_contact(value: str | None) -> str | None:
    if value is not None and not _SIP_CONTACT.match(value):
        raise ValueError(f"'{value}' is not a SIP contact like 'sip:192.0.2.10:5060'")
    return value


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _check_address(value: str | None) -> str | None:
    """An IP address or a host name (letters, digits, '-' and dots): nothing else."""
    if value is None:
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOST_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an IP address or a host name like pbx.example.cn"
            ) from None
    return value


def _check_phone_contact(value: str | None) -> str | None:
    """A fixed phone's contact: its IP address (not a host name), which is also how the
    PBX recognises the phone's own requests."""
    _check_contact(value)
    if value is not None:
        try:
            ipaddress.ip_address(contact_address(value))
        except ValueError:
            raise ValueError(
                f"'{value}' names a host; a fixed phone is recognised by its address, so "
                "write its IP address, like 'sip:192.0.2.10:5060'"
            ) from None
    return value


def contact_host_port(contact: str) -> tuple[str, int]:
    """A fixed phone's contact's host (as written) and port (5060 when not written)."""
    matched = _SIP_CONTACT.match(contact)
    assert matched is not None, contact
    return matched.group(1), int(matched.group(2) or 5060)


def contact_address(contact: str) -> str:
    """The IP address of a fixed phone's contact (``sip:192.0.2.10:5060`` → ``192.0.2.10``)."""
    return contact_host_port(contact)[0].strip("[]")


def source_match(contact: str) -> str:
    """How pjsip.conf's ``identify`` recognises a fixed phone: its address and port."""
    host, port = contact_host_port(contact)
    return f"{host}:{port}"


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address") from None
    return value


class HoursSpec(_Model):
    """An opening schedule as written in the site file."""

    days: DayRule = DayRule.EVERY_DAY
    periods: list[str] = Field(min_length=1)

    @field_validator("periods")
    @classmethod
    def _periods_parse(cls, periods: list[str]) -> list[str]:
        problems: list[str] = []
        for i, text in enumerate(periods):
            try:
                Period.parse(text)
            except ValueError as error:
                problems.append(f"[{i}]: {error}")
        if problems:
            raise ValueError("\n".join(problems))
        return periods

    def schedule(self, timezone: ZoneInfo) -> Schedule:
        """The schedule in the site's time zone."""
        return Schedule(self.days, tuple(Period.parse(p) for p in self.periods), timezone)


class SiteInfo(_Model):
    name: Name
    timezone: str = "Asia/Shanghai"
    area_code: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{1,2}$")] | None = None
    """The local telephone area code (without 0): numbers written without one get it."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a time zone name like 'Asia/Shanghai'") from None
        return value


class SipSettings(_Model):
    """Where Asterisk takes SIP and RTP."""

    bind: str = "127.0.0.1"
    port: int = Field(default=5060, ge=1, le=65535)
    external_address: str | None = None
    rtp_ports: tuple[int, int] = (10000, 20000)
    tls_port: int | None = Field(default=None, ge=1, le=65535)
    """SIP over TLS on this port (none: no TLS). Seats with ``encrypted = true`` use it."""
    wss_port: int | None = Field(default=None, ge=1, le=65535)
    """SIP over secure WebSocket on this port (none: no browser phones): the seat console's
    WebRTC phone registers at ``wss://<bind>:<wss_port>/ws``."""
    webrtc_address: str | None = None
    """The address the browser phones' audio uses (their ICE candidate; default ``bind``).
    Asterisk offers no loopback address to a browser: a site on loopback names one here."""
    tls_certificate: Path | None = None
    """The PBX's certificate (PEM) for TLS and WSS; none: one is made for this installation."""
    tls_key: Path | None = None
    ban_after: int = Field(default=10, ge=3, le=1000)
    """Failed authentications from one address within ``ban_window`` that ban it."""
    ban_window: int = Field(default=60, ge=10, le=3600)
    ban_seconds: int = Field(default=600, ge=60, le=7 * 86400)
    """How long a banned address is refused (``hotline sip lift`` ends it sooner)."""

    _bind_ip = field_validator("bind")(_check_ip)
    _webrtc_ip = field_validator("webrtc_address")(lambda value: value and _check_ip(value))
    _external = field_validator("external_address")(_check_address)

    @property
    def browser_media_address(self) -> str:
        """Where the browser phones' audio goes: ``webrtc_address``, else ``bind``."""
        return self.webrtc_address or self.bind

    @model_validator(mode="after")
    def _both_or_neither(self) -> SipSettings:
        if (self.tls_certificate is None) != (self.tls_key is None):
            raise ValueError("tls_certificate and tls_key go together: give both or neither")
        for path in (self.tls_certificate, self.tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"'{path}' is not a file")
            if path is not None and CONTROL_CHARACTERS.search(str(path)):
                raise ValueError("a file name may not hold control characters")
        return self

    @field_validator("rtp_ports")
    @classmethod
    def _rtp_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not (1024 <= low < high <= 65535):
            raise ValueError("must be [low, high] with 1024 <= low < high <= 65535")
        if high - low < 100:
            raise ValueError("leaves fewer than 50 calls' worth of RTP ports; widen it")
        return value


class ServiceSettings(_Model):
    """Where the control interfaces listen. Loopback unless an admin decides otherwise."""

    bind: str = "127.0.0.1"
    ari_port: int = Field(default=8088, ge=1, le=65535)
    ami_port: int = Field(default=5038, ge=1, le=65535)
    agi_port: int = Field(default=4573, ge=1, le=65535)
    web_port: int = Field(default=8080, ge=1, le=65535)
    app_processes: int = Field(default=1, ge=1, le=8)
    """How many Stasis application processes share the calls (``hotline app --instance N``)."""

    _bind_ip = field_validator("bind")(_check_ip)

    @property
    def local_host(self) -> str:
        """Where this machine's own processes reach the services: their address, or
        loopback when they listen on every address."""
        return "127.0.0.1" if self.bind == "0.0.0.0" else self.bind


class Trunk(_Model):
    """A SIP trunk from the carrier: calls to the hotline numbers arrive on it."""

    name: Identifier
    match: list[str] = Field(min_length=1)
    numbers: list[Digits] = Field(min_length=1)
    outbound_contact: str | None = None

    _contact = field_validator("outbound_contact")(_check_contact)

    @field_validator("match")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(
                    f"'{value}' is not an address or network like 192.0.2.0/24"
                ) from None
        return values


EDGE_TRUNK_HEADER = "X-Hotline-Trunk"
"""The header in which the edge names the trunk a call came in on (it removes any the
carrier sent); a node takes requests from the edge alone, so it can trust it."""
EDGE_PHONE_HEADER = "X-Hotline-Phone"
"""The header in which the edge names the phone of the line that placed a call (by its
fixed address and port, or its account's password), removing any the sender put there."""
EDGE_FALLBACK_HEADER = "X-Hotline-Fallback"
"""The header a node sets on each seat its Asterisk queue (the fallback) rings: the edge
answers such a call busy when the phone is in a call through it, on any node (the queue
knows only its own node's calls; the application knows every node's through Redis)."""


class EdgeSettings(_Model):
    """Kamailio, the line's SIP edge: the carrier and every phone talk to it, and it hands
    each new call to a PBX node that answers its probes (``[[nodes]]``)."""

    address: str
    port: int = Field(default=5060, ge=1, le=65535)
    tls_port: int | None = Field(default=None, ge=1, le=65535)
    """SIP over TLS at the edge, for the encrypted seats' phones (none: no TLS); its
    certificate is [sip]'s ``tls_certificate`` or one made for the edge's address."""
    wss_port: int | None = Field(default=None, ge=1, le=65535)
    """SIP over secure WebSocket at the edge (none: no browser phones): the seat console's
    WebRTC phone registers at ``wss://<address>:<wss_port>/ws``; its certificate as TLS's."""
    probe_every: int = Field(default=1, ge=1, le=30)
    """Seconds between the OPTIONS probes of each node; one unanswered marks it down."""
    node_answer: int = Field(default=1000, ge=200, le=10000)
    """Milliseconds a node may take to answer a call's INVITE (100 Trying) before the call
    goes to the next node and this one is marked down."""
    call_check_every: int = Field(default=30, ge=30, le=600)
    """Seconds between the edge's checks that a node still has each of its calls (OPTIONS
    in the call; 30 at least, Kamailio's floor); a call whose node fails two checks in a row
    is hung up at both ends: the node died with it, and its callers are called back."""
    flood_requests: int = Field(default=30, ge=5, le=10000)
    """Requests one address may send in ``flood_window`` seconds before it is blocked."""
    flood_window: int = Field(default=2, ge=1, le=60)

    _address = field_validator("address")(_check_ip)

    @property
    def takes_tls(self) -> bool:
        """Whether a TLS listener runs at the edge: SIP over TLS, or the browsers' WSS."""
        return self.tls_port is not None or self.wss_port is not None

    @property
    def ports(self) -> dict[str, int]:
        """The edge's SIP listeners: ``{key: port}`` (``port``, ``tls_port``, ``wss_port``)."""
        ports = {"port": self.port, "tls_port": self.tls_port, "wss_port": self.wss_port}
        return {key: port for key, port in ports.items() if port is not None}


class Node(_Model):
    """An Asterisk PBX node behind the edge: its SIP address (where the edge sends it calls
    and where it rings phones from) and where its control interfaces listen."""

    name: Identifier
    address: str
    port: int = Field(default=5060, ge=1, le=65535)
    services: str = "127.0.0.1"
    """The address of the node's ARI, AMI and front door ([services] ports): loopback on
    the node's machine unless several nodes share one machine (the test rig)."""
    webrtc_address: str | None = None
    """Where the browser phones' audio reaches this node (its ICE candidate); default
    [sip]'s ``webrtc_address`` (nodes on one machine), else the node's address."""

    _address = field_validator("address")(_check_ip)
    _services = field_validator("services")(_check_ip)
    _webrtc_ip = field_validator("webrtc_address")(lambda value: value and _check_ip(value))

    @property
    def target(self) -> str:
        """Where the edge sends it requests: ``sip:ADDRESS:PORT``."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"sip:{host}:{self.port}"


class Queue(_Model):
    """A seat queue (enterprise, citizen) and its opening schedule."""

    name: Identifier
    hours: HoursSpec = HoursSpec(periods=["06:00-24:00"])
    ring_timeout: int = Field(default=15, ge=5, le=120)
    wrap_up: int = Field(default=10, ge=0, le=600)
    max_wait: int = Field(default=600, ge=10, le=7200)
    """Seconds a caller may wait for a seat; then a message and a call-back request."""
    red_list_head_start: int = Field(default=60, ge=0, le=3600)
    """Seconds a red-list firm is placed ahead in the line (see queues.line for the rule)."""
    announce_every: int = Field(default=30, ge=0, le=600)
    """Seconds between telling a waiting caller how many are ahead of them (0: never)."""
    move_to: Identifier | None = None
    """A queue this queue's seats can move a caller to with one key (``#``), the caller
    keeping their place by first arrival: the citizen line's one-key transfer."""


class Seat(_Model):
    """A seat agent's SIP phone.

    ``contact`` fixes where it is rung (a test-rig phone or a phone with a static address),
    and the PBX takes requests as this seat's only from that address and port; without it,
    the phone registers with username = ``id`` and a password generated for this
    installation (``hotline seats accounts`` prints it), and must authenticate every request.
    """

    id: Annotated[str, StringConstraints(pattern=r"^[0-9]{2,8}$")]
    name: Name
    queues: list[Identifier] = Field(min_length=1)
    contact: str | None = None
    encrypted: bool = False
    """The phone registers over TLS ([sip].tls_port) and its audio is SRTP, nothing else."""

    _contact = field_validator("contact")(_check_phone_contact)


class Department(_Model):
    """A department whose specialists are brought into calls, numbers in forwarding order."""

    code: Identifier
    name: Name
    numbers: list[Digits] = Field(min_length=1)
    hours: HoursSpec = HoursSpec(days=DayRule.WORKING_DAYS, periods=["09:00-12:00", "13:30-17:30"])
    webhook: Url | None = None
    """Where the department's work-order reminders are POSTed as JSON."""
    email: Email | None = None
    """Where they are mailed too (through ``[smtp]``)."""


class Matter(_Model):
    """A high-frequency enterprise matter, keyed by a code a seat can type on a keypad."""

    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}$")]
    name: Name
    department: Identifier
    numbers: list[Digits] = Field(default_factory=list)
    script: str = ""


class Phone(_Model):
    """A specialist's phone on this PBX, reached directly rather than through a trunk.
    Without ``contact`` it registers (username = number, generated password)."""

    number: Digits
    contact: str | None = None

    _contact = field_validator("contact")(_check_phone_contact)


class TransferSettings(_Model):
    """How specialists are dialled."""

    ring_timeout: int = Field(default=20, ge=5, le=120)
    """Seconds a specialist's phone rings before the next number is tried."""
    caller_id: Digits | None = None
    """The number specialists see (default: the first hotline number)."""


Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=500)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$", max_length=200)]


class OrderSettings(_Model):
    """Work orders chased: the department reminded as the deadline nears and once it has
    passed, the supervisors told after a second limit."""

    remind_at: float = Field(default=0.8, gt=0, lt=1)
    """Share of an order's time after which its department is reminded."""
    escalate_after: int = Field(default=4, ge=0, le=720)
    """Hours past the deadline after which the supervisors are told."""
    supervisors_webhook: Url | None = None
    supervisors_email: Email | None = None


class SmtpSettings(_Model):
    """The mail server reminders go through (none: no email)."""

    host: str = Field(pattern=r"^[A-Za-z0-9.:_-]+$")
    port: int = Field(default=25, ge=1, le=65535)
    sender: Email
    starttls: bool = False


class CallbackSettings(_Model):
    """Call-backs: a waiting caller who keys 1, one who reached the maximum wait and one
    who called out of hours are called back in their turn, through the trunk."""

    enabled: bool = True
    """Offer and make call-backs (off: the line promises none)."""
    attempts: int = Field(default=3, ge=1, le=10)
    """Calls to the company at most before the call-back is given up (busy, no answer,
    unreachable)."""
    retry_after: int = Field(default=300, ge=10, le=86400)
    """Seconds between attempts (inside the queue's hours)."""
    ring_timeout: int = Field(default=30, ge=5, le=120)
    """Seconds the company's phone rings before the attempt counts as not answered."""


class RecordingSettings(_Model):
    """Every answered call recorded (caller, seat and any specialist in one file), after a
    short notice that it may be."""

    enabled: bool = True
    """Record answered calls (off: no recording, no notice)."""
    notice: bool = True
    """Tell each caller, before a seat is rung, that the call may be recorded."""
    dir: Path | None = None
    """Where the files are kept (none: ``<state>/asterisk/spool/recording``)."""
    retention_days: int | None = Field(default=180, ge=1, le=36500)
    """Days a recording is kept before it is deleted (none: kept for ever)."""
    min_free_mb: int = Field(default=200, ge=0, le=10_000_000)
    """A call is not recorded (and an alert is raised) when the directory has less free."""

    @field_validator("dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"'{value}' must be an absolute path")
        return value


class ReturnVisitSettings(_Model):
    """Return visits (回访): once a work order is answered, the company is called (no seat)
    and asked, by keypad, whether it was responded to, resolved, and how satisfied it is."""

    enabled: bool = True
    """Call companies back about their answered orders (off: visits only by hand)."""
    hours: HoursSpec = HoursSpec(days=DayRule.WORKING_DAYS, periods=["09:00-12:00", "13:30-17:30"])
    """When companies are called: attempts and retries fall inside these hours only."""
    after_minutes: int = Field(default=60, ge=0, le=10080)
    """Minutes of those hours between the order's answer and the first call."""
    within_days: int = Field(default=3, ge=1, le=30)
    """Working days after the answer by which the visit must be made; an attempt that would
    come later is not made (the visit is given up, and reported)."""
    attempts: int = Field(default=3, ge=1, le=10)
    """Calls at most (busy, no answer, unreachable, answered without a key)."""
    retry_after: int = Field(default=120, ge=1, le=10080)
    """Minutes of the hours between attempts."""
    ring_timeout: int = Field(default=30, ge=5, le=120)
    """Seconds the company's phone rings."""
    key_wait: int = Field(default=8, ge=2, le=60)
    """Seconds the company has to key an answer after each question."""


class ReportSettings(_Model):
    """How calls are measured, watched and kept."""

    connect_target: float = Field(default=0.90, gt=0, le=1)
    """The transfer connect rate a department must keep (the cities ask for 90%)."""
    alert_window: int = Field(default=15, ge=1, le=1440)
    """Minutes of recent transfer requests an alert looks at."""
    alert_min_requests: int = Field(default=10, ge=1, le=10000)
    """No alert on fewer requests than this in the window: a rate of 1 in 2 says nothing."""
    alert_webhook: str | None = Field(default=None, pattern=r"^https?://")
    """Where a raised or cleared alert is also POSTed as JSON (none: no webhook)."""
    service_level_seconds: int = Field(default=15, ge=1, le=600)
    short_abandon_seconds: int = Field(default=5, ge=0, le=120)
    """Callers who hang up sooner than this are short abandons, reported apart."""
    survey: bool = True
    """Ask the caller to rate the service when the seat or the specialist hangs up."""
    survey_wait: int = Field(default=8, ge=2, le=30)
    """Seconds the survey waits for a key after its question, before asking once more."""
    detail_days: int | None = Field(default=400, ge=7)
    """Days call details and Asterisk's CDRs are kept (the daily figures are kept for
    ever); none: keep everything."""


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _days(text: str) -> list[date]:
    """``2027-02-06`` or a range ``2027-02-06..2027-02-13`` (both ends included)."""
    first, dots, last = text.partition("..")
    try:
        if not _DAY.match(first) or (dots and not _DAY.match(last)):
            raise ValueError
        start = date.fromisoformat(first)
        end = date.fromisoformat(last) if dots else start
    except ValueError:
        raise ValueError(
            f"'{text}' is not a day like 2027-02-06 or a range like 2027-02-06..2027-02-13"
        ) from None
    if end < start or (end - start).days > 31:
        raise ValueError(f"'{text}' must run forward and span at most 32 days")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


class CalendarSpec(_Model):
    """Public holidays and make-up working days entered by hand (the State Council's
    schedule for a year, when ``chinese-calendar`` does not have it yet): they override the
    package for every working-time rule."""

    holidays: list[str] = Field(default_factory=list)
    """Days off, e.g. ``"2027-02-06..2027-02-13"`` (Spring Festival)."""
    workdays: list[str] = Field(default_factory=list)
    """Make-up working days: weekend days that are worked."""

    @model_validator(mode="after")
    def _readable(self) -> CalendarSpec:
        problems: list[str] = []
        seen: dict[date, str] = {}
        for key, entries in (("holidays", self.holidays), ("workdays", self.workdays)):
            for i, text in enumerate(entries):
                try:
                    days = _days(text)
                except ValueError as error:
                    problems.append(f"{key}[{i}]: {error}")
                    continue
                for day in days:
                    if seen.get(day, key) != key:
                        problems.append(
                            f"{key}[{i}]: {day} is also entered as one of the {seen[day]}"
                        )
                    seen[day] = key
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def days(self) -> dict[date, bool]:
        """Each entered day: a working day (True) or a holiday (False)."""
        entered = {day: False for text in self.holidays for day in _days(text)}
        entered |= {day: True for text in self.workdays for day in _days(text)}
        return entered


class Site(_Model):
    """A whole site. Build it with :func:`load_site`, which checks cross-references too."""

    site: SiteInfo
    sip: SipSettings = SipSettings()
    services: ServiceSettings = ServiceSettings()
    trunks: list[Trunk] = Field(min_length=1)
    queues: list[Queue] = Field(min_length=1)
    seats: list[Seat] = Field(min_length=1)
    departments: list[Department] = Field(default_factory=list)
    matters: list[Matter] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    transfer: TransferSettings = TransferSettings()
    callbacks: CallbackSettings = CallbackSettings()
    recordings: RecordingSettings = RecordingSettings()
    visits: ReturnVisitSettings = ReturnVisitSettings()
    orders: OrderSettings = OrderSettings()
    smtp: SmtpSettings | None = None
    reports: ReportSettings = ReportSettings()
    calendar: CalendarSpec = CalendarSpec()
    edge: EdgeSettings | None = None
    nodes: list[Node] = Field(default_factory=list)
    _node: Node | None = PrivateAttr(default=None)

    @property
    def node(self) -> Node | None:
        """The PBX node this process serves (:meth:`on_node`), or None."""
        return self._node

    @property
    def node_name(self) -> str | None:
        """The name of the PBX node this process serves, or None (a one-PBX line)."""
        return self._node.name if self._node else None

    def on_node(self, name: str) -> Site:
        """The site as node ``name`` serves it: SIP on the node's address and port, the
        control interfaces on its services address. Raises :class:`SiteError` for a name
        the site does not list."""
        node = next((n for n in self.nodes if n.name == name), None)
        if node is None:
            known = ", ".join(n.name for n in self.nodes) or "none"
            raise SiteError("<site>", [f"--node: no node named {name!r} (its nodes: {known})"])
        served = self.model_copy(
            update={
                "sip": self.sip.model_copy(
                    update={
                        "bind": node.address,
                        "port": node.port,
                        "webrtc_address": node.webrtc_address or self.sip.webrtc_address,
                    }
                ),
                "services": self.services.model_copy(update={"bind": node.services}),
            }
        )
        served._node = node
        return served

    @model_validator(mode="after")
    def _cross_references(self) -> Site:
        problems: list[str] = []
        _nodes_behind_the_edge(problems, self.edge, self.nodes)
        if self.edge is not None:
            _served_behind_the_edge(problems, self, self.edge)
        _unique(problems, "trunks", [t.name for t in self.trunks], "name")
        _unique(problems, "queues", [q.name for q in self.queues], "name")
        _unique(problems, "seats", [s.id for s in self.seats], "id")
        _unique(problems, "departments", [d.code for d in self.departments], "code")
        _unique(problems, "matters", [m.code for m in self.matters], "code")
        _unique(problems, "phones", [p.number for p in self.phones], "number")

        _distinct_ports(problems, self.sip, self.services)
        queue_names = {q.name for q in self.queues}
        if "enterprise" not in queue_names:
            problems.append(
                "queues: the site needs a queue named 'enterprise' (the enterprise seats)"
            )
        for i, queue in enumerate(self.queues):
            if queue.move_to is not None and queue.move_to not in queue_names - {queue.name}:
                problems.append(f"queues[{i}].move_to: unknown queue '{queue.move_to}'")
        for i, seat in enumerate(self.seats):
            if seat.encrypted and seat.contact:
                problems.append(f"seats[{i}].encrypted: an encrypted seat registers; drop contact")
            if seat.encrypted and self.edge is None and self.sip.tls_port is None:
                problems.append(f"seats[{i}].encrypted: needs [sip].tls_port (SIP over TLS)")
            for name in seat.queues:
                if name not in queue_names:
                    problems.append(f"seats[{i}].queues: unknown queue '{name}'")
        # Seats and phones share one SIP endpoint namespace with the trunks.
        endpoints = [s.id for s in self.seats] + [p.number for p in self.phones]
        endpoints += [t.name for t in self.trunks]
        clashes = sorted({e for e in endpoints if endpoints.count(e) > 1})
        for clash in clashes:
            problems.append(f"'{clash}' is used by more than one of seats, phones and trunks")

        reachable_outside = any(t.outbound_contact for t in self.trunks)
        local_numbers = {p.number for p in self.phones}
        department_codes = {d.code for d in self.departments}
        for i, department in enumerate(self.departments):
            for j, number in enumerate(department.numbers):
                if number not in local_numbers and not reachable_outside:
                    problems.append(
                        f"departments[{i}].numbers[{j}]: '{number}' is not one of the site's "
                        "phones and no trunk has an outbound_contact to reach it"
                    )
        for i, matter in enumerate(self.matters):
            if matter.department not in department_codes:
                problems.append(
                    f"matters[{i}].department: unknown department '{matter.department}'"
                )
            for j, number in enumerate(matter.numbers):
                if number not in local_numbers and not reachable_outside:
                    problems.append(
                        f"matters[{i}].numbers[{j}]: '{number}' is not one of the site's "
                        "phones and no trunk has an outbound_contact to reach it"
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    @property
    def browser_phones(self) -> bool:
        """Whether each seat's console has a browser phone: SIP over WSS at the PBX, or at
        the edge in front of the nodes."""
        edge_wss = self.edge is not None and self.edge.wss_port is not None
        return self.sip.wss_port is not None or edge_wss

    @property
    def browser_accounts(self) -> list[str]:
        """The SIP account of each seat's browser phone (none without browser phones)."""
        return [browser_account(seat.id) for seat in self.seats] if self.browser_phones else []

    @property
    def browser_registrar(self) -> tuple[str | None, int] | None:
        """Where the seats' browser phones register over WSS, ``(host, port)``: the edge's,
        else the PBX's (host None when it listens on every address: the console page's own
        host then); None without browser phones."""
        sip, edge = self.sip, self.edge
        if edge is not None and edge.wss_port is not None:
            return edge.address, edge.wss_port
        if sip.wss_port is None:
            return None
        everywhere = sip.bind in ("0.0.0.0", "::")
        return sip.external_address or (None if everywhere else sip.bind), sip.wss_port

    @property
    def registering_accounts(self) -> list[str]:
        """The SIP accounts of the seats and phones that register (no fixed ``contact``)."""
        return [s.id for s in self.seats if not s.contact] + [
            p.number for p in self.phones if not p.contact
        ]

    @property
    def hotline_numbers(self) -> list[str]:
        return [number for trunk in self.trunks for number in trunk.numbers]

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)

    def seats_of(self, queue: str) -> list[Seat]:
        return [seat for seat in self.seats if queue in seat.queues]

    def endpoint_for(self, number: str) -> str | None:
        """How Asterisk dials a specialist's number: the site's own phone, or out through
        the first trunk that has an outbound contact; None if neither."""
        if any(phone.number == number for phone in self.phones):
            return f"PJSIP/{number}"
        trunk = next((t for t in self.trunks if t.outbound_contact), None)
        return f"PJSIP/{number}@{trunk.name}" if trunk else None

    @property
    def transfer_caller_id(self) -> str:
        return self.transfer.caller_id or self.hotline_numbers[0]


def browser_account(seat_id: str) -> str:
    """The SIP account of a seat's browser phone (the console's WebRTC phone)."""
    return f"{seat_id}-web"


def _distinct_ports(problems: list[str], sip: SipSettings, services: ServiceSettings) -> None:
    """Every listener needs its own port, outside the RTP range."""
    ports = {"sip.port": sip.port}
    if sip.tls_port is not None:
        ports["sip.tls_port"] = sip.tls_port
    if sip.wss_port is not None:
        ports["sip.wss_port"] = sip.wss_port
    ports |= {
        f"services.{key}": getattr(services, key)
        for key in ("ari_port", "ami_port", "agi_port", "web_port")
    }
    taken: dict[int, str] = {}
    low, high = sip.rtp_ports
    for key, port in ports.items():
        if port in taken:
            problems.append(f"{key}: {port} is also {taken[port]}; each needs its own port")
        elif low <= port <= high:
            problems.append(f"{key}: {port} is inside sip.rtp_ports ({low}-{high})")
        taken.setdefault(port, key)


def _nodes_behind_the_edge(
    problems: list[str], edge: EdgeSettings | None, nodes: list[Node]
) -> None:
    if edge is None:
        if nodes:
            problems.append("nodes: PBX nodes need an [edge] (Kamailio) in front of them")
        return
    if not nodes:
        problems.append("edge: Kamailio needs at least one [[nodes]] entry to send calls to")
    _unique(problems, "nodes", [n.name for n in nodes], "name")
    places = [(n.address, n.port) for n in nodes]
    for i, node in enumerate(nodes):
        if places.count((node.address, node.port)) > 1:
            problems.append(f"nodes[{i}]: another node listens on {node.address}:{node.port}")
        if node.address == edge.address and node.port in edge.ports.values():
            problems.append(f"nodes[{i}]: {node.address}:{node.port} is the edge's own")
    taken: dict[int, str] = {}
    for key, port in edge.ports.items():
        if port in taken:
            problems.append(f"edge.{key}: {port} is also edge.{taken[port]}; each needs its own")
        taken.setdefault(port, key)


def _served_behind_the_edge(problems: list[str], site: Site, edge: EdgeSettings) -> None:
    """What a line behind an edge serves otherwise, or not yet, each with what to do."""
    if site.sip.wss_port is not None:
        problems.append(
            "sip.wss_port: behind an [edge] browser phones register at the edge: move it to [edge]"
        )
    if site.sip.tls_port is not None:
        problems.append(
            "sip.tls_port: behind an [edge] phones use TLS at the edge: move it to [edge]"
        )
    for i, seat in enumerate(site.seats):
        if seat.encrypted and edge.tls_port is None:
            problems.append(f"seats[{i}].encrypted: needs [edge].tls_port (SIP over TLS)")


def _unique(problems: list[str], section: str, values: list[str], key: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(f"{section}[{i}].{key}: '{value}' appears more than once")
        seen.add(value)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _sentences(error: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in error.errors():
        where = _location(tuple(item["loc"]))
        kind = item["type"]
        if kind == "missing":
            problems.append(f"{where}: is required but missing")
        elif kind == "extra_forbidden":
            problems.append(f"{where}: is not a known key (check its spelling)")
        elif kind == "string_pattern_mismatch":
            problems.append(f"{where}: {item['input']!r} {_pattern_hint(where)}")
        elif kind == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
            for line in message.splitlines():
                if not where:
                    problems.append(line)
                elif line.startswith("["):  # a list validator names the item: "[1]: ..."
                    problems.append(f"{where}{line}")
                else:
                    problems.append(f"{where}: {line}")
        else:
            problems.append(f"{where}: {item['msg']}")
    return problems


def _pattern_hint(where: str) -> str:
    if where.endswith("name") and not where.startswith(("trunks", "queues")):
        return "must not contain control characters such as line breaks"
    if where == "site.area_code":
        return "must be the area code without its leading 0, e.g. '21' or '755'"
    if where.endswith("code") and where.startswith("matters"):
        return "must be 1 to 6 digits (seats key it on the phone)"
    if where.startswith("seats") and where.endswith(".id"):
        return "must be 2 to 8 digits (it is the phone's SIP username)"
    if "numbers" in where or where.endswith("number"):
        return "must be a dialable number: digits, optionally with a leading +"
    return "must be letters, digits, '-' or '_' (at most 40)"


def parse_site(data: dict[str, Any], source: str = "<site>") -> Site:
    """Build a :class:`Site` from parsed TOML, raising :class:`SiteError` with every problem."""
    try:
        return Site.model_validate(data)
    except ValidationError as error:
        raise SiteError(source, _sentences(error)) from None


def load_site(path: Path) -> Site:
    """Read and check a site file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteError(
            str(path), ["the file does not exist (pass --site or set HOTLINE_SITE)"]
        ) from None
    except IsADirectoryError:
        raise SiteError(str(path), ["is a directory; name the site file (TOML) in it"]) from None
    except UnicodeDecodeError as error:
        raise SiteError(
            str(path),
            [f"is not UTF-8 text (byte {error.start}); save it as UTF-8"],
        ) from None
    except OSError as error:
        raise SiteError(str(path), [f"cannot be read: {error.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SiteError(str(path), [f"is not valid TOML: {error}"]) from None
    return parse_site(data, str(path))
