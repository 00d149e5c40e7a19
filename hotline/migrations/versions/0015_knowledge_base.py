"""The knowledge base: its entries and the audit log of their changes.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("matter_code", sa.String(6), nullable=True),
        sa.Column("department_code", sa.String(40), nullable=True),
        sa.Column("keywords", sa.String(500), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_knowledge_entries_matter_code", "knowledge_entries", ["matter_code"])
    op.create_table(
        "knowledge_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("who", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
    )
    op.create_index("ix_knowledge_changes_code", "knowledge_changes", ["code"])


def downgrade() -> None:
    op.drop_table("knowledge_changes")
    op.drop_table("knowledge_entries")
