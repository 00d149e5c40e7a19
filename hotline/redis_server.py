"""Redis for the hotline: ``REDIS_URL`` when given, otherwise a private server on a unix socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

import redis

from core.paths import Paths
from core.stores import redis_url
from hotline.system import ensure_packages, process_alive


class RedisError(Exception):
    """Redis could not be reached or started; the message says what to do."""


class PrivateRedis:
    """A redis-server owned by this installation, reachable only through a 0700 unix socket."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.socket = paths.redis / "redis.sock"
        self.pid_file = paths.run / "redis.pid"

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
            return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def _wait(self, url: str, timeout: float, failure: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ping(url):
                return
            time.sleep(0.05)
        raise RedisError(failure)
