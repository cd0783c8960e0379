"""jobs: the work orders that delete a job's records at the platform, as it creates them"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("work_orders", _json(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "work_orders")
