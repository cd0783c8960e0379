"""An export into the lake, read back by Delta readers that are not the product: the
``deltalake`` package and polars (``read_delta``), on a local folder and on S3. Each reads
exactly the records the job reports, and the records the source holds."""

from __future__ import annotations

import os
from pathlib import Path

import polars
import pyarrow as pa
from deltalake import DeltaTable

from xdm_connector.demo.setup import DEMO_DATASET, DEMO_MAPPING, prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

PROFILES = 40
AWS_OPTIONS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL")


def storage_options(url: str) -> dict[str, str]:
    """What a reader of an S3 table is told: the server's endpoint and credentials."""
    if not url.startswith("s3://"):
        return {}
    return {name.lower(): os.environ[name] for name in AWS_OPTIONS} | {"aws_allow_http": "true"}


def test_deltalake_and_polars_read_exactly_the_records_the_job_reports(
    lake_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=None, lake_url=lake_url)
    settings.home.mkdir()
    store = Store(settings.store_url)
    store.upgrade()
    prepare_demo(settings, store, profiles=PROFILES)
    request = store.jobs.request_ingestion("demo", DEMO_MAPPING)
    assert Worker(store, settings).run_once()
    job = store.jobs.get("demo", DEMO_MAPPING, request.job.id)
    store.close()
    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == PROFILES

    uri = f"{lake_url}/demo/{DEMO_DATASET}"
    options = storage_options(lake_url)
    read = DeltaTable(uri, storage_options=options).to_pyarrow_table()
    frame = polars.read_delta(uri, storage_options=options)

    expected = [str(n) for n in range(1, PROFILES + 1)]
    assert sorted(read.column("_id").to_pylist(), key=int) == expected
    assert sorted(frame["_id"].to_list(), key=int) == expected
    assert frame.height == read.num_rows == job.records_ingested
    assert pa.table(frame.to_arrow()).sort_by("_id").column("personalEmail").to_pylist() == (
        read.sort_by("_id").column("personalEmail").to_pylist()
    )
