"""Call-backs kept: each request's number, tier, state and attempts; every attempt with its
seat and outcome; the call a reached call-back became; callers who asked for a call-back
counted apart in the queue's hourly figures.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_requests") as table:
        table.add_column(sa.Column("number", sa.String(40), nullable=True))
        table.add_column(sa.Column("tier", sa.String(30), nullable=True))
        table.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="pending")
        )
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("reached_at", UtcDateTime(), nullable=True))
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False, unique=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seat_id", sa.String(16), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("cause", sa.Integer(), nullable=True),
    )
    op.create_index("ix_callback_attempts_request", "callback_attempts", ["request"])
    with op.batch_alter_table("call_legs") as table:
        table.add_column(sa.Column("callback_request", sa.String(64), nullable=True))
    with op.batch_alter_table("queue_hours") as table:
        table.add_column(sa.Column("callback", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("queue_hours") as table:
        table.drop_column("callback")
    with op.batch_alter_table("call_legs") as table:
        table.drop_column("callback_request")
    op.drop_table("callback_attempts")
    with op.batch_alter_table("callback_requests") as table:
        for name in ("reached_at", "attempts", "state", "tier", "number"):
            table.drop_column(name)
