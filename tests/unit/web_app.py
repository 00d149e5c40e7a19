"""The web app on a fresh installation of its own (a state directory per test, real Redis,
SQLite): the fixtures a test module imports to call the API — ``paths`` here stands in for
the session's, so that each test starts from nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from core.paths import Paths
from core.site import Site
from core.stores import database_url
from hotline.schema import migrate
from hotline.web import create_app


@pytest.fixture
def paths(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A migrated installation of the test's own, on an emptied Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    Redis.from_url(redis_url).flushdb()
    paths = Paths(state=tmp_path / "state", cache=tmp_path / "cache")
    paths.ensure()
    migrate(database_url(paths))
    return paths


@pytest.fixture
def client(site: Site, paths: Paths) -> Iterator[TestClient]:
    """The web app of that installation."""
    with TestClient(create_app(site, paths)) as test_client:
        yield test_client
