"""initial schema"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xdm_connector.store.migrations.definitions import (
    create_indexes,
    drop_indexes,
    foreign_key,
    id_column,
    json_column,
    organization_column,
    organization_key,
    primary_key,
    timestamp_column,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        timestamp_column("created_at", nullable=False),
        primary_key("organizations", "id"),
    )
    op.create_table(
        "datasets",
        organization_column(),
        sa.Column("id", sa.String(length=128), nullable=False),
        json_column("schema_spec", nullable=False),
        timestamp_column("created_at", nullable=False),
        organization_key("datasets"),
        primary_key("datasets", "org_id", "id"),
    )
    op.create_table(
        "integrations",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        organization_column(),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        timestamp_column("created_at", nullable=False),
        organization_key("integrations"),
        primary_key("integrations", "client_id"),
    )
    create_indexes("integrations", ["org_id"])

    op.create_table(
        "security_groups",
        id_column(),
        organization_column(),
        sa.Column("name", sa.String(length=128), nullable=False),
        organization_key("security_groups"),
        primary_key("security_groups", "id"),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_security_groups_org_id_name")),
    )
    create_indexes("security_groups", ["org_id"])

    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        timestamp_column("expires_at", nullable=False),
        foreign_key("access_tokens", ["client_id"], "integrations", ["client_id"]),
        primary_key("access_tokens", "token_hash"),
    )
    create_indexes("access_tokens", ["client_id"])

    op.create_table(
        "group_roles",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        foreign_key("group_roles", ["group_id"], "security_groups", ["id"]),
        primary_key("group_roles", "group_id", "role"),
    )
    op.create_table(
        "integration_groups",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        foreign_key("integration_groups", ["client_id"], "integrations", ["client_id"]),
        foreign_key("integration_groups", ["group_id"], "security_groups", ["id"]),
        primary_key("integration_groups", "client_id", "group_id"),
    )
    op.create_table(
        "mappings",
        organization_column(),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("dataset_id", sa.String(length=128), nullable=False),
        json_column("definition", nullable=False),
        json_column("published_definition", nullable=True),
        sa.Column("publication_status", sa.String(length=16), nullable=False),
        sa.Column("execution_status", sa.String(length=16), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        timestamp_column("next_run_at", nullable=True),
        json_column("watermark", nullable=True),
        timestamp_column("created_at", nullable=False),
        timestamp_column("updated_at", nullable=False),
        foreign_key(
            "mappings", ["org_id", "dataset_id"], "datasets", ["org_id", "id"], ondelete=None
        ),
        organization_key("mappings"),
        primary_key("mappings", "org_id", "id"),
    )
    op.create_table(
        "jobs",
        id_column(),
        organization_column(),
        sa.Column("mapping_id", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("records_ingested", sa.Integer(), nullable=False),
        sa.Column("records_rejected", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        json_column("window", nullable=True),
        json_column("details", nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        timestamp_column("lease_expires_at", nullable=True),
        timestamp_column("created_at", nullable=False),
        timestamp_column("started_at", nullable=True),
        timestamp_column("ended_at", nullable=True),
        foreign_key("jobs", ["org_id", "mapping_id"], "mappings", ["org_id", "id"]),
        primary_key("jobs", "id"),
    )
    create_indexes("jobs", ["org_id", "mapping_id", "id"], ["state", "id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_jobs_one_in_progress",
            ["org_id", "mapping_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('Created', 'Uploaded')"),
            postgresql_where=sa.text("state IN ('Created', 'Uploaded')"),
        )

    op.create_table(
        "publication_log",
        id_column(),
        organization_column(),
        sa.Column("mapping_id", sa.String(length=128), nullable=False),
        timestamp_column("at", nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        foreign_key("publication_log", ["org_id", "mapping_id"], "mappings", ["org_id", "id"]),
        primary_key("publication_log", "id"),
    )
    create_indexes("publication_log", ["org_id", "mapping_id", "id"])


def downgrade() -> None:
    drop_indexes("publication_log", ["org_id", "mapping_id", "id"])
    op.drop_table("publication_log")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_jobs_one_in_progress",
            sqlite_where=sa.text("state IN ('Created', 'Uploaded')"),
            postgresql_where=sa.text("state IN ('Created', 'Uploaded')"),
        )
    drop_indexes("jobs", ["state", "id"], ["org_id", "mapping_id", "id"])
    op.drop_table("jobs")
    op.drop_table("mappings")
    op.drop_table("integration_groups")
    op.drop_table("group_roles")
    drop_indexes("access_tokens", ["client_id"])
    op.drop_table("access_tokens")
    drop_indexes("security_groups", ["org_id"])
    op.drop_table("security_groups")
    drop_indexes("integrations", ["org_id"])
    op.drop_table("integrations")
    op.drop_table("datasets")
    op.drop_table("organizations")
