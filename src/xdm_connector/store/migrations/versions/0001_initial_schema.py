"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xdm_connector.store.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column(
            "created_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "datasets",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column(
            "schema_spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_datasets_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_datasets")),
    )
    op.create_table(
        "integrations",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_integrations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_integrations")),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_integrations_org_id"), ["org_id"], unique=False)

    op.create_table(
        "security_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_security_groups_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_groups")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_security_groups_org_id_name")),
    )
    with op.batch_alter_table("security_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_groups_org_id"), ["org_id"], unique=False)

    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column(
            "expires_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["integrations.client_id"],
            name=op.f("fk_access_tokens_client_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_access_tokens")),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_tokens_client_id"), ["client_id"], unique=False)

    op.create_table(
        "group_roles",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["security_groups.id"],
            name=op.f("fk_group_roles_group_id_security_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "role", name=op.f("pk_group_roles")),
    )
    op.create_table(
        "integration_groups",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["integrations.client_id"],
            name=op.f("fk_integration_groups_client_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["security_groups.id"],
            name=op.f("fk_integration_groups_group_id_security_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "group_id", name=op.f("pk_integration_groups")),
    )
    op.create_table(
        "mappings",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("dataset_id", sa.String(length=128), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "published_definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("publication_status", sa.String(length=16), nullable=False),
        sa.Column("execution_status", sa.String(length=16), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "next_run_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "watermark",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "dataset_id"],
            ["datasets.org_id", "datasets.id"],
            name=op.f("fk_mappings_org_id_dataset_id_datasets"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mappings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_mappings")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("mapping_id", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("records_ingested", sa.Integer(), nullable=False),
        sa.Column("records_rejected", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "window",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column(
            "lease_expires_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "started_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("ended_at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "mapping_id"],
            ["mappings.org_id", "mappings.id"],
            name=op.f("fk_jobs_org_id_mapping_id_mappings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_org_id_mapping_id_id"), ["org_id", "mapping_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_jobs_state_id"), ["state", "id"], unique=False)
        batch_op.create_index(
            "uq_jobs_one_in_progress",
            ["org_id", "mapping_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('Created', 'Uploaded')"),
            postgresql_where=sa.text("state IN ('Created', 'Uploaded')"),
        )

    op.create_table(
        "publication_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("mapping_id", sa.String(length=128), nullable=False),
        sa.Column("at", xdm_connector.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "mapping_id"],
            ["mappings.org_id", "mappings.id"],
            name=op.f("fk_publication_log_org_id_mapping_id_mappings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_log")),
    )
    with op.batch_alter_table("publication_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_publication_log_org_id_mapping_id_id"),
            ["org_id", "mapping_id", "id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("publication_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publication_log_org_id_mapping_id_id"))

    op.drop_table("publication_log")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_jobs_one_in_progress",
            sqlite_where=sa.text("state IN ('Created', 'Uploaded')"),
            postgresql_where=sa.text("state IN ('Created', 'Uploaded')"),
        )
        batch_op.drop_index(batch_op.f("ix_jobs_state_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_org_id_mapping_id_id"))

    op.drop_table("jobs")
    op.drop_table("mappings")
    op.drop_table("integration_groups")
    op.drop_table("group_roles")
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_tokens_client_id"))

    op.drop_table("access_tokens")
    with op.batch_alter_table("security_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_groups_org_id"))

    op.drop_table("security_groups")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integrations_org_id"))

    op.drop_table("integrations")
    op.drop_table("datasets")
    op.drop_table("organizations")
