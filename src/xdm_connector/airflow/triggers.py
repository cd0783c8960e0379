"""``IngestionTrigger``: follows an ingestion request in Airflow's triggerer until it ends.

It runs ``AsyncXdmClient.wait`` (the request's event stream, else its status polled) and
fires one event: ``{"status": "Success"|"Failed"|"Aborted", "body": <status body>}``, or
``{"status": "error", "message": ...}`` when the wait itself failed (the server refused,
could not be reached, or the request outlived ``timeout``). Its stored arguments name the
connection, never a secret.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from xdm_connector.airflow.hooks import DEFAULT_CONN_ID, XdmConnectorHook
from xdm_connector.client import ClientError, WaitTimedOut


class IngestionTrigger(BaseTrigger):
    """Waits for request ``request_id`` of ``mapping_id`` to end."""

    def __init__(
        self,
        *,
        mapping_id: str,
        request_id: int,
        xdm_conn_id: str = DEFAULT_CONN_ID,
        org: str | None = None,
        timeout: float | None = None,
        poll_max_seconds: float = 5.0,
    ) -> None:
        super().__init__()
        self.mapping_id = mapping_id
        self.request_id = request_id
        self.xdm_conn_id = xdm_conn_id
        self.org = org
        self.timeout = timeout
        self.poll_max_seconds = poll_max_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class's path and its arguments, as the triggerer stores them."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "mapping_id": self.mapping_id,
                "request_id": self.request_id,
                "xdm_conn_id": self.xdm_conn_id,
                "org": self.org,
                "timeout": self.timeout,
                "poll_max_seconds": self.poll_max_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the request's end; one event says how it ended."""
        hook = XdmConnectorHook(self.xdm_conn_id, org=self.org)
        try:
            async with await hook.async_client(poll_max_seconds=self.poll_max_seconds) as client:
                status = await client.wait(
                    self.mapping_id, self.request_id, timeout=self.timeout, check=False
                )
        except WaitTimedOut as exc:
            last = exc.status.body if exc.status is not None else None
            yield TriggerEvent({"status": "error", "message": str(exc), "body": last})
            return
        except ClientError as exc:
            yield TriggerEvent({"status": "error", "message": f"{exc.code} {exc}", "body": None})
            return
        yield TriggerEvent({"status": status.status, "body": status.body})
