"""Where an installation keeps its state (secrets, database, logs) and its caches (the PBX root).

Both are directories chosen by environment variables so that a test run or CI can start
from nothing: ``HOTLINE_STATE_DIR`` and ``HOTLINE_CACHE_DIR``. ``HOTLINE_NODE`` names the PBX
node this process serves on a line of several (``[[nodes]]``): the node's Asterisk, logs and
pid files live under ``nodes/<name>`` of the state, while the secrets, the clock, the private
Redis and the SQLite file stay the line's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
"""A node's name, as the site file allows it (letters, digits, ``-`` and ``_``)."""


@dataclass(frozen=True)
class Paths:
    """The directories of one installation."""

    state: Path
    cache: Path
    node: str | None = None
    """The PBX node served (a line of several nodes), or None: the one PBX of the line."""

    def __post_init__(self) -> None:
        if self.node is not None and not NODE_NAME.match(self.node):
            raise ValueError(f"{self.node!r} is not a node's name (letters, digits, - and _)")

    @classmethod
    def from_env(cls) -> Paths:
        """Read ``HOTLINE_STATE_DIR``/``HOTLINE_CACHE_DIR``, defaulting to the XDG places,
        and ``HOTLINE_NODE``."""
        home = Path.home()
        state = os.environ.get("HOTLINE_STATE_DIR") or str(home / ".local/state/hotline")
        cache = os.environ.get("HOTLINE_CACHE_DIR") or str(home / ".cache/hotline")
        node = os.environ.get("HOTLINE_NODE") or None
        return cls(state=Path(state).resolve(), cache=Path(cache).resolve(), node=node)

    def of_node(self, node: str | None) -> Paths:
        """The same installation, serving ``node`` (None: the line's own places)."""
        return Paths(self.state, self.cache, node)

    @property
    def own(self) -> Path:
        """Where this process's PBX side keeps its files: the state, or its node's part."""
        return self.state if self.node is None else self.state / "nodes" / self.node

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.json"

    @property
    def logs(self) -> Path:
        return self.own / "logs"

    @property
    def run(self) -> Path:
        return self.own / "run"

    @property
    def asterisk(self) -> Path:
        """Everything of this installation's (or node's) Asterisk: rendered config, astdb,
        spool, CDR files."""
        return self.own / "asterisk"

    @property
    def redis(self) -> Path:
        return self.state / "redis"

    @property
    def pbx_root(self) -> Path:
        """The private Debian root holding Asterisk, when the machine has no Asterisk of its own."""
        return self.cache / "asterisk-root"

    def ensure(self) -> None:
        """Create the state directories (the state itself is private to its owner)."""
        for directory in (self.state, self.logs, self.run, self.asterisk, self.redis):
            directory.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        self.own.chmod(0o700)
