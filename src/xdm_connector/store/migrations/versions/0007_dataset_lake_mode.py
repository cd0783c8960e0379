"""datasets: the lake mode of each dataset's table (append or upsert)

Existing datasets keep what the lake did before Delta tables: every exported version is
kept (``append``). A new dataset's mode follows its XDM class (``domain/lake_modes.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column(
        "datasets",
        sa.Column("lake_mode", sa.String(16), server_default="append", nullable=False),
    )


def downgrade() -> None:
    # SQLite drops a column in place: rebuilding the table would break the mappings' keys.
    op.drop_column("datasets", "lake_mode")
