"""Record deletes through the platform's Data Hygiene API: work orders by identity.

A record delete work order removes, from one dataset, the records whose primary identity
(a namespace code and a value) it names::

    hygiene = HygieneApi(api)
    order = hygiene.create(
        dataset_id="5da9...", namespace="Email", ids=["a@example.com"], name="xdm-connector ..."
    )                                   # POST /data/core/hygiene/workorder
    hygiene.status(order.id)            # GET  /data/core/hygiene/workorder/{workorderId}
    hygiene.named("xdm-connector ...")  # GET  /data/core/hygiene/workorder?search=...&page=0

The body is the documented one: ``{"displayName", "description", "action":
"delete-identity", "datasetId", "namespacesIdentities": [{"namespace": {"code": ...},
"IDs": [...]}]}``; the answer's ``workorderId`` and ``status`` (``received``, then
``in-progress``/``processing``, ``completed`` or ``failed``) are read. One work order takes
at most ``MAX_IDENTITIES_PER_WORK_ORDER`` identities (100,000): its caller splits more
(``pipeline/work_orders.py``). The list call takes the documented query parameters
(``search``, ``status``, ``type``, ``page`` from 0, ``limit`` up to 100, ...) and answers
``{"results": [...], "total", "count", "_links": {"next", "page"}}``.
Calls go through ``PlatformApi`` (headers, token, retries by the policy, ``PlatformError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from xdm_connector.destinations.aep.answers import PlatformError
from xdm_connector.destinations.aep.client import PlatformApi
from xdm_connector.destinations.base import WorkOrder

WORK_ORDERS = "/data/core/hygiene/workorder"
DELETE_IDENTITY = "delete-identity"
MAX_IDENTITIES_PER_WORK_ORDER = 100_000
"""The documented limit of identities in one work order created through the API."""
LIST_LIMIT = 100
"""Work orders per page of the list call: its documented maximum (default 25)."""
MAX_LIST_PAGES = 100
"""The pages of one list call read at most: the work orders of one name are few."""
COMPLETED = "completed"
FAILED = "failed"
_MAX_REASON = 2000


def work_order_body(
    *, dataset_id: str, namespace: str, ids: Sequence[str], name: str, description: str
) -> dict[str, Any]:
    """The documented body of ``POST /workorder`` deleting ``ids`` of ``namespace``."""
    return {
        "displayName": name,
        "description": description,
        "action": DELETE_IDENTITY,
        "datasetId": dataset_id,
        "namespacesIdentities": [{"namespace": {"code": namespace}, "IDs": list(ids)}],
    }


class HygieneApi:
    """The Data Hygiene work order calls of one platform, organization and sandbox."""

    def __init__(self, api: PlatformApi) -> None:
        self.api = api

    def create(
        self,
        *,
        dataset_id: str,
        namespace: str,
        ids: Sequence[str],
        name: str,
        description: str = "",
    ) -> WorkOrder:
        """A new work order deleting the records of ``ids`` (at most the limit) from the
        dataset; ``name`` is its ``displayName``, by which ``named`` finds it again."""
        if not ids or len(ids) > MAX_IDENTITIES_PER_WORK_ORDER:
            raise ValueError(
                f"a work order takes 1 to {MAX_IDENTITIES_PER_WORK_ORDER} identities, "
                f"not {len(ids)}"
            )
        body = work_order_body(
            dataset_id=dataset_id, namespace=namespace, ids=ids, name=name, description=description
        )
        response = self.api.call("POST", WORK_ORDERS, json=body)
        return parse_work_order(_object(response.json()))

    def status(self, work_order_id: str) -> WorkOrder:
        """The work order ``work_order_id`` as it stands."""
        path = f"{WORK_ORDERS}/{quote(work_order_id, safe='')}"
        return parse_work_order(_object(self.api.call("GET", path).json()))

    def named(self, name: str) -> list[WorkOrder]:
        """The work orders whose ``displayName`` is ``name``: the list call searched by it
        (``search`` matches part of a display name, description, author or dataset name,
        so the answers are filtered again), read a page of ``LIST_LIMIT`` at a time (``page``
        from 0) until its ``total`` is read, at most ``MAX_LIST_PAGES`` pages."""
        found: list[WorkOrder] = []
        read = 0
        for page in range(MAX_LIST_PAGES):
            params = {"search": name, "limit": str(LIST_LIMIT), "page": str(page)}
            document = _object(self.api.call("GET", WORK_ORDERS, params=params).json())
            listed = document.get("results")
            orders = [
                parse_work_order(entry)
                for entry in (listed if isinstance(listed, list) else [])
                if isinstance(entry, dict)
            ]
            found.extend(order for order in orders if order.display_name == name)
            read += len(orders)
            total = document.get("total")
            if not orders or not isinstance(total, int) or read >= total:
                break
        return found


def parse_work_order(document: dict[str, Any]) -> WorkOrder:
    """A work order answer as a ``WorkOrder``; ``PlatformError`` without its id."""
    work_order_id = document.get("workorderId")
    if not isinstance(work_order_id, str) or not work_order_id:
        raise PlatformError("the platform answered a work order without 'workorderId'")
    status = str(document.get("status") or "").lower()
    name = document.get("displayName")
    return WorkOrder(
        id=work_order_id,
        status=status,
        display_name=name if isinstance(name, str) else "",
        reason=_reason(document) if status == FAILED else "",
    )


def _reason(document: dict[str, Any]) -> str:
    """Why a work order failed: its products' statuses that are not a success, else its
    own ``errorMessage``/``message``."""
    details = document.get("productStatusDetails")
    parts = [
        f"{entry.get('productName')}: {entry.get('productStatus')}"
        + (f" ({entry['message']})" if isinstance(entry.get("message"), str) else "")
        for entry in (details if isinstance(details, list) else [])
        if isinstance(entry, dict) and entry.get("productStatus") not in ("success", None)
    ]
    message = document.get("errorMessage") or document.get("message")
    if isinstance(message, str) and message:
        parts.insert(0, message)
    return "; ".join(parts)[:_MAX_REASON] or "the platform failed the work order"


def _object(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise PlatformError("the platform answered a work order call with no JSON object")
    return document
