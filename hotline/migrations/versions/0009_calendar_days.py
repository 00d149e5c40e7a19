"""Public holidays and make-up working days entered through the admin API, and the audit of
every change to them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("entered_by", sa.String(80), nullable=False),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "calendar_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("before", sa.String(100), nullable=True),
        sa.Column("after", sa.String(100), nullable=True),
    )
    op.create_index("ix_calendar_changes_at", "calendar_changes", ["at"])
    op.create_index("ix_calendar_changes_day", "calendar_changes", ["day"])


def downgrade() -> None:
    op.drop_table("calendar_changes")
    op.drop_table("calendar_days")
