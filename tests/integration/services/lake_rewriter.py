"""A worker completing an upsert batch that stops once its rewrites are written, before its
commit, and waits there to be killed; run as a process of its own::

    python -m tests.integration.services.lake_rewriter URL BATCH_ID PAUSED

writes the file ``PAUSED`` (holding its process id) when the table's files holding the
batch's keys are rewritten, then waits forever.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from xdm_connector.destinations import lake_tables
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.lake_modes import LakeMode


def main(url: str, batch_id: str, paused: Path) -> None:
    rewrite = lake_tables.without_keys

    def rewrite_then_wait(*args: Any, **options: Any) -> NoReturn:
        rewrite(*args, **options)
        paused.write_text(str(os.getpid()))
        while True:
            time.sleep(1)

    lake_tables.without_keys = rewrite_then_wait  # type: ignore[assignment]
    LakeTables(url, modes=lambda org, dataset: LakeMode.UPSERT).complete(batch_id)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
