"""``XdmIngestOperator``: trigger a mapping's ingestion and wait until it ends.

::

    XdmIngestOperator(task_id="ingest", mapping_id="XDM44", org="acme")

The task triggers the mapping (or joins the request already in progress), then defers to
``IngestionTrigger`` and frees its worker slot until the request ends. It returns the
request's last status body (its XCom); a request that ends ``Failed`` or ``Aborted``
fails the task with that body in the error. ``deferrable=False`` waits in the worker
instead; ``wait=False`` returns as soon as the request is submitted (its XCom is the
trigger's answer, with ``requestId``, for ``XdmIngestionSensor``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.exceptions import AirflowException
from airflow.sdk import BaseOperator, Context

from xdm_connector.airflow.hooks import DEFAULT_CONN_ID, XdmConnectorHook
from xdm_connector.airflow.triggers import IngestionTrigger
from xdm_connector.client import ClientError, IngestionFailed


def ended(event: dict[str, Any], what: str) -> dict[str, Any]:
    """The status body of a trigger's event; ``AirflowException`` unless it succeeded."""
    body = event.get("body")
    if event.get("status") == "Success" and isinstance(body, dict):
        return body
    if event.get("status") == "error":
        raise AirflowException(f"{what}: {event.get('message')}")
    raise AirflowException(f"{what} ended {event.get('status')}: {json.dumps(body)}")


class XdmIngestOperator(BaseOperator):
    """Triggers an ingestion of ``mapping_id`` and waits until the request ends."""

    template_fields: Sequence[str] = ("mapping_id", "org")

    def __init__(
        self,
        *,
        mapping_id: str,
        org: str | None = None,
        xdm_conn_id: str = DEFAULT_CONN_ID,
        wait: bool = True,
        deferrable: bool = True,
        wait_timeout: float | None = None,
        poll_max_seconds: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mapping_id = mapping_id
        self.org = org
        self.xdm_conn_id = xdm_conn_id
        self.wait = wait
        self.deferrable = deferrable
        self.wait_timeout = wait_timeout
        self.poll_max_seconds = poll_max_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        """Trigger; then wait here, or defer to the triggerer."""
        hook = XdmConnectorHook(self.xdm_conn_id, org=self.org)
        with hook.client(poll_max_seconds=self.poll_max_seconds) as client:
            try:
                submitted = client.trigger(self.mapping_id)
            except ClientError as exc:
                raise AirflowException(f"trigger of {self.mapping_id}: {exc}") from exc
            self.log.info(
                "mapping %s: request %s (%s)", self.mapping_id, submitted.request_id, submitted.info
            )
            if not self.wait:
                return submitted.body
            if self.deferrable:
                self.defer(
                    trigger=IngestionTrigger(
                        mapping_id=self.mapping_id,
                        request_id=submitted.request_id,
                        xdm_conn_id=self.xdm_conn_id,
                        org=self.org,
                        timeout=self.wait_timeout,
                        poll_max_seconds=self.poll_max_seconds,
                    ),
                    method_name="execute_complete",
                )
            try:
                status = client.wait(
                    self.mapping_id, submitted.request_id, timeout=self.wait_timeout
                )
            except IngestionFailed as exc:
                raise AirflowException(
                    self._what(submitted.request_id)
                    + f" ended {exc.status.status}: {exc.status.json()}"
                ) from exc
            except ClientError as exc:
                raise AirflowException(f"{self._what(submitted.request_id)}: {exc}") from exc
            return status.body

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the triggerer: the request's last status, or the task fails."""
        body = event.get("body") or {}
        request_id = body.get("requestId", "?") if isinstance(body, dict) else "?"
        return ended(event, self._what(request_id))

    def _what(self, request_id: object) -> str:
        return f"request {request_id} of mapping {self.mapping_id}"
