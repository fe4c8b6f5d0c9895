"""escalation leaves with the case: a case no department holds is no department's escalation

A case returned by its department (or returned, then rejected) kept the escalation level (督办)
it had reached while overdue there, so the ticket list showed "escalated" on a case nobody is
late with. Returns, recalls and rejections now reset it, as dispatch does; this resets it on the
cases stored before. Escalation happens only while a department holds a case, so a case that is
new, filed or rejected and escalated is one of those; its escalate events stay in the archive.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE tickets SET escalation_level = 0, escalated_at = NULL "
        "WHERE escalation_level > 0 AND department_id IS NULL "
        "AND state IN ('new', 'confirmed', 'rejected')"
    )


def downgrade() -> None:
    """Nothing to undo: the levels reset were stale, and the archive keeps each escalation."""
