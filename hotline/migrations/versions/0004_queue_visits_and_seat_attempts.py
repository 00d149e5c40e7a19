"""Queue visits and seat attempts: every stay in a queue and every seat rung, recorded.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("tier", sa.String(30)),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
        sa.Column("left_at", UtcDateTime()),
        sa.Column("wait_seconds", sa.Float()),
        sa.Column("outcome", sa.String(32)),
        sa.Column("seat_id", sa.String(16)),
    )
    op.create_index("ix_queue_visits_caller_channel", "queue_visits", ["caller_channel"])
    op.create_index("ix_queue_visits_entered_at", "queue_visits", ["entered_at"])
    op.create_table(
        "seat_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("seat_id", sa.String(16), nullable=False),
        sa.Column("seat_channel", sa.String(64), nullable=False, unique=True),
        sa.Column("rung_at", UtcDateTime(), nullable=False),
        sa.Column("rang_seconds", sa.Float()),
        sa.Column("outcome", sa.String(32)),
        sa.Column("cause", sa.Integer()),
    )
    op.create_index("ix_seat_attempts_caller_channel", "seat_attempts", ["caller_channel"])
    op.create_index("ix_seat_attempts_seat_id", "seat_attempts", ["seat_id"])
    op.create_index("ix_seat_attempts_rung_at", "seat_attempts", ["rung_at"])


def downgrade() -> None:
    op.drop_table("seat_attempts")
    op.drop_table("queue_visits")
