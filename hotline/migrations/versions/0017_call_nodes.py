"""The PBX node each call was on (a line of several nodes behind an edge).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_legs") as table:
        table.add_column(sa.Column("node", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_legs") as table:
        table.drop_column("node")
