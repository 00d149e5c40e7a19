"""Run a real Asterisk for a site: the system's own (version 20 or later) or a private root.

Debian 12 has no Asterisk package, so when the machine has none a minimal Debian-sid root
with Asterisk is provisioned once with debootstrap, cached, and reused. Asterisk runs in it
with ``chroot`` and an installation's files (config, astdb, spool, logs) bind-mounted in, so
that the cached root is never written by a run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from hotline import prompts
from hotline.asterisk_config import AsteriskDirs, render, write_config
from hotline.system import ensure_packages
from hotline.system import process_alive as _alive
from hotline.tls import install_certificate

ROOT_PACKAGES = "asterisk,asterisk-modules,asterisk-core-sounds-en,asterisk-moh-opsound-wav"
MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    "/usr/lib/asterisk/modules",
    "/usr/lib64/asterisk/modules",
)
_MARKER = ".hotline-provisioned"
# What the root was built with: written once at provisioning, shown by `hotline pbx status`.
_RECORD = ".hotline-root.json"
# Asterisk major versions the whole test suite has passed on.
TESTED_MAJORS = (22,)


class PbxError(Exception):
    """The PBX could not be brought up or down; the message says why and what to do."""


@dataclass(frozen=True)
class AsteriskInstall:
    """Where the Asterisk binary lives: the system's (root is None) or a private root."""

    root: Path | None
    modules_dir: str
    version: str
    built: str | None = None  # when a private root was provisioned (UTC)

    @property
    def warning(self) -> str | None:
        """One sentence when this Asterisk's major version was never tested here."""
        major = self.version.split(".")[0]
        if not major.isdigit() or int(major) in TESTED_MAJORS:
            return None
        tested = ", ".join(str(m) for m in TESTED_MAJORS)
        return (
            f"warning: Asterisk {self.version} is a major version the hotline has not been "
            f"tested on (tested: {tested}); run `./run tests` before taking calls on it."
        )

    def command(self, *args: str) -> list[str]:
        """The argv that runs ``asterisk args`` in the right root."""
        if self.root is None:
            return ["asterisk", *args]
        return ["chroot", str(self.root), "asterisk", *args]


def _version_of(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Asterisk (\d+)\.(\S+)", result.stdout)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _modules_dir(root: Path) -> str | None:
    return next((d for d in MODULE_DIRS if (root / d.lstrip("/")).is_dir()), None)


def find_system_asterisk() -> AsteriskInstall | None:
    """The machine's own Asterisk if it is version 20 or later."""
    if os.environ.get("HOTLINE_PRIVATE_PBX") == "1" or shutil.which("asterisk") is None:
        return None
    version = _version_of(["asterisk", "-V"])
    modules = _modules_dir(Path("/"))
    if version is None or modules is None or int(version.split(".")[0]) < 20:
        return None
    return AsteriskInstall(root=None, modules_dir=modules, version=version)


def provision_root(root: Path, log: Path | None = None) -> AsteriskInstall:
    """Create the private Debian-sid root with Asterisk once; later calls reuse it.

    Sid moves every day, so the root records the Asterisk version it was built with."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".provision.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / _MARKER).exists():
            _debootstrap(root, log)
        record = _root_record(root)
    modules = _modules_dir(root)
    if modules is None or record is None:
        raise PbxError(f"the PBX root {root} is damaged: remove it and run `hotline pbx up` again")
    return AsteriskInstall(
        root=root, modules_dir=modules, version=record["asterisk"], built=record["built"]
    )


def _root_record(root: Path) -> dict[str, str] | None:
    """The root's record of its build ({"asterisk", "built"}), written on first use."""
    path = root / _RECORD
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
        record = json.loads(path.read_text())
        return {"asterisk": str(record["asterisk"]), "built": str(record["built"])}
    version = _version_of(["chroot", str(root), "asterisk", "-V"])
    if version is None:
        return None
    built = (root / _MARKER).read_text().strip()
    record = {"asterisk": version, "built": built}
    path.write_text(json.dumps(record) + "\n")
    return record


def _debootstrap(root: Path, log: Path | None) -> None:
    if os.geteuid() != 0:
        raise PbxError("provisioning the private Asterisk root needs root (debootstrap, chroot)")
    ensure_packages("debootstrap")
    mirror = os.environ.get("HOTLINE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    partial = root.with_name(root.name + ".partial")
    _remove_tree(partial)
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={ROOT_PACKAGES}",
        "sid",
        str(partial),
        mirror,
    ]
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log, "a")) if log else subprocess.DEVNULL
        result = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        _remove_tree(partial)
        raise PbxError(
            f"debootstrap of the Asterisk root failed (exit {result.returncode}); "
            f"see {log} and check that {mirror} is reachable"
        )
    # The copied resolver never answers here, and Asterisk blocks on DNS lookups.
    (partial / "etc/resolv.conf").write_text("nameserver 127.0.0.1\n")
    for directory in (
        "var/lib/asterisk",
        "var/run/asterisk",
        "var/log/asterisk",
        "var/spool/asterisk",
    ):
        (partial / directory).mkdir(parents=True, exist_ok=True)
    _remove_tree(root)
    partial.rename(root)
    (root / _MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")


def _remove_tree(path: Path) -> None:
    """Delete a root tree, but never while something (like the host's /dev) is mounted in it."""
    if _mounts_under(path):
        raise PbxError(f"{path} has mounts inside it; run `hotline pbx down` before removing it")
    shutil.rmtree(path, ignore_errors=True)


def locate_asterisk(paths: Paths, log: Path | None = None) -> AsteriskInstall:
    """The system's Asterisk ≥ 20 if there is one, else the (provisioned) private root.

    With ``HOTLINE_PBX=external`` Asterisk runs elsewhere (its own container) and reads the
    configuration this installation renders; nothing is started here."""
    if os.environ.get("HOTLINE_PBX") == "external":
        modules = os.environ.get("HOTLINE_ASTERISK_MODULES", MODULE_DIRS[0])
        return AsteriskInstall(root=None, modules_dir=modules, version="external")
    return find_system_asterisk() or provision_root(paths.pbx_root, log)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1].replace("\\040", " ") for line in mounts]
    return [point for point in points if point.startswith(prefix)]


def _wanted_file(paths: Paths) -> Path:
    return paths.run / "asterisk.wanted"


def pbx_wanted(paths: Paths) -> bool:
    """Whether the installation's Asterisk should be running: brought up (``hotline pbx
    up``, the demo, the stack) and not brought down since."""
    return _wanted_file(paths).exists()


def asterisk_running(paths: Paths) -> bool:
    """Whether the installation's Asterisk runs (without locating or provisioning one)."""
    try:
        return _alive(int((paths.run / "asterisk.pid").read_text().strip()))
    except (FileNotFoundError, ValueError):
        return False


@dataclass(frozen=True)
class Listening:
    """Where the running PBX can be reached."""

    sip: str
    ari: str
    ami: str


class Pbx:
    """One installation's Asterisk: render, start, wait until ARI answers, stop."""

    def __init__(self, site: Site, paths: Paths, install: AsteriskInstall) -> None:
        self.site = site
        self.paths = paths
        self.install = install
        tag = hashlib.sha1(str(paths.own).encode()).hexdigest()[:10]  # one per node
        # inside a private root the installation's files appear under /installs/<tag>
        self.prefix = f"/installs/{tag}" if install.root else str(paths.asterisk)
        self.dirs = AsteriskDirs.under(self.prefix, install.modules_dir)
        self.pid_file = paths.run / "asterisk.pid"
        self.log_file = paths.logs / "asterisk.console.log"

    @property
    def config_file(self) -> str:
        return f"{self.dirs.etc}/asterisk.conf"

    @property
    def listening(self) -> Listening:
        services = self.site.services
        return Listening(
            sip=f"udp:{self.site.sip.bind}:{self.site.sip.port}",
            ari=f"http://{services.bind}:{services.ari_port}/ari",
            ami=f"{services.bind}:{services.ami_port}",
        )

    def render(self) -> Path:
        """Render the site's config into the installation's state; return the etc directory."""
        self.paths.ensure()
        secrets = Secrets.load_or_create(self.paths.secrets_file)
        files = render(self.site, secrets, self.dirs, self.paths.secrets_file)
        etc = self.paths.asterisk / "etc"
        write_config(files, etc)
        install_certificate(self.site, self.paths, etc)
        for name in ("lib", "spool", "run", "log", "log/cdr-csv", "log/cdr-custom"):
            (self.paths.asterisk / name).mkdir(parents=True, exist_ok=True)
        prompts.install(self.paths.asterisk / "sounds" / "hotline", self.paths.cache / "prompts")
        recordings = self.site.recordings.dir
        spool = self.paths.asterisk / "spool" / "recording"
        if recordings is not None and self.install.root is None and not spool.is_symlink():
            recordings.mkdir(parents=True, exist_ok=True)  # (a private root mounts it instead)
            if spool.is_dir():
                spool.rmdir()  # refuses to lose recordings made there: an error says so
            spool.symlink_to(recordings, target_is_directory=True)
        return etc

    def pid(self) -> int | None:
        """The running Asterisk's pid, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def up(self, timeout: float = 90.0) -> Listening:
        """Start Asterisk (if it is not running; else reload it) and wait until ARI answers.
        From now on the installation wants it up: the supervisor starts it again if it dies,
        until :meth:`down`."""
        if self.pid() is None:
            self.start()
        else:
            self.render()
            self.reload()
        _wanted_file(self.paths).touch()
        self._wait_for_ari(timeout)
        return self.listening

    def start(self) -> subprocess.Popen[bytes]:
        """Render the configuration and start Asterisk, without waiting for it (the
        supervisor's restart: it must go on watching the other services meanwhile)."""
        self.render()
        self._mount()
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as console:
            process = subprocess.Popen(
                self.install.command("-f", "-n", "-C", self.config_file),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Asterisk's clock-time fields (AMI CDR events, logs) in UTC, like the rest
                env={**os.environ, "TZ": "UTC"},
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def reload(self) -> None:
        """Re-read the rendered configuration in a running Asterisk."""
        self.rx("core reload")

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """Run one CLI command in the running Asterisk and return its output."""
        result = subprocess.run(
            self.install.command("-C", self.config_file, "-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return result.stdout

    def ari_info(self, timeout: float = 2.0) -> dict[str, object] | None:
        """``GET /ari/asterisk/info`` with the installation's credentials, or None."""
        secrets = Secrets.load_or_create(self.paths.secrets_file)
        try:
            response = httpx.get(
                f"{self.listening.ari}/asterisk/info",
                auth=(secrets.ari_user, secrets.ari_password),
                timeout=timeout,
            )
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def _wait_for_ari(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ari_info() is not None:
                return
            if self.pid() is None:
                raise PbxError(f"Asterisk exited while starting:\n{self._log_tail()}")
            time.sleep(0.2)
        raise PbxError(f"Asterisk's ARI did not answer within {timeout:.0f} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no console log)"

    def down(self, timeout: float = 20.0) -> None:
        """Stop Asterisk and remove every mount: afterwards no process and no mount remain."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.rx("core stop now", timeout=10)
            self._wait_gone(pid, timeout / 2)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not _alive(pid):
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, sig)
                self._wait_gone(pid, timeout / 4)
            if _alive(pid):
                raise PbxError(f"Asterisk (pid {pid}) would not stop; kill it by hand")
        self.pid_file.unlink(missing_ok=True)
        _wanted_file(self.paths).unlink(missing_ok=True)
        self._unmount()

    @staticmethod
    def _wait_gone(pid: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)

    # --- the private root's mounts -----------------------------------------------------

    def _install_point(self) -> Path:
        assert self.install.root is not None
        return self.install.root / self.prefix.lstrip("/")

    def _mount(self) -> None:
        root = self.install.root
        if root is None:
            return
        mounted = set(_mounts_under(root))
        point = self._install_point()
        point.mkdir(parents=True, exist_ok=True)
        wanted = [
            (["mount", "-t", "proc", "proc", str(root / "proc")], root / "proc"),
            (["mount", "--bind", "/dev", str(root / "dev")], root / "dev"),
            (["mount", "--bind", str(self.paths.asterisk), str(point)], point),
        ]
        recordings = self.site.recordings.dir
        if recordings is not None:  # Asterisk records into its spool: the site's directory
            recordings.mkdir(parents=True, exist_ok=True)
            spool = point / "spool" / "recording"
            wanted.append((["mount", "--bind", str(recordings), str(spool)], spool))
        for argv, target in wanted:
            if target.name == "recording":
                target.mkdir(parents=True, exist_ok=True)
            if str(target) not in mounted:
                result = subprocess.run(argv, capture_output=True, text=True, check=False)
                if result.returncode != 0:
                    raise PbxError(f"could not mount {target}: {result.stderr.strip()}")

    def _unmount(self) -> None:
        root = self.install.root
        if root is None:
            return
        own = str(self._install_point())
        for point in sorted(_mounts_under(root), key=len, reverse=True):
            if point == own or point.startswith(own + "/"):
                _umount(point)
        others = [p for p in _mounts_under(root) if p.startswith(str(root / "installs") + "/")]
        if not others:  # proc and dev are shared by installations using the same root
            for point in sorted(_mounts_under(root), key=len, reverse=True):
                _umount(point)

    def mounts(self) -> list[str]:
        """Mount points this installation's PBX uses that are still mounted."""
        if self.install.root is None:
            return []
        return _mounts_under(self.install.root)

    def status(self) -> dict[str, object]:
        """What a person wants to know: running or not, where, which Asterisk."""
        info = self.ari_info() if self.pid() else None
        system = info.get("system", {}) if isinstance(info, dict) else {}
        return {
            "running": self.pid() is not None,
            "pid": self.pid(),
            "asterisk": system.get("version", self.install.version)
            if isinstance(system, dict)
            else None,
            "root": str(self.install.root) if self.install.root else "system",
            **(
                {"root built": f"{self.install.built} with Asterisk {self.install.version}"}
                if self.install.built
                else {}
            ),
            "ari_answers": info is not None,
            **vars(self.listening),
        }


def _umount(point: str) -> None:
    result = subprocess.run(["umount", point], capture_output=True, check=False)
    if result.returncode != 0:
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
