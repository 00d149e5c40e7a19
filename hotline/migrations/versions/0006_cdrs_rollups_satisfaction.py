"""Asterisk's CDRs, the rollups the reports read, and the caller's rating of a call.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def _seconds(*names: str) -> list[sa.Column[float]]:
    return [sa.Column(name, sa.Float(), nullable=False) for name in names]


def upgrade() -> None:
    op.add_column("call_legs", sa.Column("satisfaction", sa.String(24)))
    op.create_table(
        "asterisk_cdrs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("dst_channel", sa.String(128), nullable=False),
        sa.Column("src", sa.String(80), nullable=False),
        sa.Column("dst", sa.String(80), nullable=False),
        sa.Column("dcontext", sa.String(80), nullable=False),
        sa.Column("clid", sa.String(160), nullable=False),
        sa.Column("last_app", sa.String(80), nullable=False),
        sa.Column("last_data", sa.String(255), nullable=False),
        sa.Column("start_at", UtcDateTime(), nullable=False),
        sa.Column("answer_at", UtcDateTime()),
        sa.Column("end_at", UtcDateTime(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(20), nullable=False),
        sa.Column("accountcode", sa.String(80), nullable=False),
        sa.Column("userfield", sa.String(255), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.UniqueConstraint("uniqueid", "sequence", name="uq_asterisk_cdrs_record"),
    )
    op.create_index("ix_asterisk_cdrs_linkedid", "asterisk_cdrs", ["linkedid"])
    op.create_index("ix_asterisk_cdrs_start_at", "asterisk_cdrs", ["start_at"])
    op.create_table(
        "cdr_file_marks",
        sa.Column("path", sa.String(255), primary_key=True),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "transfer_hours",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("hour", sa.Integer(), primary_key=True),
        sa.Column("department_code", sa.String(40), primary_key=True),
        sa.Column("matter_code", sa.String(6), primary_key=True),
        sa.Column("in_hours", sa.Boolean(), primary_key=True),
        *_counts(
            "requests", "answered", "answered_forward", "failed", "closed", "cancelled",
            "abandoned",
        ),
    )
    op.create_table(
        "attempt_hours",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("hour", sa.Integer(), primary_key=True),
        sa.Column("department_code", sa.String(40), primary_key=True),
        sa.Column("number", sa.String(40), primary_key=True),
        sa.Column("outcome", sa.String(20), primary_key=True),
        *_counts("attempts"),
        *_seconds("rang_seconds"),
    )
    op.create_table(
        "queue_hours",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("hour", sa.Integer(), primary_key=True),
        sa.Column("queue", sa.String(40), primary_key=True),
        sa.Column("red_list", sa.Boolean(), primary_key=True),
        *_counts("offered", "answered", "answered_in_sl"),
        *_seconds("wait_answered"),
        *_counts("abandoned", "short_abandoned", "max_wait", "closed", "failed", "moved"),
    )
    op.create_table(
        "seat_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("queue", sa.String(40), primary_key=True),
        sa.Column("seat_id", sa.String(16), primary_key=True),
        *_counts(
            "rung", "answered", "no_answer", "declined", "unreachable", "caller_left",
            "interrupted",
        ),
        *_seconds("talk_seconds"),
        *_counts("satisfied", "basically_satisfied", "dissatisfied", "no_answer_rating"),
    )


def downgrade() -> None:
    for table in (
        "seat_days", "queue_hours", "attempt_hours", "transfer_hours", "cdr_file_marks",
        "asterisk_cdrs",
    ):
        op.drop_table(table)
    with op.batch_alter_table("call_legs") as batch:
        batch.drop_column("satisfaction")
