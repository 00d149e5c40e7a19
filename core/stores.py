"""Where an installation's stores are: its SQL database and its Redis.

SQLite in the state directory unless ``HOTLINE_DATABASE_URL`` names another database
(PostgreSQL); the private Redis's unix socket unless ``REDIS_URL`` names another server.
"""

from __future__ import annotations

import os

from core.paths import Paths


def database_url(paths: Paths) -> str:
    """``HOTLINE_DATABASE_URL`` or the installation's SQLite file."""
    return os.environ.get("HOTLINE_DATABASE_URL") or f"sqlite:///{paths.state / 'hotline.db'}"


def redis_url(paths: Paths) -> str:
    """``REDIS_URL``, or the installation's private Redis (a unix socket in its state)."""
    return os.environ.get("REDIS_URL") or f"unix://{paths.redis / 'redis.sock'}"
