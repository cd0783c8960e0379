"""The DAGs of the provider's tests: trigger and wait (deferred), and trigger then sense
(poking, and deferred). A failed task writes its error where the tests read it."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import DAG

from xdm_connector.airflow import XdmIngestionSensor, XdmIngestOperator

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def note_failure(context: Any) -> None:
    """Keep the failed task's error for the test to read."""
    with open(os.environ["XDMC_AIRFLOW_TEST_FAILURES"], "a", encoding="utf-8") as failures:
        failures.write(f"{context['ti'].task_id}: {context['exception']}\n")


with DAG(
    "xdm_ingest",
    schedule=None,
    start_date=START,
    default_args={"on_failure_callback": note_failure},
) as ingest_dag:
    XdmIngestOperator(task_id="ingest", mapping_id="XDM44", poll_max_seconds=0.2)

with DAG(
    "xdm_ingest_sensed",
    schedule=None,
    start_date=START,
    default_args={"on_failure_callback": note_failure},
) as sensed_dag:
    submit = XdmIngestOperator(task_id="submit", mapping_id="XDM44", wait=False)
    request = "{{ ti.xcom_pull(task_ids='submit')['requestId'] }}"
    poked = XdmIngestionSensor(
        task_id="poked", mapping_id="XDM44", request_id=request, poke_interval=0.2
    )
    deferred = XdmIngestionSensor(
        task_id="deferred",
        mapping_id="XDM44",
        request_id=request,
        poke_interval=0.2,
        deferrable=True,
    )
    submit >> [poked, deferred]
