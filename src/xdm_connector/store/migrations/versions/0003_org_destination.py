"""organizations: the destination of their jobs"""

from __future__ import annotations

from alembic import op

from xdm_connector.store.migrations.definitions import json_column

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(json_column("destination", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("destination")
