"""jobs: the versions each job's look-back forgot, narrowing (``lookbackDropped``)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("lookback_dropped", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("jobs", "lookback_dropped")
