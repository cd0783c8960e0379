"""jobs: the records each job deleted at its destination (``recordsDeleted``)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("records_deleted", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("jobs", "records_deleted")
