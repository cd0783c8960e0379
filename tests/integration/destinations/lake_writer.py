"""One writer of the lake, run as a process of its own by the concurrency tests::

    python -m tests.integration.destinations.lake_writer URL MAPPING FIRST_JOB JOBS MODE

commits ``JOBS`` jobs of ``MAPPING`` (ids from ``FIRST_JOB``) into ``acme/people``, each
with ``ROWS`` records whose ``_id`` is ``<mapping>-<job>-<n>``, completing each twice (a
retried ``complete``), then prints ``done``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.destinations.retrying import RetryingDestination
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.retry import RetryPolicy

ROWS = 10


def main(url: str, mapping: str, first_job: int, jobs: int, mode: str) -> None:
    lake = RetryingDestination(
        LakeTables(url, modes=lambda org, dataset: LakeMode(mode)),
        RetryPolicy(attempts=30, base_delay=0.01, max_delay=0.2),
    )
    with tempfile.TemporaryDirectory() as folder:
        for job in range(first_job, first_job + jobs):
            path = Path(folder) / f"{job}.parquet"
            keys = [f"{mapping}-{job}-{n}" for n in range(ROWS)]
            pq.write_table(pa.table({"_id": keys, "job": [job] * ROWS}), path)
            batch = lake.create_batch(
                org="acme", dataset="people", batch_key=f"acme-{mapping}-{job}",
                file_format="parquet",
            )  # fmt: skip
            lake.put_file(batch, "part-00000.parquet", path, rows=ROWS)
            lake.complete(batch)
            lake.complete(batch)
    print("done")


if __name__ == "__main__":
    url, mapping, first, count, mode = sys.argv[1:]
    main(url, mapping, int(first), int(count), mode)
