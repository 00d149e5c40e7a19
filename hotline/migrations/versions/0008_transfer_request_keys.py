"""Transfer requests get a key made up by the call, so that the call never waits for the
database to number a request (records are written off the call path). Requests recorded
before keep a key derived from their id.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfer_requests") as batch:
        batch.add_column(sa.Column("key", sa.String(40), nullable=True))
    op.execute("UPDATE transfer_requests SET key = 'id-' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("transfer_requests") as batch:
        batch.alter_column("key", existing_type=sa.String(40), nullable=False)
        batch.create_unique_constraint("uq_transfer_requests_key", ["key"])


def downgrade() -> None:
    with op.batch_alter_table("transfer_requests") as batch:
        batch.drop_constraint("uq_transfer_requests_key", type_="unique")
        batch.drop_column("key")
