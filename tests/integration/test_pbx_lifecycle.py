"""`hotline pbx up | status | down` from the command line, on its own ports and state
directory: down leaves no Asterisk process and no mount behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SITE

pytestmark = pytest.mark.pbx


def _hotline(site: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "hotline", "--site", str(site), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _running(pid: int) -> bool:
    """Whether a process is alive (a zombie waiting for init to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts]


def test_pbx_up_status_down_leaves_nothing_behind(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    text = EXAMPLE_SITE.read_text()
    text = text.replace("port = 5060", "port = 5160").replace("ari_port = 8088", "ari_port = 8188")
    text = text.replace("ami_port = 5038", "ami_port = 5138")
    site.write_text(text)
    state = tmp_path / "state"

    up = _hotline(site, state, "pbx", "up")
    assert up.returncode == 0, up.stderr
    assert "SIP  udp:127.0.0.1:5160" in up.stdout
    assert "ARI  http://127.0.0.1:8188/ari" in up.stdout
    assert "AMI  127.0.0.1:5138" in up.stdout
    pid = int((state / "run" / "asterisk.pid").read_text())
    secrets = state / "secrets.json"
    assert secrets.stat().st_mode & 0o777 == 0o600

    status = _hotline(site, state, "pbx", "status")
    assert "running: True" in status.stdout and "ari_answers: True" in status.stdout
    version = _hotline(site, state, "pbx", "cli", "core show version")
    assert version.stdout.startswith("Asterisk 2"), version.stdout + version.stderr
    modules = _hotline(site, state, "pbx", "cli", "module show like chan_")
    assert "chan_pjsip" in modules.stdout and "chan_iax2" not in modules.stdout  # explicit list

    down = _hotline(site, state, "pbx", "down")
    assert down.returncode == 0, down.stderr
    assert not _running(pid), "Asterisk is still running"
    root = Path(os.environ["HOTLINE_CACHE_DIR"]) / "asterisk-root"
    left = [m for m in _mounts() if m.startswith(str(root) + "/")]
    other_installations = [m for m in left if "/installs/" in m]
    # proc and dev stay only while another installation (the test session's PBX) uses the root
    assert left == [] or other_installations, f"mounts left behind: {left}"
    assert not any(str(state.name) in m for m in left)
    status = _hotline(site, state, "pbx", "status")
    assert "running: False" in status.stdout
