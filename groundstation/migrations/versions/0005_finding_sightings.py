"""finding sightings: a finding may be another photo's view of a primary finding's object

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("sighting_of", sa.Integer(), nullable=True))
        batch.create_index("ix_findings_sighting_of", ["sighting_of"])
        batch.create_foreign_key(
            "fk_findings_sighting_of_findings", "findings", ["sighting_of"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_constraint("fk_findings_sighting_of_findings", type_="foreignkey")
        batch.drop_index("ix_findings_sighting_of")
        batch.drop_column("sighting_of")
