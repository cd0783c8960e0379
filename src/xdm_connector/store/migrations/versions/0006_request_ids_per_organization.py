"""jobs: a request id per organization, numbered by the organization's own counter

Every existing job keeps its id as its request id, and each organization's numbering goes
on after its highest one; a new organization's first request is 1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

_jobs = sa.table("jobs", sa.column("id"), sa.column("org_id"), sa.column("request_id"))
_organizations = sa.table("organizations", sa.column("id"), sa.column("last_request_id"))


def upgrade() -> None:
    op.add_column(
        "organizations",
        sa.Column("last_request_id", sa.Integer(), server_default="0", nullable=False),
    )
    # SQLite adds a NOT NULL column only with a default, and cannot drop that default
    # without rebuilding the table (which the job slices' cascading keys forbid here):
    # there the default stays, unused, since every job is created with its request id.
    op.add_column("jobs", sa.Column("request_id", sa.Integer(), server_default="0", nullable=False))
    op.execute(_jobs.update().values(request_id=_jobs.c.id))
    highest = (
        sa.select(sa.func.coalesce(sa.func.max(_jobs.c.id), 0))
        .where(_jobs.c.org_id == _organizations.c.id)
        .scalar_subquery()
    )
    op.execute(_organizations.update().values(last_request_id=highest))
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("jobs", "request_id", server_default=None)
    op.create_index(
        op.f("ix_jobs_org_id_request_id"), "jobs", ["org_id", "request_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_org_id_request_id"), table_name="jobs")
    op.drop_column("jobs", "request_id")
    op.drop_column("organizations", "last_request_id")
