"""Redis for the hotline: ``REDIS_URL`` when given, otherwise a private server on a unix socket."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from core.paths import Paths
from core.stores import redis_url, sync_redis_at
from hotline.system import ensure_packages, process_alive


class RedisError(Exception):
    """Redis could not be reached or started; the message says what to do."""


class PrivateRedis:
    """A redis-server owned by this installation, reachable only through a 0700 unix socket."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths.of_node(None)  # the line's, whichever node asks
        self.socket = paths.redis / "redis.sock"
        self.pid_file = self.paths.run / "redis.pid"

    @property
    def external(self) -> bool:
        return bool(os.environ.get("REDIS_URL"))

    def up(self, timeout: float = 15.0) -> str:
        """Start the private server if needed (installing Debian's redis-server); return its URL."""
        url = redis_url(self.paths)
        if self.external:
            self._wait(
                url, timeout, "REDIS_URL does not answer: start that Redis or unset REDIS_URL"
            )
            return url
        if len(str(self.socket)) > 100:
            raise RedisError(
                f"the state directory path is too long for a unix socket: {self.socket}"
            )
        self.paths.ensure()
        if self._ping(url):
            return url
        if shutil.which("redis-server") is None:
            ensure_packages("redis-server")
        config = self.paths.redis / "redis.conf"
        config.write_text(
            "port 0\n"
            f"unixsocket {self.socket}\nunixsocketperm 700\n"
            f"dir {self.paths.redis}\n"
            'appendonly yes\nappendfsync everysec\nsave ""\n'
            f"pidfile {self.pid_file}\n"
            f"logfile {self.paths.logs / 'redis.log'}\n"
            "daemonize no\n"
        )
        process = subprocess.Popen(
            ["redis-server", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(f"{process.pid}\n")
        self._wait(
            url,
            timeout,
            f"the private redis-server did not start; see {self.paths.logs / 'redis.log'}",
        )
        return url

    def running(self) -> bool:
        """Whether the private server's process runs (a given ``REDIS_URL``: assumed to)."""
        if self.external:
            return True
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return False
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # a server this process started and that died
        return process_alive(pid)

    def down(self) -> None:
        """Stop the private server (a given REDIS_URL is left alone)."""
        if self.external:
            return
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _ping(url: str) -> bool:
        try:
            with sync_redis_at(url) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def _wait(self, url: str, timeout: float, failure: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ping(url):
                return
            time.sleep(0.05)
        raise RedisError(failure)


class SentinelSet:
    """A Redis line without a single point, on this machine: one primary, one replica and
    three sentinels on loopback TCP ports, with a generated password (for rigs and tests;
    a site runs its own across machines). ``url`` is what ``REDIS_URL`` takes."""

    SERVICE = "hotline"

    def __init__(self, directory: Path, ports: tuple[int, int, int, int, int]) -> None:
        self.directory = directory
        self.primary_port, self.replica_port, *sentinel_ports = ports
        self.sentinel_ports = tuple(sentinel_ports)
        self.password = secrets.token_hex(16)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"sentinel://:{self.password}@{hosts}/{self.SERVICE}"

    def up(self, timeout: float = 20.0) -> str:
        """Start all five and wait until the sentinels agree on the primary; the URL."""
        if shutil.which("redis-server") is None:
            ensure_packages("redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._start("primary", self._server(self.primary_port))
        replica = f"replicaof 127.0.0.1 {self.primary_port}\n"
        self._start("replica", self._server(self.replica_port) + replica)
        deadline = time.monotonic() + timeout
        # the sentinels learn of the replica from the primary: start them once it has one
        self._until(self._replica_online, deadline, "the replica did not reach the primary")
        for index, port in enumerate(self.sentinel_ports):
            self._start(f"sentinel-{index}", self._sentinel(port), sentinel=True)
        self._until(self._replicas_known, deadline, "the sentinels did not find the replica")
        return self.url

    def _until(self, holds: Callable[[], bool], deadline: float, failure: str) -> None:
        while not holds():
            if time.monotonic() > deadline:
                raise RedisError(f"{failure}; see the logs in {self.directory}")
            time.sleep(0.05)

    def _replica_online(self) -> bool:
        with (
            contextlib.suppress(redis.RedisError, OSError),
            redis.Redis(port=self.primary_port, password=self.password, socket_timeout=1) as r,
        ):
            return int(r.info("replication").get("connected_slaves", 0)) > 0
        return False

    def primary(self) -> int | None:
        """The port of the primary as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            with (
                contextlib.suppress(redis.RedisError, OSError),
                redis.Redis(port=port, socket_timeout=1) as sentinel,
            ):
                address = sentinel.sentinel_get_master_addr_by_name(self.SERVICE)
                if address:
                    return int(address[1])
        return None

    def kill(self, name: str) -> None:
        """SIGKILL one of them ("primary", "replica", "sentinel-0"...)."""
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def down(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def _replicas_known(self) -> bool:
        """Every sentinel knows the primary, the replica and the other two."""
        for port in self.sentinel_ports:
            with (
                contextlib.suppress(redis.RedisError, OSError),
                redis.Redis(port=port, socket_timeout=1) as sentinel,
            ):
                known = sentinel.sentinel_master(self.SERVICE)
                if (
                    int(known.get("num-slaves", 0)) < 1
                    or int(known.get("num-other-sentinels", 0)) < 2
                ):
                    return False
                continue
            return False
        return True

    def _server(self, port: int) -> str:
        return (
            f"bind 127.0.0.1\nport {port}\nrequirepass {self.password}\n"
            f'masterauth {self.password}\nsave ""\nappendonly no\n'
            f"dir {self.directory}\ndbfilename dump-{port}.rdb\n"
        )

    def _sentinel(self, port: int) -> str:
        name = self.SERVICE
        return (
            f"bind 127.0.0.1\nport {port}\ndir {self.directory}\n"
            f"sentinel monitor {name} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel auth-pass {name} {self.password}\n"
            f"sentinel down-after-milliseconds {name} 1000\n"
            f"sentinel failover-timeout {name} 5000\n"
            f"sentinel parallel-syncs {name} 1\n"
        )

    def _start(self, name: str, config: str, sentinel: bool = False) -> None:
        path = self.directory / f"{name}.conf"  # a sentinel rewrites its file: one each
        path.write_text(config + f"logfile {self.directory / (name + '.log')}\n")
        path.chmod(0o600)
        argv = ["redis-server", str(path), *(["--sentinel"] if sentinel else [])]
        self.processes[name] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
