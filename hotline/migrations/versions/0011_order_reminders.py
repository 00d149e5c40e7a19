"""Work orders chased: every reminder sent about an order (near its deadline, overdue,
escalated), where it went and whether it arrived.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_reminders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_number", sa.String(24), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
    )
    op.create_index("ix_order_reminders_order_number", "order_reminders", ["order_number"])


def downgrade() -> None:
    op.drop_table("order_reminders")
