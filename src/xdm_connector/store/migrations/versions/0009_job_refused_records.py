"""jobs: the records the destination refused, apart from those the product rejected

Until now a job's ``records_rejected`` also counted the records the platform refused in a
batch it accepted; those jobs keep their counts (their refusals cannot be told apart).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("records_refused", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("jobs", "records_refused")
