"""Asterisk's configuration as rendered from the example site: secure by default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.secrets import Secrets
from core.site import Site, load_site
from hotline.asterisk_config import AsteriskDirs, UnsafeValue, render
from hotline.line import on_nodes
from tests.conftest import EXAMPLE_SITE

DIRS = AsteriskDirs.under("/installs/test", "/usr/lib/x86_64-linux-gnu/asterisk/modules")


@pytest.fixture
def rendered(site: Site, tmp_path: Path) -> dict[str, str]:
    secrets_file = tmp_path / "secrets.json"
    return render(site, Secrets.load_or_create(secrets_file), DIRS, secrets_file)


def test_credentials_are_generated_per_installation_and_kept_private(
    site: Site, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    one = render(site, Secrets.load_or_create(first), DIRS, first)
    two = render(site, Secrets.load_or_create(second), DIRS, second)
    assert one["ari.conf"] != two["ari.conf"] and one["manager.conf"] != two["manager.conf"]
    assert first.stat().st_mode & 0o777 == 0o600
    stored = json.loads(first.read_text())
    assert f"password = {stored['ari_password']}" in one["ari.conf"]
    # the registering seat (1009) and desk phone get generated passwords; rig phones have none;
    # every seat's browser phone has an account of its own
    assert f"password = {stored['seat_passwords']['1009']}" in one["pjsip.conf"]
    assert f"password = {stored['seat_passwords']['02161001009']}" in one["pjsip.conf"]
    assert f"password = {stored['seat_passwords']['1001-web']}" in one["pjsip.conf"]
    browsers = {f"{seat.id}-web" for seat in site.seats}
    assert set(stored["seat_passwords"]) == {"1009", "02161001009"} | browsers


def test_control_interfaces_listen_on_loopback_only(rendered: dict[str, str]) -> None:
    assert "bindaddr = 127.0.0.1" in rendered["http.conf"]
    assert "bindaddr = 127.0.0.1" in rendered["manager.conf"]
    assert "deny = 0.0.0.0/0.0.0.0" in rendered["manager.conf"]
    assert "bind = 127.0.0.1:5060" in rendered["pjsip.conf"]


def test_callers_have_no_route_to_outside_numbers(rendered: dict[str, str]) -> None:
    dialplan = rendered["extensions.conf"]
    assert "Dial(" not in dialplan, "no dialplan path may dial out: transfers are made by the app"
    inbound = dialplan.split("[hotline-inbound]")[1].split("\n[")[0]
    targets = re.findall(r"^exten => ([^,]+),1,(\w+)", inbound, flags=re.MULTILINE)
    assert targets == [("12345", "Goto"), ("_[0-9+*#].", "Hangup"), ("i", "Hangup")]


def test_unknown_sources_are_not_accepted(rendered: dict[str, str]) -> None:
    pjsip = rendered["pjsip.conf"]
    assert "endpoint_identifier_order = ip,username" in pjsip
    assert "anonymous" not in pjsip
    assert "match = 127.0.0.2" in pjsip


def test_modules_are_listed_explicitly(rendered: dict[str, str]) -> None:
    modules = rendered["modules.conf"]
    assert "autoload = no" in modules
    assert "load => res_ari.so" in modules and "load => chan_pjsip.so" in modules


def test_the_fallback_queue_holds_the_enterprise_seats(rendered: dict[str, str]) -> None:
    queues = rendered["queues.conf"]
    enterprise = queues.split("[enterprise]")[1].split("\n[")[0]
    assert re.findall(r"member => PJSIP/(\d+)", enterprise) == [
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1009",
    ]
    dialplan = rendered["extensions.conf"]
    assert "HOTLINE_APP_1 = hotline\n" in dialplan  # the one app process of the example
    # answered and on hold before Stasis, and the app told so; a caller taken back from
    # Asterisk's queue (sent to the "app" label) gets the music too
    entry = dialplan.split("[hotline-entry]")[1].split("\n[")[0]
    assert entry.index("n,Answer(,i)") < entry.index("n(app),StartMusicOnHold(default)")
    assert "n(app),StartMusicOnHold(default)\n same => n,Stasis(" in entry
    assert "Stasis(${HOTLINE_APP_${HOTLINE_TRY}},inbound,music)" in dialplan
    assert '"${STASISSTATUS}" != "FAILED"' in dialplan and "Goto(fallback,1)" in dialplan


def test_media_stays_on_the_sip_address_and_phones_that_vanish_are_hung_up(
    rendered: dict[str, str], site: Site, tmp_path: Path
) -> None:
    pjsip = rendered["pjsip.conf"]
    # a fixed media address: no per-call lookup of "our" address (DNS, host name)
    assert "media_address = 127.0.0.1\nbind_rtp_to_media_address = yes" in pjsip
    assert "rtp_timeout = 30" in pjsip and "[1001](hotline-phone)" in pjsip
    assert "timers = always" in pjsip and "timers_sess_expires = 600" in pjsip
    anywhere = {"bind": "0.0.0.0", "webrtc_address": None}
    everywhere = site.model_copy(update={"sip": site.sip.model_copy(update=anywhere)})
    secrets_file = tmp_path / "other.json"
    other = render(everywhere, Secrets.load_or_create(secrets_file), DIRS, secrets_file)
    assert "media_address" not in other["pjsip.conf"]


def test_a_name_is_written_as_one_value_whatever_it_holds(site: Site, tmp_path: Path) -> None:
    seats = list(site.seats)
    seats[0] = seats[0].model_copy(update={"name": 'Li "Boss"; \\ Wang, jr'})
    odd = site.model_copy(update={"seats": seats})
    secrets_file = tmp_path / "secrets.json"
    files = render(odd, Secrets.load_or_create(secrets_file), DIRS, secrets_file)
    assert f'callerid = "Li \\"Boss\\"\\; \\\\ Wang, jr" <{seats[0].id}>' in files["pjsip.conf"]
    assert f"member => PJSIP/{seats[0].id},0,Li  Boss \\;   Wang  jr" in files["queues.conf"]


def test_a_control_character_never_reaches_a_config_file(site: Site, tmp_path: Path) -> None:
    # model_copy skips validation: this is what the template's own guard is for
    seats = list(site.seats)
    seats[0] = seats[0].model_copy(update={"name": "x\n[evil]\ntype = endpoint"})
    odd = site.model_copy(update={"seats": seats})
    secrets_file = tmp_path / "secrets.json"
    with pytest.raises(UnsafeValue, match="control character"):
        render(odd, Secrets.load_or_create(secrets_file), DIRS, secrets_file)


@pytest.mark.parametrize(
    ("recordings", "told", "recorded"),
    [
        ({"enabled": True, "notice": True}, True, True),
        ({"enabled": True, "notice": False}, False, True),
        ({"enabled": False, "notice": True}, False, False),
    ],
)
def test_with_no_app_the_caller_is_told_once_and_asterisk_s_queue_records(
    site: Site, tmp_path: Path, recordings: dict[str, bool], told: bool, recorded: bool
) -> None:
    """No app process took the call: the notice (once, even if the caller comes back from
    the queue and no app takes it again), then the queue, which records from the answer."""
    changed = site.model_copy(update={"recordings": site.recordings.model_copy(update=recordings)})
    secrets_file = tmp_path / "secrets.json"
    files = render(changed, Secrets.load_or_create(secrets_file), DIRS, secrets_file)
    entry = files["extensions.conf"].split("[hotline-entry]")[1].split("\n[")[0]
    notice = "n,Playback(${HOTLINE_SOUNDS}/recording-notice)"
    assert (notice in entry) is told
    if told:
        assert entry.index('"${HOTLINE_NOTICED}" = "1"]?queue') < entry.index(notice)
        assert entry.index(notice) < entry.index("n(queue),Goto(fallback,1)")
    naming = "Set(MONITOR_FILENAME=/installs/test/spool/recording/asterisk-queue/${UNIQUEID})"
    assert (naming in entry) is recorded
    enterprise = files["queues.conf"].split("[enterprise]")[1].split("\n[")[0]
    assert ("monitor-format = ogg" in enterprise) is recorded
    assert "load => app_mixmonitor.so" in files["modules.conf"]


def _section(conf: str, header: str) -> str:
    """The first section with this header line (``[name]`` or ``[name](template)``)."""
    return conf.split(f"\n{header}\n")[1].split("\n[")[0]


def test_a_seats_browser_phone_is_webrtc_only_over_wss_and_can_call_nowhere(
    rendered: dict[str, str], site: Site
) -> None:
    browser = _section(rendered["pjsip.conf"], "[1001-web](hotline-phone)")
    for line in ("webrtc = yes", "transport = transport-wss", "identify_by = username",
                 "auth = 1001-web", "context = hotline-phones",
                 f"media_address = {site.sip.browser_media_address}"):  # fmt: skip
        assert line in browser.splitlines(), line
    assert "protocol = wss" in _section(rendered["pjsip.conf"], "[transport-wss]")
    # WSS on the SIP address, TLS only; the plain HTTP server stays on the services' address
    http = rendered["http.conf"]
    assert f"tlsbindaddr = {site.sip.bind}:{site.sip.wss_port}" in http
    assert f"bindaddr = {site.services.bind}" in http
    # ICE: host candidates on the browser phones' address only, no STUN or TURN server
    rtp = rendered["rtp.conf"]
    assert "icesupport = yes" in rtp and f"ice_permit = {site.sip.browser_media_address}" in rtp
    settings = [line for line in rtp.splitlines() if not line.startswith(";")]
    assert not [line for line in settings if line.startswith(("stun", "turn"))], settings


def test_without_a_wss_port_there_is_no_browser_phone_and_no_ice(
    site: Site, tmp_path: Path
) -> None:
    plain = site.model_copy(update={"sip": site.sip.model_copy(update={"wss_port": None})})
    secrets_file = tmp_path / "secrets.json"
    rendered = render(plain, Secrets.load_or_create(secrets_file), DIRS, secrets_file)
    assert "-web]" not in rendered["pjsip.conf"] and "tlsenable" not in rendered["http.conf"]
    assert "icesupport = no" in rendered["rtp.conf"]


def _node_config(tmp_path: Path, node: str | None, text: str | None = None) -> dict[str, str]:
    line_file = tmp_path / "line.toml"
    text = text or EXAMPLE_SITE.read_text("utf-8")
    line_file.write_text(on_nodes(text, 2, ("127.0.0.1", 5060)))
    line = load_site(line_file)
    secrets_file = tmp_path / "secrets.json"
    served = line.on_node(node) if node else line
    return render(served, Secrets.load_or_create(secrets_file), DIRS, secrets_file)


def test_a_node_takes_requests_from_the_edge_alone_and_rings_phones_through_it(
    tmp_path: Path,
) -> None:
    files = _node_config(tmp_path, "pbx-a")
    pjsip = files["pjsip.conf"]
    assert "bind = 127.0.0.11:5060" in pjsip, "SIP on the node's own address"
    acl = pjsip.split("[edge-only]")[1].split("\n\n")[0]
    assert acl.split("\n")[1:] == [
        "type = acl", "deny = 0.0.0.0/0.0.0.0", "deny = ::/0", "permit = 127.0.0.1",
    ]  # fmt: skip
    assert "acl = config,pjsip.conf,criteria=type=acl\nacl = memory" in files["sorcery.conf"]
    assert "endpoint_identifier_order = header,ip" in pjsip
    trunk = pjsip.split("; --- trunk carrier")[1].split("; ---")[0]
    assert "match_header = X-Hotline-Trunk: carrier" in trunk and "match = " not in trunk
    assert "outbound_proxy = sip:127.0.0.1:5060\\;lr" in trunk, "out to the carrier via the edge"
    edge = pjsip.split("[hotline-edge]\ntype = identify")[1].split("\n\n")[0]
    assert "match = 127.0.0.1:5060" in edge, "the edge's own probes are answered"
    seat = pjsip.split("; --- seat 1001 ")[1].split("; ---")[0]
    assert "contact = sip:1001@127.0.0.1:5060" in seat and "identify_by = header" in seat
    assert "type = auth" not in seat and "match = " not in seat, "never known by address here"
    assert "match_header = X-Hotline-Phone: 1001" in seat, "its calls: named by the edge"
    assert "systemname = pbx-a" in files["asterisk.conf"], "its channel ids carry its name"
    assert "Stasis(${HOTLINE_APP_" in files["extensions.conf"]
    assert "hotline.pbx-a" in files["extensions.conf"], "its own app names"
    # its queue (the fallback) marks each seat it rings: the edge knows the other node's calls
    dialplan = files["extensions.conf"]
    fallback = dialplan.split("exten => fallback,1,")[1].split("\n\n")[0]
    marked = fallback.index("Set(PJSIP_INHERITABLE_HEADER(add,X-Hotline-Fallback)=1)")
    assert marked < fallback.index("Queue(${HOTLINE_QUEUE},,,,"), "every seat it rings inherits"


def test_a_nodes_encrypted_seat_has_srtp_only_and_the_node_takes_no_tls(
    tmp_path: Path,
) -> None:
    """Behind the edge the encrypted seat's phone talks TLS to the edge; the node rings it
    through the edge and offers SRTP only."""
    text = EXAMPLE_SITE.read_text("utf-8").replace("# encrypted = true", "encrypted = true")
    text = text.replace("# tls_port = 5061", "tls_port = 5061")
    pjsip = _node_config(tmp_path, "pbx-a", text)["pjsip.conf"]
    seat = pjsip.split("; --- seat 1009 ")[1].split("; ---")[0]
    assert "media_encryption = sdes\nmedia_encryption_optimistic = no" in seat
    assert "contact = sip:1009@127.0.0.1:5060" in seat and "transport" not in seat
    assert "[transport-tls]" not in pjsip, "no TLS listens on a node: phones talk to the edge"


def test_a_nodes_browser_phones_register_at_the_edge_and_their_audio_comes_to_the_node(
    tmp_path: Path,
) -> None:
    """Behind the edge a seat's browser phone is rung through the edge (where it registered
    over WSS); the node keeps its WebRTC audio (DTLS-SRTP, ICE) on its own address, or the
    one the node names; no WSS listens on a node."""
    webrtc = 'wss_port = 8089\nwebrtc_address = "10.0.0.9"'
    text = EXAMPLE_SITE.read_text("utf-8").replace("wss_port = 8089", webrtc)
    files = _node_config(tmp_path, "pbx-a", text)
    browser = _section(files["pjsip.conf"], "[1001-web](hotline-phone)")
    for line in ("webrtc = yes", "identify_by = header", "media_address = 10.0.0.9"):
        assert line in browser.splitlines(), line
    assert "transport" not in browser and "auth" not in browser, "it talks to the edge"
    assert "contact = sip:1001-web@127.0.0.1:5060" in files["pjsip.conf"]
    assert "match_header = X-Hotline-Phone: 1001-web" in files["pjsip.conf"]
    assert "[transport-wss]" not in files["pjsip.conf"] and "tlsenable" not in files["http.conf"]
    assert "icesupport = yes" in files["rtp.conf"] and "ice_permit = 10.0.0.9" in files["rtp.conf"]
    # a node on a machine of its own names where browsers reach its audio
    own = on_nodes(text, 2, ("127.0.0.1", 5060)) + 'webrtc_address = "10.0.0.12"\n'  # pbx-b's
    line_file = tmp_path / "own.toml"
    line_file.write_text(own)
    assert load_site(line_file).on_node("pbx-b").sip.browser_media_address == "10.0.0.12"
    assert load_site(line_file).on_node("pbx-a").sip.browser_media_address == "10.0.0.9"


def test_a_line_of_nodes_renders_no_pbx_without_naming_the_node(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name the node"):
        _node_config(tmp_path, None)
