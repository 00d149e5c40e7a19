"""The hotline's own processes — the front door, the Stasis app processes, the monitor and
the web app — run in the background with pid files in the state directory.

Two ways to run them. :func:`start` and :func:`stop` run one service on its own (the demo,
the tests and benchmarks, which kill and restart services on purpose). :class:`Supervisor`
(``hotline services up``, or ``hotline services run`` under systemd) runs them all as its
children and brings back any that dies — Asterisk too, while the installation wants it up —
after a pause that grows while it keeps dying at once; a service that ran for a while is
restarted after the shortest pause again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis import RedisError

from ari_app.names import stasis_app_name
from ari_app.presence import Beat, heartbeat_key, heartbeat_value
from core.paths import Paths
from core.site import Site
from core.stores import sync_redis
from hotline.pbx import Pbx, locate_asterisk, pbx_wanted
from hotline.redis_server import PrivateRedis
from hotline.redis_server import RedisError as RedisStartError
from hotline.system import process_alive as alive

log = logging.getLogger(__name__)

SERVICES = {"agi": ["agi"], "app": ["app"], "web": ["web"], "monitor": ["monitor"]}
"""Service name → ``hotline`` subcommand that runs it in the foreground. Further Stasis
app processes are ``app-2``, ``app-3``, ... (``hotline app --instance N``)."""
SUPERVISOR = "supervisor"
"""The service name (pid file, log) of the supervisor itself."""
PBX = "asterisk"
"""Asterisk, watched like a service (its pid file is ``asterisk.pid``) while the installation
wants it up (:func:`hotline.pbx.pbx_wanted`): started again when it dies, never stopped with
the services (``hotline pbx down`` stops it)."""

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_AFTER = 60.0
"""A service that ran this long before it died had not been failing: its next pause is
the shortest again."""
PROBE_EVERY = 0.5
PROBE_TIMEOUT = 0.75
PROBE_FAILURES = 2
"""A front door that does not answer this many health checks in a row (alive but frozen:
every new call would wait on it) is killed, so that calls go on without it at once and it
is started again: a call waits about two seconds at most."""


def app_service(instance: int = 1) -> str:
    """The service name of one Stasis app process."""
    return "app" if instance == 1 else f"app-{instance}"


def names(site: Site) -> list[str]:
    """Every service of a site: the front door, each app process, the monitor (CDRs and
    alerts), the web app. On a line of several PBX nodes, a node runs the first three
    beside its Asterisk, and the line (no node) runs the web app."""
    apps = [app_service(n) for n in range(1, site.services.app_processes + 1)]
    if site.node is not None:
        return ["agi", *apps, "monitor"]
    if site.nodes:
        return ["web"]
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


def _exit_file(paths: Paths, name: str) -> Path:
    return paths.run / f"{name}.exit"


def running_pid(paths: Paths, name: str) -> int | None:
    """The pid of a running service, or None."""
    try:
        pid = int(_pid_file(paths, name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def _spawn(
    paths: Paths, name: str, argv: list[str], extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    paths.ensure()
    log_file = open(paths.logs / f"{name}.log", "ab")  # noqa: SIM115  (the child keeps it open)
    env = {
        **{key: value for key, value in os.environ.items() if key != "HOTLINE_NODE"},
        "HOTLINE_STATE_DIR": str(paths.state),
        "HOTLINE_CACHE_DIR": str(paths.cache),
        **({"HOTLINE_NODE": paths.node} if paths.node else {}),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hotline", *argv],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log_file.close()
    _pid_file(paths, name).write_text(f"{process.pid}\n")
    return process


def start(paths: Paths, name: str, site_file: Path, extra_env: dict[str, str] | None = None) -> int:
    """Start one service in the background, unsupervised (if it is not running); its pid."""
    pid = running_pid(paths, name)
    if pid is not None:
        return pid
    return _spawn(paths, name, ["--site", str(site_file), *_command(name)], extra_env).pid


def start_supervisor(paths: Paths, site_file: Path) -> int:
    """Start the supervisor in the background (if it is not running); its pid."""
    pid = running_pid(paths, SUPERVISOR)
    if pid is not None:
        return pid
    return _spawn(paths, SUPERVISOR, ["--site", str(site_file), "services", "run"]).pid


def start_web(paths: Paths, site: Site, site_file: Path, timeout: float = 30.0) -> str | None:
    """Start the web app (admin API, seat consoles, dashboard) and wait until it answers:
    its address, or None if it did not start (its log says why)."""
    start(paths, "web", site_file)
    if not wait_ready(paths, site, "web", timeout, give_up_if_gone=True):
        return None
    return f"http://{site.services.local_host}:{site.services.web_port}"


def stop(paths: Paths, name: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop a service (SIGTERM, then SIGKILL after ``timeout``)."""
    pid = running_pid(paths, name)
    if pid is not None:
        _end(pid, timeout, sig)
    _pid_file(paths, name).unlink(missing_ok=True)


def _end(pid: int, timeout: float, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def redis_to_keep(paths: Paths) -> PrivateRedis | None:
    """The Redis an installation's supervisor starts again when it dies: the private one,
    kept by the line's own supervisor only (a node's Redis is the line's, and two keepers
    would race to start it); none when ``REDIS_URL`` names a server run by others."""
    redis = PrivateRedis(paths)
    return None if redis.external or paths.node is not None else redis


def pause_after(failures: int) -> float:
    """How long to wait before restarting a service that has died ``failures`` times in a
    row without running :data:`HEALTHY_AFTER` seconds: 1, 2, 4 … 30 s."""
    return float(min(LONGEST_PAUSE, FIRST_PAUSE * 2 ** max(0, failures - 1)))


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes] | None = None
    adopted: int | None = None
    """A service found running when the supervisor started (a supervisor that was itself
    restarted): watched by its pid, not restarted needlessly."""
    started: float = 0.0
    failures: int = 0
    restarts: int = 0
    due: float = 0.0
    probed: float = 0.0
    unanswered: int = 0
    answered: bool = False
    """It answered a health check since it started (one still starting is not probed)."""

    def pid(self) -> int | None:
        if self.process is not None:
            return self.process.pid if self.process.poll() is None else None
        if self.adopted is not None and alive(self.adopted):
            return self.adopted
        return None

    def exit_code(self) -> int | None:
        return self.process.returncode if self.process is not None else None


@dataclass
class Supervisor:
    """Runs every service of a site as its children and restarts the ones that die."""

    site: Site
    site_file: Path
    paths: Paths
    redis: PrivateRedis | None = None
    """The installation's private Redis, started again if it dies (None: ``REDIS_URL``)."""
    monotonic: Callable[[], float] = time.monotonic
    spawn: Callable[[Paths, str, list[str]], subprocess.Popen[bytes]] = field(
        default=lambda paths, name, argv: _spawn(paths, name, argv)
    )
    """How a child is started (a test gives commands of its own)."""
    probes: dict[str, Callable[[], bool]] | None = None
    """Health checks of running services (see :data:`PROBE_FAILURES`); by default the
    front door's."""
    start_pbx: Callable[[], subprocess.Popen[bytes]] | None = None
    """How Asterisk is started again (a test gives a command of its own)."""
    children: dict[str, _Child] = field(init=False)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.children = {name: _Child(name) for name in [PBX, *names(self.site)]}
        if self.probes is None:
            self.probes = {"agi": lambda: front_door_answers(self.site)}
        if self.start_pbx is None:
            self.start_pbx = lambda: _pbx(self.site, self.paths).start()

    def run(self, every: float = 0.2) -> None:
        """Supervise until SIGTERM or SIGINT, then stop every child."""
        signal.signal(signal.SIGTERM, self._stop_signal)
        signal.signal(signal.SIGINT, self._stop_signal)
        for child in self.children.values():
            child.adopted = running_pid(self.paths, child.name)
            if child.adopted is not None:
                log.info("%s already runs (pid %d): watching it", child.name, child.adopted)
                child.started = self.monotonic()
        try:
            while not self.stopping:
                self.look()
                time.sleep(every)
        finally:
            self.stop_all()

    def _stop_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def look(self) -> None:
        """One round: note children that died, start those whose pause is over."""
        now = self.monotonic()
        if self.redis is not None and not self.redis.running():
            log.warning("the private redis-server is not running: starting it again")
            try:
                self.redis.up(timeout=2.0)
            except RedisStartError as error:
                log.error("%s", error)
        for child in self.children.values():
            if child.name == PBX and not self._pbx_watched(child):
                continue
            pid = child.pid()
            if pid is not None:
                self._probe(child, pid, now)
                continue
            if child.process is not None or child.adopted is not None:
                self._died(child, now)
            if now >= child.due:
                self._start(child, now)

    def _pbx_watched(self, child: _Child) -> bool:
        """Whether Asterisk is to be kept running now; one started by ``hotline pbx up``
        while the supervisor ran is adopted, not started twice."""
        if not pbx_wanted(self.paths):
            child.process = child.adopted = None  # brought down on purpose
            return False
        if child.process is None and child.adopted is None:
            child.adopted = running_pid(self.paths, PBX)
            if child.adopted is not None:
                child.started = self.monotonic()
        return True

    def _probe(self, child: _Child, pid: int, now: float) -> None:
        probe = (self.probes or {}).get(child.name)
        if probe is None or now - child.probed < PROBE_EVERY:
            return
        child.probed = now
        if probe():
            child.answered, child.unanswered = True, 0
            return
        child.unanswered += 1
        if child.answered and child.unanswered >= PROBE_FAILURES:
            log.error(
                "%s (pid %d) did not answer %d health checks in a row: killing it",
                child.name,
                pid,
                child.unanswered,
            )
            child.unanswered = 0
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _died(self, child: _Child, now: float) -> None:
        code = child.exit_code()
        ran = now - child.started
        child.failures = 1 if ran >= HEALTHY_AFTER else child.failures + 1
        child.due = now + pause_after(child.failures)
        child.process = child.adopted = None
        how = "ended" if code is None else f"exited with {_describe(code)}"
        log.warning(
            "%s %s after %.1f s; restarting it in %.0f s", child.name, how, ran, child.due - now
        )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        _exit_file(self.paths, child.name).write_text(f"{how} at {stamp} (UTC)\n")

    def _start(self, child: _Child, now: float) -> None:
        if child.restarts or child.failures:
            log.info("starting %s again", child.name)
        if child.name == PBX:
            assert self.start_pbx is not None
            try:
                child.process = self.start_pbx()
            except Exception as error:  # a broken root or configuration: try again later
                log.error("Asterisk could not be started: %s", error)
                child.failures += 1
                child.due = now + pause_after(child.failures)
                return
        else:
            argv = ["--site", str(self.site_file), *_command(child.name)]
            child.process = self.spawn(self.paths, child.name, argv)
        child.started, child.answered, child.unanswered = now, False, 0
        if child.failures:
            child.restarts += 1

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every child: the app processes first (their calls go to their peers or to
        Asterisk's queue), the web app last."""
        for name in reversed(list(self.children)):
            if name == PBX:
                continue  # calls go on through Asterisk; `hotline pbx down` stops it
            child = self.children[name]
            pid = child.pid()
            if pid is not None:
                _end(pid, timeout)
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=1)
            _pid_file(self.paths, name).unlink(missing_ok=True)


def _pbx(site: Site, paths: Paths) -> Pbx:
    return Pbx(site, paths, locate_asterisk(paths, paths.logs / "provision.log"))


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def ready(paths: Paths, site: Site, name: str) -> bool:
    """Whether a service does its work: the front door accepts connections, the web app
    answers, an app process is connected and serving calls, the monitor runs."""
    pid = running_pid(paths, name)
    if pid is None:
        return False
    services = site.services
    host = services.local_host
    if name == "agi":
        with (
            contextlib.suppress(OSError),
            socket.create_connection((host, services.agi_port), timeout=1),
        ):
            return True
        return False
    if name == "web":
        with contextlib.suppress(httpx.HTTPError):
            return bool(
                httpx.get(f"http://{host}:{services.web_port}/healthz", timeout=1).is_success
            )
        return False
    if name.startswith("app"):
        instance = int(name.removeprefix("app-")) if name != "app" else 1
        try:
            with sync_redis(paths) as redis:
                beat = redis.get(heartbeat_key(stasis_app_name(site, instance)))
        except (RedisError, OSError):
            return False
        return beat in {heartbeat_value(pid, b).encode() for b in (Beat.SERVING, Beat.BEHIND)}
    return True


def front_door_answers(site: Site, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the FastAGI front door answers a health check (``agi.server.PING``) in time:
    it closes the connection at once. A frozen process still accepts the connection (the
    kernel does) but never answers."""
    services = site.services
    host = services.local_host
    try:
        with socket.create_connection((host, services.agi_port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"agi_network: yes\nagi_network_script: ping\n\n")
            return sock.recv(64) == b""
    except OSError:
        return False


def wait_ready(
    paths: Paths, site: Site, name: str, timeout: float, give_up_if_gone: bool = False
) -> bool:
    """Wait until :func:`ready` or ``timeout``; with ``give_up_if_gone``, stop waiting as
    soon as the service has no process (nobody restarts it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(paths, site, name):
            return True
        if give_up_if_gone and running_pid(paths, name) is None:
            return False
        time.sleep(0.1)
    return ready(paths, site, name)


def last_line(paths: Paths, name: str) -> str:
    """The last line of a service's log, or an empty string."""
    path = paths.logs / f"{name}.log"
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - 4096))
            lines = file.read().decode(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1] if lines else ""


def describe(paths: Paths, site: Site, name: str) -> str:
    """One line on a service: running (and whether it does its work), or how it ended,
    with the last line of its log."""
    pid = running_pid(paths, name)
    log_path = paths.logs / f"{name}.log"
    if pid is not None:
        state = "running" if ready(paths, site, name) else "running, not ready yet"
        return f"{state}, pid {pid}  (log: {log_path})"
    supervised = running_pid(paths, SUPERVISOR) is not None
    ended = _exit_file(paths, name)
    if _pid_file(paths, name).exists() or (supervised and ended.exists()):
        how = ended.read_text().strip() if ended.exists() else "died"
        then = " — the supervisor restarts it" if supervised else ""
        return f"DIED: {how}{then}; its log ends: {last_line(paths, name)!r}"
    return "stopped"


def systemd_unit(paths: Paths, site_file: Path, hotline: Path) -> str:
    """A systemd unit that brings Asterisk up and runs the supervisor (which restarts the
    services and Asterisk), and is itself restarted by systemd; stopping it stops the line.
    Refuses paths that cannot be written into a unit safely."""
    values = {"state": paths.state, "cache": paths.cache, "site": site_file, "cmd": hotline}
    for key, value in values.items():
        text = str(value)
        unsafe = any(ch in text for ch in "\"\\%$'`") or not text.isprintable()
        if unsafe or not text.startswith("/"):
            raise ValueError(
                f"the {key} path {text!r} must be absolute, printable and free of quotes, "
                "backslashes, % and $ to be written into a systemd unit"
            )
    command = f"{shlex.quote(str(hotline))} --site {shlex.quote(str(site_file))}"
    return (
        "[Unit]\n"
        "Description=hotline: Asterisk, front door, Stasis app, monitor, web app\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f'Environment="HOTLINE_STATE_DIR={paths.state}" "HOTLINE_CACHE_DIR={paths.cache}"\n'
        f"ExecStartPre={command} pbx up\n"
        f"ExecStart={command} services run\n"
        f"ExecStopPost={command} pbx down\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=30\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
