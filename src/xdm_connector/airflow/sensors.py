"""``XdmIngestionSensor``: wait for an ingestion request triggered elsewhere.

::

    submit = XdmIngestOperator(task_id="submit", mapping_id="XDM44", wait=False)
    done = XdmIngestionSensor(
        task_id="done", mapping_id="XDM44",
        request_id="{{ ti.xcom_pull(task_ids='submit')['requestId'] }}")

Each poke reads the request's status: ``Success`` ends the sensor (its XCom is the status
body), ``Failed`` or ``Aborted`` fails the task with that body in the error, ``In
Progress`` pokes again. ``deferrable=True`` waits in the triggerer instead, as the
operator does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.exceptions import AirflowException
from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from xdm_connector.airflow.hooks import DEFAULT_CONN_ID, XdmConnectorHook
from xdm_connector.airflow.operators import ended
from xdm_connector.airflow.triggers import IngestionTrigger
from xdm_connector.client import ClientError


class XdmIngestionSensor(BaseSensorOperator):
    """Waits until request ``request_id`` of ``mapping_id`` ends."""

    template_fields: Sequence[str] = ("mapping_id", "request_id", "org")

    def __init__(
        self,
        *,
        mapping_id: str,
        request_id: int | str,
        org: str | None = None,
        xdm_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mapping_id = mapping_id
        self.request_id = request_id
        self.org = org
        self.xdm_conn_id = xdm_conn_id
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        """Poke, or defer to the triggerer."""
        if self.deferrable:
            self.defer(
                trigger=IngestionTrigger(
                    mapping_id=self.mapping_id,
                    request_id=int(self.request_id),
                    xdm_conn_id=self.xdm_conn_id,
                    org=self.org,
                    timeout=self.timeout,
                    poll_max_seconds=self.poke_interval,
                ),
                method_name="execute_complete",
            )
        return super().execute(context)

    def poke(self, context: Context) -> PokeReturnValue:
        """One status read."""
        hook = XdmConnectorHook(self.xdm_conn_id, org=self.org)
        request_id = int(self.request_id)
        try:
            with hook.client() as client:
                status = client.status(self.mapping_id, request_id)
        except ClientError as exc:
            raise AirflowException(f"{self._what()}: {exc}") from exc
        if not status.ended:
            return PokeReturnValue(is_done=False)
        event = {"status": status.status, "body": status.body}
        return PokeReturnValue(is_done=True, xcom_value=ended(event, self._what()))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the triggerer: the request's last status, or the task fails."""
        return ended(event, self._what())

    def _what(self) -> str:
        return f"request {self.request_id} of mapping {self.mapping_id}"
