"""The whole hotline on one machine: PBX, Redis, database and the Stasis app, brought up
together and always brought down together. Used by ``hotline demo`` and the tests."""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hotline import services
from hotline.db import database_url, migrate
from hotline.paths import Paths
from hotline.pbx import Pbx, PbxError, locate_asterisk
from hotline.redis_server import PrivateRedis
from hotline.secrets import Secrets
from hotline.site import Site


@dataclass
class Stack:
    """Everything a call needs. ``up()`` starts what is not running; ``down()`` stops all."""

    site: Site
    site_file: Path
    paths: Paths
    pbx: Pbx = field(init=False)
    redis: PrivateRedis = field(init=False)
    app_env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the Stasis app (e.g. an injected HOTLINE_CLOCK)."""

    def __post_init__(self) -> None:
        self.paths.ensure()
        self.pbx = Pbx(
            self.site, self.paths, locate_asterisk(self.paths, self.paths.logs / "provision.log")
        )
        self.redis = PrivateRedis(self.paths)

    def up(self) -> None:
        self.redis.up()
        migrate(database_url(self.paths))
        self.pbx.up()
        self.start_front_door()
        self.start_app()

    def start_front_door(self, timeout: float = 20.0) -> None:
        """Start the FastAGI front door and wait until it accepts connections."""
        services.start(self.paths, "agi", self.site_file)
        address = (self.site.services.bind, self.site.services.agi_port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(address, timeout=1):
                return
            if services.running_pid(self.paths, "agi") is None:
                break
            time.sleep(0.1)
        raise PbxError(f"the FastAGI front door did not start; see {self.paths.logs / 'agi.log'}")

    def stop_front_door(self) -> None:
        services.stop(self.paths, "agi")

    def start_app(self, timeout: float = 20.0, env: dict[str, str] | None = None) -> None:
        """Start the Stasis app (with extra environment, e.g. an injected ``HOTLINE_CLOCK``)
        and wait until Asterisk sees it connected."""
        services.start(self.paths, "app", self.site_file, self.app_env if env is None else env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.app_connected():
                return
            if services.running_pid(self.paths, "app") is None:
                break
            time.sleep(0.1)
        log = self.paths.logs / "app.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PbxError(f"the Stasis app did not connect to ARI; its log ends:\n{tail}")

    def stop_app(self) -> None:
        services.stop(self.paths, "app")

    def app_connected(self) -> bool:
        """Whether Asterisk has the hotline app registered with a live event stream."""
        secrets = Secrets.load_or_create(self.paths.secrets_file)
        try:
            response = httpx.get(
                f"{self.pbx.listening.ari}/applications",
                auth=(secrets.ari_user, secrets.ari_password),
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and any(
            app.get("name") == "hotline" for app in response.json()
        )

    def down(self) -> None:
        try:
            self.stop_app()
            self.stop_front_door()
        finally:
            try:
                self.pbx.down()
            finally:
                self.redis.down()
