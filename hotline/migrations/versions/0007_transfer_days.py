"""The transfer rollup by local day, for reports over long periods (filled from the hourly
rollup for the days already counted).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FIGURES = ("requests", "answered", "answered_forward", "failed", "closed", "cancelled", "abandoned")


def upgrade() -> None:
    op.create_table(
        "transfer_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("department_code", sa.String(40), primary_key=True),
        sa.Column("matter_code", sa.String(6), primary_key=True),
        sa.Column("in_hours", sa.Boolean(), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES),
    )
    sums = ", ".join(f"SUM({name})" for name in FIGURES)
    op.execute(
        f"INSERT INTO transfer_days (day, department_code, matter_code, in_hours, "
        f"{', '.join(FIGURES)}) SELECT day, department_code, matter_code, in_hours, {sums} "
        "FROM transfer_hours GROUP BY day, department_code, matter_code, in_hours"
    )


def downgrade() -> None:
    op.drop_table("transfer_days")
