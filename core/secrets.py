"""Credentials generated per installation: never a fixed default in a deployed config.

They live in ``secrets.json`` in the state directory, mode 0600, created on first use.
Values can be given from the environment instead (for the docker-compose deployment):
``HOTLINE_ARI_PASSWORD``, ``HOTLINE_AMI_SECRET``, ``HOTLINE_ADMIN_TOKEN``.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

_ENV_OVERRIDES = {
    "ari_password": "HOTLINE_ARI_PASSWORD",
    "ami_secret": "HOTLINE_AMI_SECRET",
    "admin_token": "HOTLINE_ADMIN_TOKEN",
}


def _new_secret() -> str:
    return secrets.token_urlsafe(18)


@dataclass
class Secrets:
    """The installation's credentials."""

    ari_user: str = "hotline"
    ari_password: str = field(default_factory=_new_secret)
    ami_user: str = "hotline"
    ami_secret: str = field(default_factory=_new_secret)
    admin_token: str = field(default_factory=_new_secret)
    seat_passwords: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, path: Path) -> Secrets:
        """Read the secrets file, creating it (mode 0600) with fresh values if it is missing."""
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            loaded = cls(**data)
        else:
            loaded = cls()
            loaded.save(path)
        for attribute, variable in _ENV_OVERRIDES.items():
            if os.environ.get(variable):
                setattr(loaded, attribute, os.environ[variable])
        return loaded

    def console_token(self, seat_id: str) -> str:
        """The token of a seat's console: it opens that seat's console and nothing else.
        Derived from the admin token, so every process (and a restart) agrees on it."""
        digest = hmac.new(self.admin_token.encode(), f"console:{seat_id}".encode(), "sha256")
        return digest.hexdigest()[:32]

    def supervisor_token(self) -> str:
        """The token of the supervisors: reports, the dashboard and /metrics, nothing that
        changes anything. Derived from the admin token like the consoles' tokens."""
        digest = hmac.new(self.admin_token.encode(), b"supervisor", "sha256")
        return digest.hexdigest()[:32]

    def seat_password(self, seat_id: str, path: Path) -> str:
        """The SIP password of a registering seat phone, generated on first use."""
        if seat_id not in self.seat_passwords:
            self.seat_passwords[seat_id] = _new_secret()
            self.save(path)
        return self.seat_passwords[seat_id]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2)
        path.chmod(0o600)
