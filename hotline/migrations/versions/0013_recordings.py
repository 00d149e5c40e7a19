"""Recordings: a row per recorded (or unrecordable) call, and the audit log of who played
or downloaded one.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False),
        sa.Column("name", sa.String(160), nullable=True, unique=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_recordings_caller_channel", "recordings", ["caller_channel"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_table(
        "recording_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recording", sa.Integer(), nullable=False),
        sa.Column("who", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_recording_access_recording", "recording_access", ["recording"])
    op.create_index("ix_recording_access_at", "recording_access", ["at"])


def downgrade() -> None:
    op.drop_table("recording_access")
    op.drop_table("recordings")
