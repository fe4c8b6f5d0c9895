"""Failed sign-ins in the database, so every serve process shares the sign-in lock and a restart
keeps it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=240), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_pair", "sign_in_failures", ["username", "address", "at"])
    op.create_index(op.f("ix_sign_in_failures_at"), "sign_in_failures", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_failures_at"), table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_pair", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
