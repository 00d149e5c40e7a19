"""Kamailio, the line's SIP edge, run by this installation: its configuration rendered from
the site file (``hotline.kamailio_config``), the process started and stopped, and the PBX
nodes behind it listed, drained and brought back through Kamailio's control socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.paths import Paths
from core.secrets import Secrets
from core.site import Node, Site
from hotline import kamailio_config
from hotline.kamailio_config import (
    EDGE_CERTIFICATE,
    EDGE_KEY,
    LAST_RESORT_SET,
    NODE_SET,
    EdgeDirs,
)
from hotline.system import ensure_packages, process_alive
from hotline.tls import edge_certificate


class EdgeError(Exception):
    """The edge could not be configured, started or asked; the message says what to do."""


class NodeState(StrEnum):
    UP = "up"
    """Answers its probes: new calls go to it."""
    DOWN = "down"
    """Did not answer a call or a probe: passed over until it answers again (one that
    answers its probes still takes a call when no node is up: the last resort)."""
    DRAINED = "drained"
    """Taken out by ``hotline nodes drain``: no new call, its calls finish."""


@dataclass(frozen=True)
class NodeStatus:
    name: str
    target: str
    state: NodeState


_STATES = {"A": NodeState.UP, "I": NodeState.DOWN, "D": NodeState.DRAINED}


def node_statuses(listing: str) -> list[NodeStatus]:
    """The nodes in ``kamcmd dispatcher.list``'s answer (each ``DEST``'s URI, flags, DUID in
    the set new calls go to)."""
    found: list[NodeStatus] = []
    target = flags = None
    in_node_set = False
    for line in listing.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "ID":
            in_node_set = value == str(NODE_SET)
        elif not in_node_set:
            continue
        elif key == "URI":
            target, flags = value, None
        elif key == "FLAGS":
            flags = value
        elif key == "DUID" and target and flags:
            found.append(NodeStatus(value, target, _STATES.get(flags[:1], NodeState.DOWN)))
            target = flags = None
    return found


def registered_accounts(dump: str) -> list[str]:
    """The accounts in ``kamcmd ul.dump brief``'s answer (``AoR: 1009`` lines)."""
    return sorted(
        line.strip().removeprefix("AoR: ")
        for line in dump.splitlines()
        if line.strip().startswith("AoR: ")
    )


SHARED_MEMORY_MB = 64
PRIVATE_MEMORY_MB = 32


class Edge:
    """The installation's Kamailio (the site file's ``[edge]``)."""

    def __init__(self, site: Site, paths: Paths) -> None:
        self.site = site
        self.paths = paths
        self.etc = paths.state / "edge"
        self.run_dir = paths.run / "edge"
        self.pid_file = self.run_dir / "kamailio.pid"
        self.log_file = paths.logs / "edge.log"

    @property
    def control(self) -> Path:
        return self.run_dir / "kamailio.ctl"

    def render(self) -> list[str]:
        """Render Kamailio's configuration from the site file (checked with ``kamailio
        -c``); the command line that runs it in the foreground, its pid in the run dir."""
        if self.site.edge is None:
            raise EdgeError("the site file has no [edge]: there is no Kamailio to run")
        if shutil.which("kamailio") is None:
            ensure_packages("kamailio")
        modules = kamailio_config.modules_dir()
        if modules is None:
            raise EdgeError("Kamailio's modules were not found: install Debian's kamailio")
        secrets = Secrets.load_or_create(self.paths.secrets_file)
        # the phones that register here: desk phones, and each seat's browser phone
        accounts = self.site.registering_accounts + self.site.browser_accounts
        passwords = {
            account: secrets.seat_password(account, self.paths.secrets_file) for account in accounts
        }
        files = kamailio_config.render(
            self.site, EdgeDirs(self.etc, self.run_dir, modules), passwords
        )
        if self.site.edge.wss_port is not None:
            ensure_packages("kamailio-websocket-modules")
        if self.site.edge.takes_tls:
            ensure_packages("kamailio-tls-modules")
            certificate, key = edge_certificate(self.site, self.paths)
            files[EDGE_CERTIFICATE] = certificate.read_text(encoding="utf-8")
            files[EDGE_KEY] = key.read_text(encoding="utf-8")
        for directory in (self.etc, self.run_dir, self.paths.logs):
            directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            target = self.etc / name
            target.write_text(text, encoding="utf-8")
            target.chmod(0o600)
        checked = subprocess.run(
            ["kamailio", "-c", "-f", str(self.etc / "kamailio.cfg")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if checked.returncode != 0:
            raise EdgeError(f"Kamailio refused its configuration:\n{checked.stderr[-2000:]}")
        config = str(self.etc / "kamailio.cfg")
        # -DD: in the foreground, its pid the one it writes (-P); -E: log to stderr; -m: shared
        # MB; -M: each process's own MB (8 by default: with TLS and a site of 160 seats the
        # TCP processes could not allocate their connection tables, and every call was lost)
        return [
            "kamailio", "-f", config, "-P", str(self.pid_file), "-DD", "-E",
            "-m", str(SHARED_MEMORY_MB), "-M", str(PRIVATE_MEMORY_MB),
        ]  # fmt: skip

    def up(self, timeout: float = 15.0) -> None:
        """Render the configuration and start Kamailio (if it is not running); wait until
        its control socket answers."""
        if self.running():
            return
        argv = self.render()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if process.poll() is not None or time.monotonic() > deadline:
                raise EdgeError(f"Kamailio did not start; see {self.log_file}")
            time.sleep(0.1)

    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return process_alive(pid)

    def down(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while process_alive(pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.05)
            if process_alive(pid):
                os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def nodes(self) -> list[NodeStatus]:
        """Every node with its state as the edge sees it now, in the site file's order."""
        order = {node.name: index for index, node in enumerate(self.site.nodes)}
        listed = node_statuses(self._ask("dispatcher.list"))
        return sorted(listed, key=lambda status: order.get(status.name, len(order)))

    def registered(self) -> list[str]:
        """The accounts of the phones registered with the edge now."""
        return registered_accounts(self._ask("ul.dump", "brief"))

    def drain(self, name: str) -> None:
        """No new call to the node (not even as the last resort); calls it has go on to
        their end."""
        for node_set in (NODE_SET, LAST_RESORT_SET):
            self._ask("dispatcher.set_state", "d", str(node_set), self._node(name).target)

    def undrain(self, name: str) -> None:
        """The node takes new calls again (once it answers its probe)."""
        for node_set in (NODE_SET, LAST_RESORT_SET):
            self._ask("dispatcher.set_state", "ap", str(node_set), self._node(name).target)

    def _node(self, name: str) -> Node:
        for node in self.site.nodes:
            if node.name == name:
                return node
        known = ", ".join(node.name for node in self.site.nodes)
        raise EdgeError(f"no node named {name!r} in the site file (its nodes: {known})")

    def pid(self) -> int | None:
        """Kamailio's main process, as its pid file names it (None: not started)."""
        try:
            return int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _answers(self) -> bool:
        try:
            self._ask("core.uptime")
        except EdgeError:
            return False
        return True

    def _ask(self, *command: str) -> str:
        try:
            answered = subprocess.run(
                ["kamcmd", "-s", f"unix:{self.control}", *command],
                capture_output=True,
                text=True,
                timeout=5,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise EdgeError(f"Kamailio's control socket did not answer: {error}") from None
        if answered.returncode != 0:
            raise EdgeError(
                f"Kamailio refused {' '.join(command)}: {answered.stderr.strip()}"
                " (is the edge up? hotline edge up)"
            )
        return answered.stdout
