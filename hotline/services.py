"""Start and stop the hotline's own processes (the Stasis app, later the FastAGI server and
the web app) as background processes with pid files in the state directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.paths import Paths
from core.site import Site

SERVICES = {"agi": ["agi"], "app": ["app"], "web": ["web"], "monitor": ["monitor"]}
"""Service name → ``hotline`` subcommand that runs it in the foreground. Further Stasis
app processes are ``app-2``, ``app-3``, ... (``hotline app --instance N``)."""


def app_service(instance: int = 1) -> str:
    """The service name of one Stasis app process."""
    return "app" if instance == 1 else f"app-{instance}"


def names(site: Site) -> list[str]:
    """Every service of a site: the front door, each app process, the monitor (CDRs and
    alerts), the web app."""
    apps = [app_service(n) for n in range(1, site.services.app_processes + 1)]
    return ["agi", *apps, "monitor", "web"]


def _command(name: str) -> list[str]:
    if name in SERVICES:
        return SERVICES[name]
    instance = name.removeprefix("app-")
    if name.startswith("app-") and instance.isdigit():
        return ["app", "--instance", instance]
    raise ValueError(f"unknown service {name!r}")


def _pid_file(paths: Paths, name: str) -> Path:
    return paths.run / f"{name}.pid"


def running_pid(paths: Paths, name: str) -> int | None:
    """The pid of a running service, or None."""
    try:
        pid = int(_pid_file(paths, name).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def start(paths: Paths, name: str, site_file: Path, extra_env: dict[str, str] | None = None) -> int:
    """Start a service in the background (if it is not running); return its pid."""
    pid = running_pid(paths, name)
    if pid is not None:
        return pid
    paths.ensure()
    log = open(paths.logs / f"{name}.log", "ab")  # noqa: SIM115  (the child keeps it open)
    env = {
        **os.environ,
        "HOTLINE_STATE_DIR": str(paths.state),
        "HOTLINE_CACHE_DIR": str(paths.cache),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hotline", "--site", str(site_file), *_command(name)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log.close()
    _pid_file(paths, name).write_text(f"{process.pid}\n")
    return process.pid


def stop(paths: Paths, name: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop a service (SIGTERM, then SIGKILL after ``timeout``)."""
    pid = running_pid(paths, name)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _pid_file(paths, name).unlink(missing_ok=True)
