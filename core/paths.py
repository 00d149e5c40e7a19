"""Where an installation keeps its state (secrets, database, logs) and its caches (the PBX root).

Both are directories chosen by environment variables so that a test run or CI can start
from nothing: ``HOTLINE_STATE_DIR`` and ``HOTLINE_CACHE_DIR``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """The directories of one installation."""

    state: Path
    cache: Path

    @classmethod
    def from_env(cls) -> Paths:
        """Read ``HOTLINE_STATE_DIR``/``HOTLINE_CACHE_DIR``, defaulting to the XDG places."""
        home = Path.home()
        state = os.environ.get("HOTLINE_STATE_DIR") or str(home / ".local/state/hotline")
        cache = os.environ.get("HOTLINE_CACHE_DIR") or str(home / ".cache/hotline")
        return cls(state=Path(state).resolve(), cache=Path(cache).resolve())

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.json"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def asterisk(self) -> Path:
        """Everything of this installation's Asterisk: rendered config, astdb, spool, CDR files."""
        return self.state / "asterisk"

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
