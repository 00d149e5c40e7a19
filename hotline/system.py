"""The machine: Debian packages the hotline needs (installed on demand), its processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

_updated = False


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting to be reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


class SetupError(Exception):
    """A machine prerequisite could not be provided; the message says what to do."""


def is_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() == "install ok installed"


def ensure_packages(*packages: str) -> None:
    """Install missing Debian packages with apt-get (needs root)."""
    global _updated
    missing = [package for package in packages if not is_installed(package)]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise SetupError(
            f"missing Debian packages {', '.join(missing)}: install them "
            f"(apt-get install {' '.join(missing)}) or run this command as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _updated = True
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SetupError(
            f"apt-get could not install {', '.join(missing)}:\n{result.stderr[-2000:]}"
        )
