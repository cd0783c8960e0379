"""delivered_records: what each mapping delivered to the platform, and the changes its jobs
in progress stage until their success

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _identity_columns() -> list[sa.Column[str]]:
    """A record's primary identity: the namespace and id a work order deleting it names."""
    return [
        sa.Column("namespace", sa.Text(), nullable=True),
        sa.Column("identity", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "delivered_records",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("mapping_id", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        *_identity_columns(),
        sa.ForeignKeyConstraint(
            ["org_id", "mapping_id"],
            ["mappings.org_id", "mappings.id"],
            name=op.f("fk_delivered_records_org_id_mapping_id_mappings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "mapping_id", "record_id", name=op.f("pk_delivered_records")
        ),
    )
    op.create_table(
        "staged_records",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=True),
        *_identity_columns(),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_staged_records_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_id", name=op.f("pk_staged_records")),
    )


def downgrade() -> None:
    op.drop_table("staged_records")
    op.drop_table("delivered_records")
