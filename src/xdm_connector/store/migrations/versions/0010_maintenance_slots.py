"""maintenance_slots: when each periodic task of the workers (lake optimize, vacuum) is due

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xdm_connector.store.models import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_slots",
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_owner", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("task", name=op.f("pk_maintenance_slots")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_slots")
