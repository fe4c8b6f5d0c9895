"""photo content hash: the SHA-256 of each photo file, to find the same photos sent again

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the photos registered before: their files are not read again here
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_photos_content_hash"), ["content_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.drop_index(batch.f("ix_photos_content_hash"))
        batch.drop_column("content_hash")
