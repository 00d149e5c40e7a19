"""Render Asterisk's configuration from the site file and the installation's secrets."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ari_app.http import CONNECTIONS
from ari_app.names import stasis_app_names
from cdr import asterisk as cdr_files
from core.secrets import Secrets
from core.site import (
    CONTROL_CHARACTERS,
    EDGE_FALLBACK_HEADER,
    EDGE_PHONE_HEADER,
    EDGE_TRUNK_HEADER,
    Site,
    browser_account,
    source_match,
)
from hotline.tls import CERTIFICATE, KEY
from recording import files as recording_files

TEMPLATES = Path(__file__).resolve().parent.parent / "asterisk-conf"
CONFIG_FILES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "http.conf",
    "ari.conf",
    "manager.conf",
    "rtp.conf",
    "musiconhold.conf",
    "cdr.conf",
    "cdr_manager.conf",
    "cdr_custom.conf",
    "queues.conf",
    "extensions.conf",
    "pjsip.conf",
    "indications.conf",
    "cel.conf",
    "features.conf",
    "acl.conf",
    "websocket_client.conf",
    "udptl.conf",
    "pjproject.conf",
    "ccss.conf",
    "sorcery.conf",
)

# Loaded explicitly (modules.conf has autoload = no). Dependencies come first.
MODULES = (
    "res_timing_timerfd",
    "res_sorcery_config",
    "res_sorcery_memory",
    "res_sorcery_astdb",
    "res_pjproject",
    "res_pjsip",
    "res_pjsip_session",
    "res_pjsip_pubsub",
    "chan_pjsip",
    "res_pjsip_sdp_rtp",
    "res_pjsip_authenticator_digest",
    "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_endpoint_identifier_user",
    "res_pjsip_registrar",
    "res_pjsip_caller_id",
    "res_pjsip_dtmf_info",
    "res_pjsip_rfc3326",
    "res_pjsip_nat",
    "res_pjsip_acl",
    "res_pjsip_outbound_authenticator_digest",
    "res_pjsip_header_funcs",
    "res_pjsip_diversion",
    "res_pjsip_dlg_options",
    "res_pjsip_logger",
    "res_srtp",
    "res_rtp_asterisk",
    "res_http_websocket",
    "res_pjsip_transport_websocket",
    "res_websocket_client",
    "res_stasis",
    "res_stasis_answer",
    "res_stasis_playback",
    "res_stasis_recording",
    "res_stasis_snoop",
    "res_stasis_device_state",
    "app_stasis",
    "res_ari",
    "res_ari_model",
    "res_ari_applications",
    "res_ari_asterisk",
    "res_ari_bridges",
    "res_ari_channels",
    "res_ari_endpoints",
    "res_ari_events",
    "res_ari_playbacks",
    "res_ari_recordings",
    "res_ari_sounds",
    "res_ari_device_states",
    "res_speech",
    "res_agi",
    "res_musiconhold",
    "app_dial",
    "app_queue",
    "app_mixmonitor",
    "app_playback",
    "app_read",
    "app_verbose",
    "bridge_simple",
    "bridge_softmix",
    "bridge_native_rtp",
    "bridge_holding",
    "bridge_builtin_features",
    "chan_bridge_media",
    "codec_ulaw",
    "codec_alaw",
    "codec_a_mu",
    "format_wav",
    "format_gsm",
    "format_pcm",
    "format_sln",
    "format_wav_gsm",
    "format_ogg_vorbis",
    "func_callerid",
    "func_channel",
    "func_strings",
    "func_logic",
    "func_cdr",
    "func_hangupcause",
    "func_math",
    "func_timeout",
    "func_uuid",
    "func_global",
    "func_rand",
    "pbx_config",
    "cdr_csv",
    "res_cdrel_custom",
    "cdr_custom",
    "cdr_manager",
)


CHANNEL_VARS = (
    "HOTLINE_CALLER_KIND",
    "HOTLINE_ENTERPRISE_ID",
    "HOTLINE_ENTERPRISE_NAME",
    "HOTLINE_TIER",
    "QUEUE_PRIO",
    "HOTLINE_QUEUE",
    "HOTLINE_ARRIVED",
    "HOTLINE_FALLBACK",
)
"""What the front door decides, carried in every ARI channel snapshot (ari.conf channelvars);
the app adds when the caller first arrived and moves ``HOTLINE_QUEUE`` with the caller."""


@dataclass(frozen=True)
class AsteriskDirs:
    """Asterisk's directories as Asterisk sees them (inside its root when it has one)."""

    etc: str
    lib: str
    spool: str
    run: str
    log: str
    data: str = "/usr/share/asterisk"
    modules: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
    sounds: str = ""
    """The hotline's own prompts (``<prefix>/sounds/hotline``)."""

    @classmethod
    def under(cls, prefix: str, modules: str, data: str = "/usr/share/asterisk") -> AsteriskDirs:
        """The layout used by hotline: everything of the installation below ``prefix``."""
        return cls(
            etc=f"{prefix}/etc",
            lib=f"{prefix}/lib",
            spool=f"{prefix}/spool",
            run=f"{prefix}/run",
            log=f"{prefix}/log",
            data=data,
            modules=modules,
            sounds=f"{prefix}/sounds/hotline",
        )


def _ami_permit(bind: str) -> str:
    """Which addresses may log in to AMI: loopback, or the bind address's /32."""
    address = ipaddress.ip_address(bind)
    if address.is_unspecified or address.is_loopback:
        return "127.0.0.1/255.255.255.255"
    return f"{address}/255.255.255.255"


class UnsafeValue(ValueError):
    """A value that would change the meaning of a configuration file if written into it."""


def config_value(value: object) -> object:
    """Every value a template writes: never a line break or other control character (the
    site file refuses them; this is the last guard), and ``;`` escaped so that it cannot
    start a comment that cuts the line short."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if CONTROL_CHARACTERS.search(text):
        raise UnsafeValue(f"{text!r} has a control character and cannot go into a config file")
    return text.replace(";", "\\;")


def quoted(value: str) -> str:
    """A value inside double quotes (a caller ID's name): backslashes and quotes escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def list_item(value: str) -> str:
    """A value in a comma-separated list (a queue member's name): commas and quotes dropped."""
    return re.sub(r'[,"\\]', " ", value).strip() or "-"


def template_environment(folder: Path, finalize: Callable[[object], object]) -> jinja2.Environment:
    """The templates of one configuration folder: strict (an unknown name fails), every
    value written through ``finalize`` (the last guard against what could escape)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )


def render(site: Site, secrets: Secrets, dirs: AsteriskDirs, secrets_path: Path) -> dict[str, str]:
    """Return ``{file name: text}`` for every Asterisk configuration file."""
    environment = template_environment(TEMPLATES, config_value)
    environment.filters["quoted"] = quoted
    environment.filters["list_item"] = list_item
    environment.filters["source_match"] = source_match
    environment.filters["browser_account"] = browser_account
    seat_passwords = {
        account: secrets.seat_password(account, secrets_path)
        for account in site.registering_accounts
    }
    if site.edge is None:  # each seat's browser phone registers here, with its own account
        seat_passwords |= {
            account: secrets.seat_password(account, secrets_path)
            for account in site.browser_accounts
        }
    queue_names = {queue.name for queue in site.queues}
    if site.edge is not None and site.node is None:
        raise ValueError(
            "this site's PBX runs as nodes behind its edge: name the node this Asterisk is "
            "(--node NAME, or HOTLINE_NODE)"
        )
    context = {
        **_edge_context(site),
        "site": site,
        "secrets": secrets,
        "dirs": dirs,
        "modules": MODULES,
        "app_names": stasis_app_names(site),
        # each app process's pool, and as much again for the web app, the guard and tools
        "http_sessions": (site.services.app_processes + 1) * CONNECTIONS + 100,
        "seat_passwords": seat_passwords,
        "ami_permit": _ami_permit(site.services.bind),
        "agi_host": site.services.local_host,
        "channel_vars": ",".join(CHANNEL_VARS),
        "tls_files": (f"{dirs.etc}/{CERTIFICATE}", f"{dirs.etc}/{KEY}"),
        "cdr_file": cdr_files.FILE_NAME,
        "cdr_columns": cdr_files.file_mapping(),
        # Asterisk's queue records the calls it puts through itself (MixMonitor)
        "fallback_recordings": f"{dirs.spool}/recording/{recording_files.ASTERISK_QUEUE}"
        if site.recordings.enabled
        else "",
        "fallback_max_wait": site.queue("enterprise").max_wait
        if "enterprise" in queue_names
        else 600,
    }
    return {name: environment.get_template(f"{name}.j2").render(context) for name in CONFIG_FILES}


def _edge_context(site: Site) -> dict[str, object]:
    """What a node's configuration says of the edge in front of it (nothing without one)."""
    if site.edge is None or site.node is None:
        return {"edge": None}
    address = site.edge.address
    host = f"[{address}]:{site.edge.port}" if ":" in address else f"{address}:{site.edge.port}"
    digest = hashlib.sha1(site.node.name.encode()).digest()[:6]
    # a locally administered unicast MAC: unique per node name, stable across restarts
    entity = bytes([(digest[0] | 0x02) & 0xFE]) + digest[1:]
    return {
        "edge": site.edge,
        "edge_host": host,
        "edge_route": f"sip:{host};lr",
        "trunk_header": EDGE_TRUNK_HEADER,
        "fallback_header": EDGE_FALLBACK_HEADER,
        "phone_header": EDGE_PHONE_HEADER,
        "entity_id": ":".join(f"{byte:02x}" for byte in entity),
    }


def write_config(files: dict[str, str], etc_dir: Path) -> None:
    """Write rendered files (mode 0600: they hold credentials), removing stale ones."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    for stale in etc_dir.glob("*.conf"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        target = etc_dir / name
        target.write_text(text, encoding="utf-8")
        target.chmod(0o600)
