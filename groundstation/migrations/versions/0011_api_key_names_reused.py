"""API key names: unique among keys not revoked, so a revoked key's name can be given to the key
that replaces it (the revoked row stays, as the record of what it filed)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("uq_api_keys_name", type_="unique")
    op.create_index(
        "uq_api_keys_name_active",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked = 0"),
        postgresql_where=sa.text("revoked = false"),
    )


def downgrade() -> None:
    # fails while a revoked key shares its name with another key: revoke-api-key cannot undo that
    op.drop_index("uq_api_keys_name_active", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.create_unique_constraint("uq_api_keys_name", ["name"])
