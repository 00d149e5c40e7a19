"""Enterprise registry, red list and its audit log; what the front door decided per call.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(60), nullable=False, server_default=""),
        sa.Column("industry", sa.String(60), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "enterprise_phones",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("enterprise_id", sa.Integer(), sa.ForeignKey("enterprises.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
    )
    op.create_index("ix_enterprise_phones_enterprise_id", "enterprise_phones", ["enterprise_id"])
    op.create_table(
        "red_list",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("enterprise_id", sa.Integer(), sa.ForeignKey("enterprises.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("tier", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False, server_default=""),
        sa.Column("valid_from", sa.Date()),
        sa.Column("valid_to", sa.Date()),
        sa.Column("added_by", sa.String(80), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "red_list_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
    )
    op.create_index("ix_red_list_audit_at", "red_list_audit", ["at"])
    op.create_index("ix_red_list_audit_uscc", "red_list_audit", ["uscc"])
    with op.batch_alter_table("call_legs") as table:
        table.add_column(sa.Column("caller_kind", sa.String(12)))
        table.add_column(sa.Column("enterprise_id", sa.Integer()))
        table.add_column(sa.Column("tier", sa.String(30)))
        table.add_column(sa.Column("queue_prio", sa.Integer()))
        table.add_column(sa.Column("queue", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("call_legs") as table:
        for column in ("caller_kind", "enterprise_id", "tier", "queue_prio", "queue"):
            table.drop_column(column)
    for name in ("red_list_audit", "red_list", "enterprise_phones", "enterprises"):
        op.drop_table(name)
