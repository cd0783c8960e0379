"""job_slices and workers: the primary-key ranges of a large job, and the workers there to
share them
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xdm_connector.store.migrations.definitions import (
    create_indexes,
    foreign_key,
    json_column,
    primary_key,
    timestamp_column,
)

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "job_slices",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        json_column("key_after", nullable=True),
        json_column("key_until", nullable=True),
        sa.Column("mapping_digest", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        timestamp_column("lease_expires_at", nullable=True),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("records_ingested", sa.Integer(), nullable=False),
        sa.Column("records_rejected", sa.Integer(), nullable=False),
        json_column("result", nullable=True),
        timestamp_column("started_at", nullable=True),
        timestamp_column("ended_at", nullable=True),
        foreign_key("job_slices", ["job_id"], "jobs", ["id"]),
        primary_key("job_slices", "job_id", "number"),
    )
    create_indexes("job_slices", ["state", "job_id", "number"])

    op.create_table(
        "workers",
        sa.Column("owner", sa.String(length=128), nullable=False),
        timestamp_column("started_at", nullable=False),
        timestamp_column("seen_at", nullable=False),
        primary_key("workers", "owner"),
    )
    create_indexes("workers", ["seen_at"])


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("job_slices")
