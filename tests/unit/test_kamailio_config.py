"""The line's SIP edge: Kamailio's configuration rendered from the site file — the
dispatcher's nodes, the carrier's networks and the hotline numbers as the only way in —
accepted by the real Kamailio's own check (``kamailio -c``), and a site whose nodes and edge
do not fit together refused with a sentence."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from core.site import Site, SiteError, parse_site
from hotline import kamailio_config
from hotline.edge import NodeState, NodeStatus, node_statuses, registered_accounts
from hotline.kamailio_config import EDGE_CERTIFICATE, EDGE_KEY, EdgeDirs
from hotline.tls import own_certificate
from tests.conftest import EXAMPLE_SITE

EDGE = {"address": "127.0.0.1", "port": 15060}
PASSWORDS = {"1009": "s3cret-1009", "02161001009": "s3cret-9"}
"""The registering seat's and phone's passwords, as an installation's secrets give them."""
NODES = [
    {"name": "pbx-a", "address": "127.0.0.11"},
    {"name": "pbx-b", "address": "127.0.0.12", "port": 5070},
]


def _site(**changes: Any) -> Site:
    """The example site with ``changes``; behind an edge, without what the edge does not
    serve yet (the browser phone)."""
    data = tomllib.loads(EXAMPLE_SITE.read_text(encoding="utf-8"))
    if "edge" in changes:
        del data["sip"]["wss_port"]
    data.update(changes)
    return parse_site(data)


def _dirs(tmp_path: Path) -> EdgeDirs:
    modules = kamailio_config.modules_dir()
    assert modules is not None, "Kamailio is not installed (./run installs Debian's kamailio)"
    return EdgeDirs(etc=tmp_path / "etc", run=tmp_path / "run", modules=modules)


def test_the_edge_sends_the_carriers_calls_to_the_nodes_and_nothing_else_in(
    tmp_path: Path,
) -> None:
    files = kamailio_config.render(_site(edge=EDGE, nodes=NODES), _dirs(tmp_path), PASSWORDS)
    nodes = [line for line in files["dispatcher.list"].splitlines() if line[:1].isdigit()]
    # set 1 takes new calls; set 2, the same nodes marked down by probes alone, the last resort
    assert nodes == [
        "1 sip:127.0.0.11:5060 0 0 duid=pbx-a",
        "1 sip:127.0.0.12:5070 0 0 duid=pbx-b",
        "2 sip:127.0.0.11:5060 0 0 duid=pbx-a",
        "2 sip:127.0.0.12:5070 0 0 duid=pbx-b",
    ]
    config = files["kamailio.cfg"]
    assert "listen=udp:127.0.0.1:15060" in config and "listen=tcp:127.0.0.1:15060" in config
    assert 'if (is_in_subnet("$si", "127.0.0.2")) {' in config  # the example's carrier
    assert 'if ($rU == "12345") {' in config  # its hotline number
    for address, port in (("127.0.0.11", 5060), ("127.0.0.12", 5070)):
        assert f'if ($si == "{address}" && $sp == {port}) {{' in config
    assert 'modparam("dispatcher", "ds_ping_interval", 1)' in config
    assert 'modparam("tm", "fr_timer", 1000)' in config  # a node silent for 1 s is passed
    # when every node failed a call lately, one whose probes answer (set 2) takes the call,
    # and a call it fails marks nothing: its probes say whether it is alive
    to_node = config.split("route[TO_NODE] {")[1].split("\n}\n")[0]
    assert to_node.index('ds_select_dst("1", "4")') < to_node.index('ds_select_dst("2", "4")')
    next_node = config.split("failure_route[NEXT_NODE] {")[1].split("\n}\n")[0]
    assert next_node.index("if (!isflagset(LAST_RESORT)) {") < next_node.index('ds_mark_dst("ip")')
    # the phones that register: their passwords in a file of their own, read at start
    assert "s3cret" not in config and f'import_file "{tmp_path}/etc/passwords.cfg"' in config
    passwords = files["passwords.cfg"]
    assert '$sht(passwords=>1009) = "s3cret-1009";' in passwords
    assert '$sht(passwords=>02161001009) = "s3cret-9";' in passwords
    assert "$shtinc(failures=>$si)" in config, "failed authentications counted per address"
    # a carrier sends every call from its SBC: a flood limit on it would cut the line at a
    # few calls a second (found by benchmarks/edge_path.py)
    flood = (
        "!route(FROM_NODE) && !route(FROM_CARRIER) && !route(FROM_FIXED_PHONE) && !pike_check_req()"
    )
    assert flood in config, "nor on the fixed phones, several of which may share an address"
    assert 'if ($si == "127.0.0.1") {' in config.split("route[FROM_FIXED_PHONE]")[1]
    assert 'modparam("htable", "htable", "banned=>size=8;autoexpire=600;")' in config
    # a seat's phone places calls (feature codes) through the edge, which names it to the
    # node: a fixed phone by its address and port, a registering one by its password
    from_phone = config.split("route[FROM_PHONE] {")[1].split("\n}")[0]
    assert 'if ($si == "127.0.0.1" && $sp == 5071) {\n\t\t$var(phone) = "1001";' in from_phone
    assert '!pv_proxy_authenticate("hotline", "$sht(passwords=>$au)", "0")' in from_phone
    assert from_phone.index("$au != $fU") < from_phone.index("$var(phone) = $fU")
    to_node = config.split("route[TO_NODE] {")[1].split("\n}")[0]
    headers = ["X-Hotline-Trunk", "X-Hotline-Phone"]
    assert all(f'remove_hf("{header}");' in to_node for header in headers), "never trusted"
    # a phone in a call on one node is busy to the other node's queue (the fallback)
    to_phone = config.split("route[TO_PHONE] {")[1].split("\n}")[0]
    assert to_phone.index("route(PHONE_IN_A_CALL)") < to_phone.index("lookup(")
    in_a_call = config.split("route[PHONE_IN_A_CALL] {")[1].split("\n}")[0]
    assert 'is_present_hf("X-Hotline-Fallback")' in in_a_call
    assert in_a_call.index('sl_send_reply("486"') < in_a_call.index("dlg_manage()")
    assert 'set_dlg_profile("phone", "$rU")' in in_a_call
    # a call's node is asked every 30 s whether it still has the call; a node that fails two
    # checks in a row (dead: no answer; restarted: 481) has the call hung up at both ends
    to_node = config.split("route[TO_NODE] {")[1].split("\n}")[0]
    assert to_node.index("dlg_manage()") < to_node.index('dlg_set_property("ka-dst")')
    assert to_node.index('dlg_set_property("ka-dst")') < to_node.index("route(RELAY)")
    assert 'dlg_set_property("ka-src")' in in_a_call, "a node's call to a phone: the same"
    for setting in ('"ka_interval", 30', '"ka_failed_limit", 2', '"ka_timer", 1', '"send_bye", 1'):
        assert f'modparam("dialog", {setting})' in config, setting


EDGE_TLS = {**EDGE, "tls_port": 15061}


def _with_an_encrypted_seat(edge: dict[str, Any]) -> Site:
    """The example line with seat 1009 (its phone registers) encrypted: TLS and SRTP."""
    data = tomllib.loads(EXAMPLE_SITE.read_text(encoding="utf-8"))
    del data["sip"]["wss_port"]
    [seat] = [seat for seat in data["seats"] if seat["id"] == "1009"]
    seat["encrypted"] = True
    data.update(edge=edge, nodes=NODES)
    return parse_site(data)


def test_an_encrypted_seats_phone_reaches_the_edge_over_tls_only(tmp_path: Path) -> None:
    files = kamailio_config.render(_with_an_encrypted_seat(EDGE_TLS), _dirs(tmp_path), PASSWORDS)
    config = files["kamailio.cfg"]
    assert "listen=tls:127.0.0.1:15061" in config and "enable_tls=yes" in config
    modules = re.findall(r'loadmodule "(\w+)\.so"', config)
    assert modules[0] == "tls" and "nathelper" in modules
    assert f'modparam("tls", "private_key", "{tmp_path}/etc/edge-tls.key")' in config
    encrypted = config.split("route[ENCRYPTED_ACCOUNT] {")[1].split("\n}")[0]
    assert re.findall(r'\$au == "(\w+)"', encrypted) == ["1009"]
    for route in ("REGISTRAR", "FROM_PHONE"):  # not over UDP or TCP, even with its password
        body = config.split(f"route[{route}] {{")[1].split("\n}")[0]
        refused = body.index('if ($proto != "tls" && route(ENCRYPTED_ACCOUNT)) {')
        assert body.index("pv_") < refused < body.index("consume_credentials()"), route
    registrar = config.split("route[REGISTRAR] {")[1].split("\n}")[0]
    assert registrar.index("fix_nated_register()") < registrar.index('save("location"')
    # without [edge].tls_port: no TLS listens, and an encrypted seat cannot be configured
    plain = kamailio_config.render(_site(edge=EDGE, nodes=NODES), _dirs(tmp_path), PASSWORDS)
    assert "tls" not in re.findall(r'loadmodule "(\w+)\.so"', plain["kamailio.cfg"])
    assert "listen=tls" not in plain["kamailio.cfg"]
    with pytest.raises(SiteError, match=r"seats\[\d+\]\.encrypted: needs \[edge\]\.tls_port"):
        _with_an_encrypted_seat(EDGE)


EDGE_WSS = {**EDGE, "wss_port": 15062}


def test_a_browser_phone_reaches_the_edge_over_wss_only(tmp_path: Path) -> None:
    """The seat consoles' browser phones register at the edge over secure WebSocket (their
    own accounts), and are rung over the connection they opened."""
    config = kamailio_config.render(_site(edge=EDGE_WSS, nodes=NODES), _dirs(tmp_path), PASSWORDS)[
        "kamailio.cfg"
    ]
    assert "listen=tls:127.0.0.1:15062" in config and "enable_tls=yes" in config
    assert "listen=tls:127.0.0.1:15061" not in config, "no SIP over TLS unless asked"
    modules = re.findall(r'loadmodule "(\w+)\.so"', config)
    assert modules[0] == "tls" and modules[-2:] == ["xhttp", "websocket"]
    http = config.split("event_route[xhttp:request] {")[1].split("\n}")[0]
    assert http.index("if ($Rp != 15062) {") < http.index("ws_handle_handshake()")
    browsers = config.split("route[BROWSER_ACCOUNT] {")[1].split("\n}")[0]
    assert re.findall(r'\$au == "([\w-]+)"', browsers) == [
        f"{seat['id']}-web" for seat in tomllib.loads(EXAMPLE_SITE.read_text("utf-8"))["seats"]
    ]
    for route in ("REGISTRAR", "FROM_PHONE"):  # not over UDP, TCP or TLS, even with its password
        body = config.split(f"route[{route}] {{")[1].split("\n}")[0]
        refused = body.index('if ($proto != "wss" && route(BROWSER_ACCOUNT)) {')
        assert body.index("pv_") < refused < body.index("consume_credentials()"), route
        assert body.index('if ($proto =~ "^(tls|ws|wss)$") {') > refused, route
    registrar = config.split("route[REGISTRAR] {")[1].split("\n}")[0]
    assert registrar.index("fix_nated_register()") < registrar.index('save("location"')
    assert 'onreply_route[FROM_PHONE_REPLY] {\n\tif ($proto =~ "^(tls|ws|wss)$"' in config
    # without [edge].wss_port: no browser phone, no HTTP served
    plain = kamailio_config.render(_site(edge=EDGE, nodes=NODES), _dirs(tmp_path), PASSWORDS)
    assert "xhttp" not in plain["kamailio.cfg"] and "-web" not in plain["kamailio.cfg"]


@pytest.mark.parametrize("edge", ["plain", "tls", "wss"])
def test_kamailio_accepts_the_rendered_configuration(tmp_path: Path, edge: str) -> None:
    dirs = _dirs(tmp_path)
    site = {
        "plain": lambda: _site(edge=EDGE, nodes=NODES),
        "tls": lambda: _with_an_encrypted_seat(EDGE_TLS),
        "wss": lambda: _site(edge=EDGE_WSS, nodes=NODES),
    }[edge]()
    files = kamailio_config.render(site, dirs, PASSWORDS)
    dirs.etc.mkdir()
    dirs.run.mkdir()
    for name, text in files.items():
        (dirs.etc / name).write_text(text, encoding="utf-8")
    if edge != "plain":
        certificate, key = own_certificate(site, tmp_path / "tls", "127.0.0.1")
        shutil.copyfile(certificate, dirs.etc / EDGE_CERTIFICATE)
        shutil.copyfile(key, dirs.etc / EDGE_KEY)
    checked = subprocess.run(
        ["kamailio", "-c", "-f", str(dirs.etc / "kamailio.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"nodes": NODES}, "PBX nodes need an [edge] (Kamailio) in front of them"),
        ({"edge": EDGE}, "Kamailio needs at least one [[nodes]] entry"),
        (
            {"edge": EDGE, "nodes": [*NODES, {"name": "pbx-c", "address": "127.0.0.11"}]},
            "nodes[0]: another node listens on 127.0.0.11:5060",
        ),
        (
            {"edge": EDGE, "nodes": [{"name": "pbx-a", "address": "127.0.0.1", "port": 15060}]},
            "nodes[0]: 127.0.0.1:15060 is the edge's own",
        ),
        (
            {"edge": EDGE, "nodes": [*NODES, {"name": "pbx-a", "address": "127.0.0.13"}]},
            "nodes[2].name: 'pbx-a' appears more than once",
        ),
        (
            {"edge": EDGE, "nodes": [{"name": "pbx-a", "address": 'pbx.example"; exit'}]},
            "is not an IP address",
        ),
        ({"edge": {"address": "127.0.0.1\nlisten=udp:0.0.0.0:5060"}, "nodes": NODES}, "IP"),
        ({"edge": {**EDGE, "tls_port": 15060}, "nodes": NODES}, "edge.tls_port: 15060 is also"),
        (  # Kamailio's dialog module checks a call every 30 s at most
            {"edge": {**EDGE, "call_check_every": 10}, "nodes": NODES},
            "edge.call_check_every: Input should be greater than or equal to 30",
        ),
        (
            {"edge": {**EDGE_TLS, "wss_port": 15061}, "nodes": NODES},
            "edge.wss_port: 15061 is also edge.tls_port",
        ),
        (
            {"edge": EDGE_WSS, "nodes": [{"name": "pbx-a", "address": "127.0.0.1", "port": 15062}]},
            "nodes[0]: 127.0.0.1:15062 is the edge's own",
        ),
        (
            {"edge": EDGE, "nodes": NODES, "sip": {"wss_port": 8089}},
            "sip.wss_port: behind an [edge] browser phones register at the edge: move it to [edge]",
        ),
        (
            {"edge": EDGE_TLS, "nodes": [{"name": "pbx-a", "address": "127.0.0.1", "port": 15061}]},
            "nodes[0]: 127.0.0.1:15061 is the edge's own",
        ),
        (
            {"edge": EDGE, "nodes": NODES, "sip": {"tls_port": 5061}},
            "sip.tls_port: behind an [edge] phones use TLS at the edge: move it to [edge]",
        ),
    ],
)
def test_nodes_and_an_edge_that_do_not_fit_are_refused(
    changes: dict[str, Any], sentence: str
) -> None:
    with pytest.raises(SiteError) as refused:
        _site(**changes)
    assert sentence in str(refused.value)


def test_a_site_without_an_edge_has_no_kamailio_to_configure(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \[edge\]"):
        kamailio_config.render(_site(), _dirs(tmp_path), PASSWORDS)


def _dest(uri: str, flags: str, duid: str) -> str:
    return f"""
				DEST: {{
					URI: {uri}
					FLAGS: {flags}
					PRIORITY: 0
					ATTRS: {{
						BODY: duid={duid}
						DUID: {duid}
						MAXLOAD: 0
					}}
				}}"""


@pytest.mark.parametrize(
    ("flags", "state"),
    [("AP", NodeState.UP), ("AX", NodeState.UP), ("IP", NodeState.DOWN),
     ("IX", NodeState.DOWN), ("DX", NodeState.DRAINED), ("TP", NodeState.DOWN)],
)  # fmt: skip
def test_a_nodes_state_is_read_from_kamailios_flags(flags: str, state: NodeState) -> None:
    listing = "{\n\tNRSETS: 2\n\tRECORDS: {\n\t\tSET: {\n\t\t\tID: 1\n\t\t\tTARGETS: {"
    listing += _dest("sip:127.0.0.12:5060", flags, "pbx-b")
    listing += _dest("sip:127.0.0.11:5060", "AP", "pbx-a") + "\n\t\t\t}\n\t\t}"
    # the last resort's set says nothing of where new calls go
    listing += "\n\t\tSET: {\n\t\t\tID: 2\n\t\t\tTARGETS: {"
    listing += _dest("sip:127.0.0.12:5060", "IP", "pbx-b")
    listing += _dest("sip:127.0.0.11:5060", "DX", "pbx-a") + "\n\t\t\t}\n\t\t}\n\t}\n}\n"
    assert node_statuses(listing) == [
        NodeStatus("pbx-b", "sip:127.0.0.12:5060", state),
        NodeStatus("pbx-a", "sip:127.0.0.11:5060", NodeState.UP),
    ]


def test_the_phones_registered_with_the_edge_are_read_from_its_user_location() -> None:
    dump = (
        "{\n\tDomains: {\n\t\tDomain: {\n\t\t\tDomain: location\n\t\t\tSize: 1024\n"
        "\t\t\tAoRs: {\n\t\t\t\tAoR: 1009\n\t\t\t\tAoR: 02161001009\n\t\t\t}\n"
        "\t\t\tStats: {\n\t\t\t\tRecords: 2\n\t\t\t}\n\t\t}\n\t}\n}\n"
    )
    assert registered_accounts(dump) == ["02161001009", "1009"]
    assert registered_accounts("{\n\tAoRs: {\n\t}\n}\n") == []
