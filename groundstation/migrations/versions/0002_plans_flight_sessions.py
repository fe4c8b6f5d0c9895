"""route plans, no-fly layers, flight sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "no_fly_layers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("zones", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_no_fly_layers")),
        sa.UniqueConstraint("name", name=op.f("uq_no_fly_layers_name")),
    )
    op.create_table(
        "route_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("grid_codes", sa.JSON(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=False),
        sa.Column("missions", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_plans")),
    )
    op.create_table(
        "flight_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("sortie", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=200), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("grid_codes", sa.JSON(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("flight_id", sa.Integer(), nullable=True),
        sa.Column("log_dir", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_by", sa.String(length=120), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["flight_id"], ["flights.id"], name=op.f("fk_flight_sessions_flight_id_flights")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["route_plans.id"], name=op.f("fk_flight_sessions_plan_id_route_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flight_sessions")),
    )
    op.create_index(
        op.f("ix_flight_sessions_plan_id"), "flight_sessions", ["plan_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_flight_sessions_plan_id"), table_name="flight_sessions")
    op.drop_table("flight_sessions")
    op.drop_table("route_plans")
    op.drop_table("no_fly_layers")
