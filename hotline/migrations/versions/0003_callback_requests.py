"""Call-back requests: callers to call back when the queue was closed.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False),
        sa.Column("caller_number", sa.String(40), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("done_at", UtcDateTime()),
    )
    op.create_index("ix_callback_requests_caller_channel", "callback_requests", ["caller_channel"])
    op.create_index("ix_callback_requests_requested_at", "callback_requests", ["requested_at"])


def downgrade() -> None:
    op.drop_table("callback_requests")
