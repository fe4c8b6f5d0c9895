"""Migration 0008: cases stored while returns kept their escalation get it reset; cases a
department still holds keep theirs."""

from __future__ import annotations

from sqlalchemy import select

from groundstation.models import Ticket
from groundstation.storage import Storage


def test_upgrade_resets_the_escalation_of_cases_no_department_holds(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    storage.upgrade("0007")
    rows = {  # description: (state, held by a department, escalation level)
        "returned": ("confirmed", False, 2),
        "returned then rejected": ("rejected", False, 1),
        "overdue now": ("in_progress", True, 1),
        "closed after an escalation": ("closed", True, 1),
        "never escalated": ("confirmed", False, 0),
    }
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO departments (code, name) VALUES ('m8', 'M8')")
        for name, (state, held, level) in rows.items():
            department = "(SELECT id FROM departments WHERE code = 'm8')" if held else "NULL"
            escalated = "'2026-01-02 00:00:00'" if level else "NULL"
            conn.exec_driver_sql(
                "INSERT INTO tickets (label, state, department_id, escalation_level, "
                "escalated_at, description, evidence, source, reporter, created_at, updated_at) "
                f"VALUES ('straw_burning', '{state}', {department}, {level}, {escalated}, "
                f"'{name}', '[]', 'ui', '{{}}', '2026-01-01', '2026-01-01')"
            )
    storage.upgrade()
    with storage.session() as session:
        got = {
            t.description: (t.escalation_level, t.escalated_at is not None)
            for t in session.scalars(select(Ticket))
        }
    storage.dispose()
    assert got == {
        "returned": (0, False),
        "returned then rejected": (0, False),
        "overdue now": (1, True),
        "closed after an escalation": (1, True),
        "never escalated": (0, False),
    }
