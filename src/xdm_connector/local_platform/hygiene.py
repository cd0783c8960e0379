"""The Data Hygiene API of the local platform service: record delete work orders.

- ``POST /data/core/hygiene/workorder``: a work order deleting, from one dataset of the
  sandbox, the records of the identities it names (``{"displayName", "description",
  "action": "delete-identity", "datasetId", "namespacesIdentities": [{"namespace":
  {"code": "Email"}, "IDs": [...]}]}``, at most 100,000 identities), answered ``received``;
- ``GET /data/core/hygiene/workorder/{workorderId}``: the work order as it stands;
- ``GET /data/core/hygiene/workorder``: the sandbox's work orders, with the documented
  query parameters: ``search`` (part of the author, display name, description or dataset
  name, case ignored, or the exact work order id), ``type`` (``identity-delete``),
  ``status`` (a comma-separated list), ``author``, ``displayName``, ``description`` (each
  matched whole, case ignored), ``workorderId``, ``orderBy`` (a field, ``-`` first for
  descending; newest first by default), ``page`` (from 0) and ``limit`` (1 to 100, 25 by
  default); answered ``{"results": [...], "total": n, "count": k, "_links": {"next":
  {"href", "templated"}, "page": {"href", "templated"}}}`` (``next`` while more follow).

A work order moves ``received`` → ``submitted`` → ``completed`` in a background thread
(``WorkOrderProcessor``), which removes from the dataset's lake the records that hold one of
its identities in their ``identityMap`` (namespace codes compared without case). A work
order of an unknown dataset is a 404, a body that is not one a 400, as the platform answers.
A ``workorder`` fault (``faults.py``) fails the next ones with its ``value`` as the reason.

::

    <root>/workorders/<workorderId>.json    each work order, with its identities
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from xdm_connector.destinations.lake import read_json, write_json
from xdm_connector.errors import InvalidInput, NotFound
from xdm_connector.local_platform.auth import CallerDep
from xdm_connector.local_platform.faults import Faults
from xdm_connector.local_platform.storage import PlatformStorage

log = logging.getLogger(__name__)

router = APIRouter(prefix="/data/core/hygiene", tags=["data hygiene"])
MAX_IDENTITIES = 100_000
DELETE_IDENTITY = "delete-identity"
ANSWERED_ACTION = "identity-delete"
SUBMITTED = "submitted"
"""The documented status of a work order being processed."""
DEFAULT_LIST_LIMIT = 25
MAX_LIST_LIMIT = 100
"""The action as the platform writes it in its answers."""
_HIDDEN = ("identities", "imsOrg", "sandbox")
"""What the service keeps of a work order but does not answer."""


class Namespace(BaseModel):
    code: str = Field(min_length=1, max_length=100)


class NamespaceIdentities(BaseModel):
    namespace: Namespace
    IDs: list[str] = Field(min_length=1)


class WorkOrderRequest(BaseModel):
    """The body of ``POST /workorder``."""

    model_config = ConfigDict(extra="ignore")

    displayName: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=2000)
    action: str
    datasetId: str = Field(min_length=1)
    namespacesIdentities: list[NamespaceIdentities] = Field(min_length=1)


class WorkOrderProcessor:
    """Applies received work orders to the lake, one at a time, in a background thread."""

    def __init__(self, storage: PlatformStorage, faults: Faults | None = None) -> None:
        self.storage = storage
        self.faults = faults
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-hygiene")

    def submit(self, work_order_id: str) -> None:
        """Process the work order in the background."""
        self._executor.submit(self._process_logged, work_order_id)

    def resume(self) -> None:
        """Process again the work orders a stopped service left unfinished."""
        for order in work_orders(self.storage):
            if order["status"] in ("received", SUBMITTED):
                self.submit(order["workorderId"])

    def close(self) -> None:
        """Let the running work order finish; the queued ones wait for the next start."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _process_logged(self, work_order_id: str) -> None:
        try:
            self.process(work_order_id)
        except Exception:
            log.exception("work order %s failed to process", work_order_id)
            self._end(work_order_id, "failed", "The service failed on this work order.")

    def process(self, work_order_id: str) -> None:
        """Move the work order to ``submitted``, delete its records, end it."""
        order = self._move(work_order_id, SUBMITTED)
        fault = self.faults.take("workorder") if self.faults is not None else None
        if fault is not None:
            self._end(work_order_id, "failed", str(fault.value or "injected failure"))
            return
        wanted = {
            (namespace.lower(), identity)
            for namespace, ids in order["identities"].items()
            for identity in ids
        }
        lake = self.storage.lake(order["sandbox"])
        removed = lake.remove_records(
            order["imsOrg"], order["datasetId"], lambda line: _holds(line, wanted)
        )
        log.info("work order %s deleted %s records", work_order_id, removed)
        self._end(work_order_id, "completed")

    def _move(self, work_order_id: str, status: str) -> dict[str, Any]:
        with self.storage.lock(work_order_id):
            order = read_json(_path(self.storage, work_order_id))
            order["status"] = status
            _save(self.storage, order)
            return order

    def _end(self, work_order_id: str, status: str, reason: str = "") -> None:
        with self.storage.lock(work_order_id):
            order = read_json(_path(self.storage, work_order_id))
            order["status"] = status
            if reason:
                order["errorMessage"] = reason
            _save(self.storage, order)


def _holds(line: bytes, wanted: set[tuple[str, str]]) -> bool:
    """Whether the JSON Lines record holds one of the ``wanted`` identities."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    identity_map = record.get("identityMap") if isinstance(record, dict) else None
    if not isinstance(identity_map, dict):
        return False
    for namespace, identities in identity_map.items():
        for identity in identities if isinstance(identities, list) else []:
            if isinstance(identity, dict) and (namespace.lower(), identity.get("id")) in wanted:
                return True
    return False


def _path(storage: PlatformStorage, work_order_id: str) -> Path:
    if not work_order_id.startswith("DI-") or not all(
        c.isalnum() or c == "-" for c in work_order_id
    ):
        raise NotFound(f"no work order {work_order_id[:200]!r}")
    return storage.root / "workorders" / f"{work_order_id}.json"


def _save(storage: PlatformStorage, order: dict[str, Any]) -> None:
    order["updatedAt"] = _now()
    write_json(_path(storage, order["workorderId"]), order)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def work_orders(storage: PlatformStorage) -> list[dict[str, Any]]:
    """Every work order the service keeps."""
    folder = storage.root / "workorders"
    return [read_json(path) for path in folder.glob("DI-*.json")] if folder.is_dir() else []


def _answer(order: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in order.items() if key not in _HIDDEN}


def _order_of(storage: PlatformStorage, work_order_id: str, caller: Any) -> dict[str, Any]:
    path = _path(storage, work_order_id)
    order = read_json(path) if path.is_file() else None
    if order is None or (order["imsOrg"], order["sandbox"]) != (caller.org, caller.sandbox):
        raise NotFound(f"no work order {work_order_id[:200]!r}")
    return order


@router.post("/workorder")
def create_work_order(body: WorkOrderRequest, caller: CallerDep, request: Request) -> JSONResponse:
    """A work order deleting the records of the identities it names from one dataset."""
    storage: PlatformStorage = request.app.state.storage
    if body.action != DELETE_IDENTITY:
        raise InvalidInput(f"action {body.action[:100]!r} must be {DELETE_IDENTITY!r}")
    count = sum(len(entry.IDs) for entry in body.namespacesIdentities)
    if count > MAX_IDENTITIES:
        raise InvalidInput(f"a work order takes at most {MAX_IDENTITIES} identities, not {count}")
    dataset = storage.load(caller.org, caller.sandbox, "datasets", body.datasetId)
    identities: dict[str, list[str]] = {}
    for entry in body.namespacesIdentities:
        identities.setdefault(entry.namespace.code, []).extend(entry.IDs)
    now = _now()
    order = {
        "workorderId": f"DI-{uuid.uuid4()}",
        "orgId": caller.org,
        "bundleId": f"BN-{uuid.uuid4()}",
        "action": ANSWERED_ACTION,
        "createdAt": now,
        "updatedAt": now,
        "operationCount": 1,
        "targetServices": ["datalake"],
        "status": "received",
        "createdBy": caller.org,
        "datasetId": body.datasetId,
        "datasetName": dataset.get("name", ""),
        "displayName": body.displayName,
        "description": body.description,
        "identities": identities,
        "imsOrg": caller.org,
        "sandbox": caller.sandbox,
    }
    _save(storage, order)
    request.app.state.hygiene.submit(order["workorderId"])
    return JSONResponse(_answer(order))


@router.get("/workorder/{work_order_id}")
def get_work_order(work_order_id: str, caller: CallerDep, request: Request) -> JSONResponse:
    """One work order, as it stands."""
    storage: PlatformStorage = request.app.state.storage
    return JSONResponse(_answer(_order_of(storage, work_order_id, caller)))


@router.get("/workorder")
def list_work_orders(
    caller: CallerDep,
    request: Request,
    search: str | None = None,
    type: str | None = None,
    status: str | None = None,
    author: str | None = None,
    displayName: str | None = None,
    description: str | None = None,
    workorderId: str | None = None,
    orderBy: str = "-createdAt",
    page: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT,
) -> JSONResponse:
    """The sandbox's work orders that match every filter given, sorted by ``orderBy``
    (newest first by default), a page of ``limit`` at a time (see the module)."""
    storage: PlatformStorage = request.app.state.storage
    statuses = set(status.split(",")) if status else None
    exact = {"action": type, "workorderId": workorderId}
    alike = {"createdBy": author, "displayName": displayName, "description": description}
    found = [
        order
        for order in work_orders(storage)
        if (order["imsOrg"], order["sandbox"]) == (caller.org, caller.sandbox)
        and (search is None or _searched(order, search))
        and (statuses is None or order["status"] in statuses)
        and all(wanted in (None, order.get(key)) for key, wanted in exact.items())
        and all(
            wanted is None or str(order.get(key, "")).lower() == wanted.lower()
            for key, wanted in alike.items()
        )
    ]
    field = orderBy.lstrip("+-") or "createdAt"
    found.sort(
        key=lambda order: (str(order.get(field, "")), order["workorderId"]),
        reverse=orderBy.startswith("-"),
    )
    shown = found[page * limit : (page + 1) * limit]
    base = str(request.url.replace(query=""))
    links: dict[str, Any] = {
        "page": {"href": f"{base}?limit={{limit}}&page={{page}}", "templated": True}
    }
    if (page + 1) * limit < len(found):
        links["next"] = {"href": f"{base}?page={page + 1}&limit={limit}", "templated": False}
    return JSONResponse(
        {
            "results": [_answer(order) for order in shown],
            "total": len(found),
            "count": len(shown),
            "_links": links,
        }
    )


def _searched(order: dict[str, Any], search: str) -> bool:
    """Whether ``search`` is part of the work order's author, display name, description or
    dataset name (case ignored), or its exact id."""
    wanted = search.lower()
    fields = ("createdBy", "displayName", "description", "datasetName")
    return order["workorderId"] == search or any(
        wanted in str(order.get(name, "")).lower() for name in fields
    )
