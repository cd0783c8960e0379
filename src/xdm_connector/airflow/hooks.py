"""``XdmConnectorHook``: an xdm-connector server as an Airflow connection.

The connection (``xdm_connector_default`` unless named) holds the server and the
integration::

    AIRFLOW_CONN_XDM_CONNECTOR_DEFAULT='{"conn_type": "http", "host": "xdmc.example.com",
      "schema": "https", "port": 443, "login": "<client id>", "password": "<client secret>",
      "extra": {"org": "acme"}}'

``host`` may be a whole URL (``http://127.0.0.1:8080``); ``schema`` is the scheme
(``http`` by default); ``extra.org`` the organization, unless the operator names one.
"""

from __future__ import annotations

from typing import Any

from airflow.exceptions import AirflowException
from airflow.sdk import BaseHook

from xdm_connector.client import AsyncXdmClient, XdmClient

DEFAULT_CONN_ID = "xdm_connector_default"


class XdmConnectorHook(BaseHook):
    """Clients of the server and organization an Airflow connection names."""

    conn_name_attr = "xdm_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "http"
    hook_name = "xdm-connector"

    def __init__(self, xdm_conn_id: str = DEFAULT_CONN_ID, org: str | None = None) -> None:
        super().__init__()
        self.xdm_conn_id = xdm_conn_id
        self.org = org

    def client(self, **options: Any) -> XdmClient:
        """A synchronous client (close it, or use it in a ``with`` block)."""
        return XdmClient(**self._arguments(self.get_connection(self.xdm_conn_id)), **options)

    async def async_client(self, **options: Any) -> AsyncXdmClient:
        """An asynchronous client, for triggers (the connection read without blocking)."""
        connection = await self.aget_connection(self.xdm_conn_id)
        return AsyncXdmClient(**self._arguments(connection), **options)

    def _arguments(self, connection: Any) -> dict[str, Any]:
        host = connection.host or ""
        if "://" in host:
            url = host if not connection.port else f"{host.rstrip('/')}:{connection.port}"
        else:
            scheme = connection.schema or "http"
            url = f"{scheme}://{host}" + (f":{connection.port}" if connection.port else "")
        org = self.org or connection.extra_dejson.get("org")
        if not host or not org or not connection.login or not connection.password:
            raise AirflowException(
                f"the connection {self.xdm_conn_id} needs a host, a login (the client id), "
                "a password (the client secret) and an organization (extra.org or org=)"
            )
        return {
            "base_url": url,
            "org": org,
            "client_id": connection.login,
            "client_secret": connection.password,
        }
