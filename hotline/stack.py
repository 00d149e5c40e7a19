"""The whole hotline on one machine: PBX, Redis, database and the Stasis app, brought up
together and always brought down together (or one node's part of a line: its PBX and
services on the line's Redis and database). Used by ``hotline demo`` and the tests."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ari_app.names import stasis_app_name
from ari_app.presence import Beat, heartbeat_key, heartbeat_value
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from core.stores import database_url, sync_redis
from hotline import services
from hotline.pbx import Pbx, PbxError, locate_asterisk
from hotline.redis_server import PrivateRedis
from hotline.schema import migrate


@dataclass
class Stack:
    """Everything a call needs. ``up()`` starts what is not running; ``down()`` stops all."""

    site: Site
    site_file: Path
    paths: Paths
    pbx: Pbx = field(init=False)
    redis: PrivateRedis = field(init=False)
    app_processes: int | None = None
    """How many Stasis app processes ``up()`` starts (default: the site's app_processes)."""

    def __post_init__(self) -> None:
        self.paths.ensure()
        install = locate_asterisk(self.paths, self.paths.logs / "provision.log")
        if install.warning:
            print(install.warning, file=sys.stderr)
        self.pbx = Pbx(self.site, self.paths, install)
        self.redis = PrivateRedis(self.paths)

    def up(self) -> None:
        self.redis.up()
        migrate(database_url(self.paths))
        self.pbx.up()
        self.start_front_door()
        self.start_monitor()
        for instance in range(1, (self.app_processes or self.site.services.app_processes) + 1):
            self.start_app(instance)

    def up_supervised(self, timeout: float = 60.0) -> None:
        """Like :meth:`up`, but the services run under the installation's supervisor (as
        ``hotline services up`` runs them), which starts again any that dies, Asterisk too;
        returns once every service does its work."""
        self.redis.up()
        migrate(database_url(self.paths))
        self.pbx.up()
        services.start_supervisor(self.paths, self.site_file)
        deadline = time.monotonic() + timeout
        for name in services.names(self.site):
            left = max(0.0, deadline - time.monotonic())
            if not services.wait_ready(self.paths, self.site, name, left):
                log = self.paths.logs / f"{name}.log"
                raise PbxError(f"{name} did not start under the supervisor; see {log}")

    def start_monitor(self) -> None:
        """Start the monitor (CDRs, alerts, retention); calls do not wait for it."""
        services.start(self.paths, "monitor", self.site_file)

    def stop_monitor(self) -> None:
        services.stop(self.paths, "monitor")

    def start_front_door(self, timeout: float = 20.0) -> None:
        """Start the FastAGI front door and wait until it accepts connections."""
        services.start(self.paths, "agi", self.site_file)
        if not services.wait_ready(self.paths, self.site, "agi", timeout, give_up_if_gone=True):
            log = self.paths.logs / "agi.log"
            raise PbxError(f"the FastAGI front door did not start; see {log}")

    def stop_front_door(self) -> None:
        services.stop(self.paths, "agi")

    def start_web(self, timeout: float = 30.0) -> str:
        """Start the web app (admin API, consoles) and wait until it answers; its address."""
        address = services.start_web(self.paths, self.site, self.site_file, timeout)
        if address is None:
            raise PbxError(f"the web app did not start; see {self.paths.logs / 'web.log'}")
        return address

    def start_app(
        self, instance: int = 1, timeout: float = 20.0, env: dict[str, str] | None = None
    ) -> None:
        """Start Stasis app process ``instance`` (with ``env`` added to its environment) and
        wait until it is connected and serving."""
        name = services.app_service(instance)
        services.start(self.paths, name, self.site_file, env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.app_connected(instance):
                return
            if services.running_pid(self.paths, name) is None:
                break
            time.sleep(0.1)
        log = self.paths.logs / f"{name}.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PbxError(f"the Stasis app did not connect to ARI; its log ends:\n{tail}")

    def stop_app(self, instance: int = 1) -> None:
        services.stop(self.paths, services.app_service(instance))

    def app_connected(self, instance: int = 1) -> bool:
        """Whether app process ``instance`` is alive and has taken over what was left to it
        (its heartbeat is in Redis) and Asterisk has its event stream."""
        name = stasis_app_name(self.site, instance)
        pid = services.running_pid(self.paths, services.app_service(instance))
        with sync_redis(self.paths) as redis:
            beat = redis.get(heartbeat_key(name))
        if pid is None or beat != heartbeat_value(pid, Beat.SERVING).encode():
            return False
        secrets = Secrets.load_or_create(self.paths.secrets_file)
        try:
            response = httpx.get(
                f"{self.pbx.listening.ari}/applications/{name}",
                auth=(secrets.ari_user, secrets.ari_password),
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def down(self) -> None:
        try:
            services.stop(self.paths, services.SUPERVISOR, timeout=30.0)  # it would restart them
            for instance in range(self.site.services.app_processes, 0, -1):
                self.stop_app(instance)
            self.stop_front_door()
            self.stop_monitor()
            services.stop(self.paths, "web")
        finally:
            try:
                self.pbx.down()
            finally:
                if self.paths.node is None:  # a node's Redis is the line's: it stays
                    self.redis.down()
