"""Return visits: one per answered work order (the company's answers on it), and each call
made for it.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_number", sa.String(24), nullable=False, unique=True),
        sa.Column("department_code", sa.String(40), nullable=False),
        sa.Column("matter_code", sa.String(6), nullable=True),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(40), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("due_by", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("responded", sa.Boolean(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("satisfaction", sa.String(24), nullable=True),
        sa.Column("visited_at", UtcDateTime(), nullable=True),
        sa.Column("visited_by", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_return_visits_department_code", "return_visits", ["department_code"])
    op.create_index("ix_return_visits_created_at", "return_visits", ["created_at"])
    op.create_index("ix_return_visits_state_due", "return_visits", ["state", "due_at"])
    op.create_table(
        "return_visit_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False, unique=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("cause", sa.Integer(), nullable=True),
    )
    op.create_index("ix_return_visit_calls_visit_id", "return_visit_calls", ["visit_id"])


def downgrade() -> None:
    op.drop_table("return_visit_calls")
    op.drop_table("return_visits")
