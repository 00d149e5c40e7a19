"""Call legs recorded by the Stasis application.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_legs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64)),
        sa.Column("caller_number", sa.String(40), nullable=False),
        sa.Column("called_number", sa.String(40), nullable=False),
        sa.Column("seat_id", sa.String(16)),
        sa.Column("seat_channel", sa.String(64)),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime()),
        sa.Column("wait_seconds", sa.Float()),
        sa.Column("talk_seconds", sa.Float()),
        sa.Column("outcome", sa.String(32)),
    )
    op.create_index("ix_call_legs_caller_channel", "call_legs", ["caller_channel"], unique=True)
    op.create_index("ix_call_legs_linkedid", "call_legs", ["linkedid"])
    op.create_index("ix_call_legs_seat_id", "call_legs", ["seat_id"])
    op.create_index("ix_call_legs_entered_at", "call_legs", ["entered_at"])


def downgrade() -> None:
    op.drop_table("call_legs")
