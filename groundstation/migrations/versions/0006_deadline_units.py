"""deadline units: class rules count their deadline in calendar hours, working hours or working days

The seeded illegal-construction rule (168 calendar hours, never edited) becomes 7 working days, as
数字城管 tables count it; rules an administrator has edited keep their hours.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("class_rules") as batch:
        batch.add_column(
            sa.Column("deadline_unit", sa.String(12), nullable=False, server_default="hours")
        )
    op.execute(
        "UPDATE class_rules SET deadline_hours = 7, deadline_unit = 'work_days' "
        "WHERE label = 'illegal_construction' AND deadline_hours = 168 AND updated_by = 'seed'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE class_rules SET deadline_hours = 168 "
        "WHERE label = 'illegal_construction' AND deadline_unit = 'work_days' "
        "AND deadline_hours = 7 AND updated_by = 'seed'"
    )
    with op.batch_alter_table("class_rules") as batch:
        batch.drop_column("deadline_unit")
