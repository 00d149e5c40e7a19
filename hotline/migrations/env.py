"""Alembic environment: the URL comes from hotline.db.migrate (or alembic's -x url=...)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import cdr.models
import cdr.rollups  # noqa: F401
import core.calendar  # noqa: F401
import redlist.models  # noqa: F401
import transfer.models  # noqa: F401
from core.db import Base

config = context.config
url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
    "sqlalchemy.url"
)
connectable = engine_from_config(
    {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
