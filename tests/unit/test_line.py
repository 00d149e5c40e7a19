"""A one-PBX site as a line of nodes on one machine (the demo's ``--nodes``, the tests'
two-node line): every node on its own loopback address with its services there, the edge
where the PBX was, SIP over TLS and WebSocket (the browser phones) moved to the edge."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.site import load_site, parse_site
from hotline.cli.seats import register_at
from hotline.line import on_nodes
from tests.conftest import EXAMPLE_SITE


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_example_site_on_nodes_is_a_valid_line(tmp_path: Path, count: int) -> None:
    path = tmp_path / "line.toml"
    path.write_text(on_nodes(EXAMPLE_SITE.read_text("utf-8"), count, ("127.0.0.1", 5060)))
    site = load_site(path)
    expected = [(f"pbx-{'abc'[i]}", f"127.0.0.{11 + i}") for i in range(count)]
    assert [(node.name, node.address) for node in site.nodes] == expected
    assert [node.services for node in site.nodes] == [address for _, address in expected]
    assert site.edge is not None and (site.edge.address, site.edge.port) == ("127.0.0.1", 5060)
    assert site.sip.wss_port is None and site.edge.wss_port == 8089, "browser phones: the edge"
    assert site.browser_phones
    original = load_site(EXAMPLE_SITE)
    assert site.seats == original.seats and site.phones == original.phones
    assert site.departments == original.departments and site.matters == original.matters


def test_an_encrypted_seat_registers_over_tls_with_the_edge(tmp_path: Path) -> None:
    text = EXAMPLE_SITE.read_text("utf-8").replace("# encrypted = true", "encrypted = true")
    text = text.replace("# tls_port = 5061", "tls_port = 5061")
    path = tmp_path / "line.toml"
    path.write_text(on_nodes(text, 2, ("127.0.0.1", 5060)))
    site = load_site(path)
    assert [seat.id for seat in site.seats if seat.encrypted] == ["1009"]
    assert site.edge is not None and site.edge.tls_port == 5061
    assert site.sip.tls_port is None, "the nodes take no TLS: phones talk to the edge"


@pytest.mark.parametrize(
    ("tls_at", "encrypted", "where"),
    [
        (None, False, "127.0.0.1:5060"),
        ("sip", True, "127.0.0.1:5061 over TLS"),
        ("sip", False, "127.0.0.1:5060"),  # a plain seat on a PBX that also takes TLS
        ("edge", True, "127.0.0.1:15061 over TLS"),
        ("edge", False, "127.0.0.1:15060"),
    ],
)
def test_hotline_seats_accounts_says_where_each_phone_registers(
    tmp_path: Path, tls_at: str | None, encrypted: bool, where: str
) -> None:
    text = EXAMPLE_SITE.read_text("utf-8")
    if tls_at:
        text = text.replace("# tls_port = 5061", "tls_port = 5061")
    if tls_at == "edge":
        text = on_nodes(text, 2, ("127.0.0.1", 15060)).replace("5061", "15061")
    path = tmp_path / "site.toml"
    path.write_text(text)
    assert register_at(load_site(path), encrypted) == where


@pytest.mark.parametrize(
    ("sip", "edge", "registrar"),
    [
        ({}, None, ("127.0.0.1", 8089)),  # the example: WSS at the PBX
        ({"bind": "0.0.0.0"}, None, (None, 8089)),  # everywhere: the console page's host
        ({"external_address": "203.0.113.5"}, None, ("203.0.113.5", 8089)),
        ({"wss_port": None}, None, None),  # no browser phones
        ({"wss_port": None}, {"address": "10.0.0.5", "wss_port": 443}, ("10.0.0.5", 443)),
        ({"wss_port": None}, {"address": "10.0.0.5"}, None),  # an edge without WSS
    ],
)
def test_a_browser_phone_registers_at_the_edge_else_at_the_pbx(
    sip: dict[str, object], edge: dict[str, object] | None, registrar: object
) -> None:
    data = tomllib.loads(EXAMPLE_SITE.read_text("utf-8"))
    data["sip"] = {key: value for key, value in (data["sip"] | sip).items() if value is not None}
    if edge is not None:
        data.update(edge=edge, nodes=[{"name": "pbx-a", "address": "10.0.0.11"}])
    site = parse_site(data)
    assert site.browser_registrar == registrar
    assert site.browser_phones is (registrar is not None)
    if edge is not None:  # a node serves the edge's browser phones (their audio comes there)
        assert site.on_node("pbx-a").browser_phones is (registrar is not None)
