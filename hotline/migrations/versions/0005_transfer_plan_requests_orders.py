"""The transfer: departments and matters, requests and attempts, work orders.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("days", sa.String(20), nullable=False),
        sa.Column("periods", sa.String(200), nullable=False),
    )
    op.create_table(
        "matters",
        sa.Column("code", sa.String(6), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column(
            "department_code", sa.String(40), sa.ForeignKey("departments.code"), nullable=False
        ),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
    )
    op.create_index("ix_matters_department_code", "matters", ["department_code"])
    op.create_table(
        "transfer_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("caller_channel", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64)),
        sa.Column("seat_id", sa.String(16)),
        sa.Column("matter_code", sa.String(6), nullable=False),
        sa.Column("department_code", sa.String(40), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("in_hours", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(12), nullable=False),
        sa.Column("outcome", sa.String(20)),
        sa.Column("answered_number", sa.String(40)),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime()),
        sa.Column("work_order_id", sa.Integer()),
    )
    for column in ("caller_channel", "linkedid", "seat_id", "matter_code", "department_code"):
        op.create_index(f"ix_transfer_requests_{column}", "transfer_requests", [column])
    op.create_index("ix_transfer_requests_requested_at", "transfer_requests", ["requested_at"])
    op.create_table(
        "transfer_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "request_id", sa.Integer(), sa.ForeignKey("transfer_requests.id"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("rang_seconds", sa.Float()),
        sa.Column("outcome", sa.String(20)),
        sa.Column("cause", sa.Integer()),
        sa.Column("sip_code", sa.Integer()),
        sa.Column("cancelled_by", sa.String(16)),
    )
    for column in ("request_id", "number", "started_at"):
        op.create_index(f"ix_transfer_attempts_{column}", "transfer_attempts", [column])
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(24), nullable=False, unique=True),
        sa.Column("department_code", sa.String(40), nullable=False),
        sa.Column("matter_code", sa.String(6)),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("enterprise_id", sa.Integer()),
        sa.Column("caller_number", sa.String(40)),
        sa.Column("caller_channel", sa.String(64)),
        sa.Column("transfer_request_id", sa.Integer()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("deadline_at", UtcDateTime(), nullable=False),
        sa.Column("accepted_at", UtcDateTime()),
        sa.Column("replied_at", UtcDateTime()),
        sa.Column("closed_at", UtcDateTime()),
        sa.Column("reminded_at", UtcDateTime()),
        sa.Column("reply_to_company", sa.Text()),
        sa.Column("report_to_hotline", sa.Text()),
    )
    for column in ("department_code", "state", "created_at", "deadline_at"):
        op.create_index(f"ix_work_orders_{column}", "work_orders", [column])


def downgrade() -> None:
    for table in ("work_orders", "transfer_attempts", "transfer_requests", "matters", "departments"):
        op.drop_table(table)
