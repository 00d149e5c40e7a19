"""Render Kamailio's configuration (the line's SIP edge) from the site file.

The edge takes the carrier's calls and hands each to a PBX node of ``[[nodes]]`` chosen by
Kamailio's dispatcher, probed with OPTIONS, naming the trunk in a header the node trusts
(``EDGE_TRUNK_HEADER``); it rings the line's phones for the nodes and takes their calls out
to the carrier. Every value written comes from the site file,
which checks it (addresses are IP addresses, names identifiers, numbers digits); the
templates' ``finalize`` is the last guard, as for Asterisk's files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.site import (
    EDGE_FALLBACK_HEADER,
    EDGE_PHONE_HEADER,
    EDGE_TRUNK_HEADER,
    EdgeSettings,
    Site,
    contact_address,
    contact_host_port,
)
from hotline.asterisk_config import config_value, template_environment

TEMPLATES = Path(__file__).resolve().parent.parent / "kamailio-conf"
CONFIG_FILES = ("kamailio.cfg", "dispatcher.list", "passwords.cfg")
EDGE_CERTIFICATE, EDGE_KEY = "edge-tls.crt", "edge-tls.key"
"""The edge's certificate and key for SIP over TLS, beside its configuration."""
TLS_MODULES = ("tls", "nathelper")
"""Loaded when the edge takes SIP over TLS or WSS: the TLS transport, and ``nathelper`` to
reach a phone over the connection it opened (it takes no connection from the edge)."""
WEBSOCKET_MODULES = ("xhttp", "websocket")
"""Loaded when the edge takes the browser phones (SIP over secure WebSocket)."""
MODULES = (
    "tm",
    "sl",
    "rr",
    "pv",
    "maxfwd",
    "textops",
    "siputils",
    "xlog",
    "sanity",
    "ctl",
    "kex",
    "corex",
    "tmx",
    "ipops",
    "pike",
    "dispatcher",
    "htable",
    "usrloc",
    "registrar",
    "auth",
    "dialog",
)
"""Kamailio's modules the edge loads, in order (a module after those it needs)."""
CALL_CHECK_FAILURES = 2
"""Checks in a row a node must fail before the edge hangs up a call it had: one slow answer
from a node under load does not cut a live call."""
CALL_CHECK_TIMER = 1
"""Seconds between the edge's rounds of call checks (Kamailio's ``ka_timer``): a call is
checked up to this much later than ``call_check_every``."""
FAILED_CALL_ENDS_AFTER = 10
"""Seconds after its last failed check that Kamailio's dialog module hangs a call up."""


def lost_call_hung_up_within(edge: EdgeSettings) -> int:
    """Seconds after its node died within which the edge has hung up both ends of a call."""
    return edge.call_check_every * CALL_CHECK_FAILURES + CALL_CHECK_TIMER + FAILED_CALL_ENDS_AFTER


CHILDREN = 4
"""Kamailio's worker processes per transport: plenty for hundreds of calls per second."""
NODE_SET = 1
"""The dispatcher set new calls go to: a node that fails a call or a probe is passed over."""
LAST_RESORT_SET = 2
"""The same nodes, passed over only when their probes fail: where a call goes when every
node of ``NODE_SET`` failed a call lately (one slow answer under load is not a dead node)."""


@dataclass(frozen=True)
class EdgeDirs:
    """Where the edge's files live in an installation."""

    etc: Path
    run: Path
    modules: Path
    """Kamailio's modules (``mpath``): Debian's package puts them under /usr/lib/<arch>."""


def modules_dir() -> Path | None:
    """Debian's Kamailio modules directory on this machine, if Kamailio is installed."""
    found = sorted(Path("/usr/lib").glob("*/kamailio/modules/dispatcher.so"))
    return found[0].parent if found else None


def _edge_value(value: object) -> object:
    """What a template writes: the Asterisk guard (no control character), and never a
    double quote (every string sits inside one in kamailio.cfg)."""
    checked = config_value(value)
    if isinstance(checked, str) and '"' in checked:
        raise ValueError(f"{checked!r} has a double quote and cannot go into kamailio.cfg")
    return checked


def render(site: Site, dirs: EdgeDirs, passwords: Mapping[str, str]) -> dict[str, str]:
    """Return ``{file name: text}`` for the edge; the site must have an ``[edge]``.
    ``passwords``: each registering phone's (``passwords.cfg``, written mode 0600)."""
    if site.edge is None:
        raise ValueError("the site file has no [edge]: there is no Kamailio to configure")
    environment = template_environment(TEMPLATES, _edge_value)
    tls, wss = site.edge.tls_port is not None, site.edge.wss_port is not None
    modules: tuple[str, ...] = MODULES
    if site.edge.takes_tls:  # tls first: it sets up OpenSSL before any other module may use it
        modules = TLS_MODULES[:1] + modules + TLS_MODULES[1:]
    if wss:
        modules += WEBSOCKET_MODULES
    fixed = [(seat.id, seat.contact) for seat in site.seats if seat.contact] + [
        (phone.number, phone.contact) for phone in site.phones if phone.contact
    ]
    sources = [(name, contact_address(c), contact_host_port(c)[1]) for name, c in fixed]
    context = {
        "edge": site.edge,
        "nodes": site.nodes,
        "modules": modules,
        "tls": tls,
        "wss": wss,
        "browser_accounts": site.browser_accounts,
        "tls_certificate": dirs.etc / EDGE_CERTIFICATE,
        "tls_key": dirs.etc / EDGE_KEY,
        "encrypted_accounts": [seat.id for seat in site.seats if seat.encrypted],
        "modules_dir": dirs.modules,
        "site": site,
        "passwords": passwords,
        "passwords_file": dirs.etc / "passwords.cfg",
        "children": CHILDREN,
        "control_socket": dirs.run / "kamailio.ctl",
        "dispatcher_list": dirs.etc / "dispatcher.list",
        "call_check_timer": CALL_CHECK_TIMER,
        "call_check_failures": CALL_CHECK_FAILURES,
        "node_set": NODE_SET,
        "last_resort_set": LAST_RESORT_SET,
        "trunks": site.trunks,
        "trunk_header": EDGE_TRUNK_HEADER,
        "fallback_header": EDGE_FALLBACK_HEADER,
        "phone_header": EDGE_PHONE_HEADER,
        "hotline_numbers": site.hotline_numbers,
        "phones": fixed,
        "fixed_phone_addresses": sorted({address for _, address, _ in sources}),
        "fixed_phone_sources": sources,
    }
    return {name: environment.get_template(f"{name}.j2").render(context) for name in CONFIG_FILES}
