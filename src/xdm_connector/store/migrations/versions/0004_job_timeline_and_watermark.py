"""jobs: when the batch was uploaded, and the watermark the job commits"""

from __future__ import annotations

from alembic import op

from xdm_connector.store.migrations.definitions import json_column, timestamp_column

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(timestamp_column("uploaded_at", nullable=True))
        batch_op.add_column(json_column("watermark", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("watermark")
        batch_op.drop_column("uploaded_at")
