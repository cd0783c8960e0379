"""A process that compacts a lake table over and over, run by the concurrency tests::

    python -m tests.integration.destinations.lake_optimizer URL STOP_FILE

optimizes ``acme/people`` (once it exists) until ``STOP_FILE`` exists, then once more,
and prints how many compactions committed and how many gave up on concurrent commits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from xdm_connector.destinations.lake_maintenance import optimize_table
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.errors import DestinationError


def main(url: str, stop: Path) -> None:
    lake = LakeTables(url)
    committed = given_up = 0
    last = False
    while not last:
        last = stop.exists()
        if lake.table("acme", "people") is None:
            time.sleep(0.05)
            continue
        try:
            upkeep = optimize_table(lake, "acme", "people")
        except DestinationError as exc:
            if not exc.transient:
                raise
            given_up += 1
            continue
        committed += upkeep.files_removed > 0
    print(f"{committed} {given_up}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
