"""The operator and the sensor in a real Airflow, against a real server: the task
succeeds with the request, and fails with it (its status body in the error)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from airflow.models.dagrun import DagRun

from tests.airflow.conftest import FAILURES
from tests.airflow.dags.xdm_connector_dags import ingest_dag, sensed_dag
from tests.e2e.conftest import Installation, demo_credentials
from xdm_connector.client import XdmClient


def states(run: DagRun) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run: DagRun, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)


def status(server: Installation, request_id: int) -> dict[str, Any]:
    credentials = demo_credentials(server)
    with XdmClient(
        server.base_url,
        org="demo",
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
    ) as client:
        return client.status("XDM44", request_id).body


def test_the_deferred_operator_succeeds_with_the_request(
    server: Installation, airflow_database: None
) -> None:
    run = ingest_dag.test()
    assert states(run) == {"ingest": "success"}
    body = xcom(run, "ingest")
    assert (body["status"], body["numRecords"]) == ("Success", 10000)
    assert status(server, body["requestId"]) == body


def test_the_sensors_poke_and_defer_until_the_request_succeeds(
    server: Installation, airflow_database: None
) -> None:
    run = sensed_dag.test()
    assert states(run) == {"submit": "success", "poked": "success", "deferred": "success"}
    submitted = xcom(run, "submit")
    ended = status(server, submitted["requestId"])
    assert ended["status"] == "Success"
    assert xcom(run, "poked") == ended
    assert xcom(run, "deferred") == ended


def test_a_failed_request_fails_the_task_with_its_status_body(
    server: Installation, airflow_database: None
) -> None:
    with closing(sqlite3.connect(server.home / "demo-source.db")) as connection:
        connection.execute("ALTER TABLE profile RENAME TO profile_gone")
        connection.commit()
    run = ingest_dag.test()
    assert states(run) == {"ingest": "failed"}
    failure = FAILURES.read_text()
    assert failure.startswith("ingest: request ")
    assert " of mapping XDM44 ended Failed: {" in failure
    assert "ACP-880185 unknown table or view 'profile'" in failure
    assert '"status": "Failed"' in failure
