"""flight odd size: photos not of the camera's image size, kept with the flight

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the flights registered before: their photos are not read again here
    with op.batch_alter_table("flights") as batch:
        batch.add_column(sa.Column("odd_size", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flights") as batch:
        batch.drop_column("odd_size")
