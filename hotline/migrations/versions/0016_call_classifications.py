"""The seats' classification of their calls; the request a desk-made order carries; the
company's calls and orders found by the company.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_classifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False, unique=True),
        sa.Column("seat_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("matter_code", sa.String(6), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=False),
        sa.Column("knowledge", sa.JSON(), nullable=False),
        sa.Column("order_number", sa.String(24), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("classified_at", UtcDateTime(), nullable=False),
        sa.Column("wrap_up_seconds", sa.Float(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_call_classifications_seat_id", "call_classifications", ["seat_id"])
    op.create_index("ix_call_classifications_matter_code", "call_classifications", ["matter_code"])
    op.create_index(
        "ix_call_classifications_classified_at", "call_classifications", ["classified_at"]
    )
    op.add_column("work_orders", sa.Column("request", sa.Text(), nullable=True))
    op.create_index("ix_call_legs_enterprise_id", "call_legs", ["enterprise_id"])
    op.create_index("ix_work_orders_enterprise_id", "work_orders", ["enterprise_id"])


def downgrade() -> None:
    op.drop_index("ix_work_orders_enterprise_id", "work_orders")
    op.drop_index("ix_call_legs_enterprise_id", "call_legs")
    op.drop_column("work_orders", "request")
    op.drop_table("call_classifications")
