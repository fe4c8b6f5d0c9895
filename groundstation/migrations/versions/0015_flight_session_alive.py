"""flight session alive: which process runs a session and when it last said so

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the sessions stored before: none of them runs any more
    with op.batch_alter_table("flight_sessions") as batch:
        batch.add_column(sa.Column("alive_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("runner", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flight_sessions") as batch:
        batch.drop_column("runner")
        batch.drop_column("alive_at")
