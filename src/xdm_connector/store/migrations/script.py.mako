"""${message}"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xdm_connector.store.models
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
