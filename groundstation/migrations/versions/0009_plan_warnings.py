"""plan warnings: what the pilot was warned of when a plan was made, stored with the plan

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the plans saved before: the station derives theirs from their stored summary
    with op.batch_alter_table("route_plans") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route_plans") as batch:
        batch.drop_column("warnings")
