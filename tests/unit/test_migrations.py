"""The migrations build exactly the tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import cdr.models
import cdr.rollups  # noqa: F401
import desk.models  # noqa: F401
import knowledge.models  # noqa: F401
import redlist.models  # noqa: F401
import return_visit.models  # noqa: F401
import transfer.models  # noqa: F401
from core.db import Base, make_engine
from hotline.schema import migrate


def test_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    migrate(url)
    with make_engine(url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
