"""Stays in Asterisk's own queue (the fallback) counted from its queue log: which stays it
held.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_visits") as table:
        table.add_column(sa.Column("served_by", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_visits") as table:
        table.drop_column("served_by")
