"""delivered_records: what each mapping delivered to the platform, and the changes its jobs
in progress stage until their success"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from xdm_connector.store.migrations.definitions import (
    foreign_key,
    organization_column,
    primary_key,
)

revision = "0014"
down_revision = "0013"


def _record_columns(*, digest_nullable: bool) -> list[sa.Column[Any]]:
    """A record's key, digest, and primary identity (the namespace and id a work order
    deleting it names)."""
    return [
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=digest_nullable),
        sa.Column("namespace", sa.Text(), nullable=True),
        sa.Column("identity", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "delivered_records",
        organization_column(),
        sa.Column("mapping_id", sa.String(length=128), nullable=False),
        *_record_columns(digest_nullable=False),
        foreign_key("delivered_records", ["org_id", "mapping_id"], "mappings", ["org_id", "id"]),
        primary_key("delivered_records", "org_id", "mapping_id", "record_id"),
    )
    op.create_table(
        "staged_records",
        sa.Column("job_id", sa.Integer(), nullable=False),
        *_record_columns(digest_nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        foreign_key("staged_records", ["job_id"], "jobs", ["id"]),
        primary_key("staged_records", "job_id", "record_id"),
    )


def downgrade() -> None:
    op.drop_table("staged_records")
    op.drop_table("delivered_records")
