"""maintenance_slots: when each periodic task of the workers (lake optimize, vacuum) is due"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xdm_connector.store.migrations.definitions import primary_key, timestamp_column

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "maintenance_slots",
        sa.Column("task", sa.String(length=64), nullable=False),
        timestamp_column("next_run_at", nullable=False),
        timestamp_column("last_run_at", nullable=True),
        sa.Column("last_owner", sa.String(length=128), nullable=True),
        primary_key("maintenance_slots", "task"),
    )


def downgrade() -> None:
    op.drop_table("maintenance_slots")
