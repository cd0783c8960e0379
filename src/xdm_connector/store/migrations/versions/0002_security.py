"""security: the audit trail and the token endpoint's failed attempts"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xdm_connector.store.migrations import definitions

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "login_failures",
        definitions.id_column(),
        sa.Column("subject", sa.String(length=64), nullable=False),
        definitions.timestamp_column("at", nullable=False),
        definitions.primary_key("login_failures", "id"),
    )
    definitions.create_indexes("login_failures", ["at"], ["subject", "at"])

    op.create_table(
        "audit_trail",
        definitions.id_column(),
        definitions.organization_column(),
        definitions.timestamp_column("at", nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        definitions.json_column("details", nullable=True),
        definitions.organization_key("audit_trail"),
        definitions.primary_key("audit_trail", "id"),
    )
    definitions.create_indexes("audit_trail", ["org_id", "id"])


def downgrade() -> None:
    definitions.drop_indexes("audit_trail", ["org_id", "id"])
    op.drop_table("audit_trail")
    definitions.drop_indexes("login_failures", ["subject", "at"], ["at"])
    op.drop_table("login_failures")
