"""The catalog, schema registry and failed-records reads of the local platform service.

- ``GET /data/foundation/catalog/batches/{id}``: ``{"<id>": {"status", "metrics", "errors", ...}}``;
- ``GET /data/foundation/catalog/batches?dataSet=&status=&limit=``: newest first;
- ``POST|GET /data/foundation/catalog/dataSets``, ``GET .../dataSets/{id}``;
- ``POST|GET /data/foundation/schemaregistry/tenant/schemas``, ``GET .../schemas/{$id or
  meta:altId}`` (with ``Accept: application/vnd.adobe.xed-full+json``: the composed schema);
- ``GET /data/foundation/export/batches/{id}/failed``: the batch's refused records, JSON
  Lines, each with its ``_errors``;
- ``GET /data/foundation/export/batches/{id}/meta?path=row_errors``: the listing of its row
  error files (a batch created with ``enableErrorDiagnostics``), then
  ``?path=row_errors/<name>``: one of them, JSON Lines (``diagnostics.py``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from xdm_connector.errors import NotFound
from xdm_connector.local_platform.auth import CallerDep
from xdm_connector.local_platform.datasets import (
    composed_schema,
    create_dataset,
    create_schema,
    get_schema,
)
from xdm_connector.local_platform.diagnostics import ROW_ERRORS, row_error_files
from xdm_connector.local_platform.storage import PlatformStorage
from xdm_connector.xdm.registry import SchemaRegistry

router = APIRouter(prefix="/data/foundation", tags=["catalog"])


def _storage(request: Request) -> PlatformStorage:
    storage: PlatformStorage = request.app.state.storage
    return storage


def _registry(request: Request) -> SchemaRegistry:
    registry: SchemaRegistry = request.app.state.registry
    return registry


@router.get("/catalog/batches/{batch_id}")
def get_batch(batch_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """One batch, keyed by its id."""
    batch = _storage(request).batch(batch_id, caller.org, caller.sandbox)
    return JSONResponse({batch_id: batch})


@router.get("/catalog/batches")
def list_batches(
    request: Request,
    caller: CallerDep,
    data_set: Annotated[str | None, Query(alias="dataSet")] = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JSONResponse:
    """The sandbox's batches, newest first, keyed by id."""
    found = [
        batch
        for batch in _storage(request).batches()
        if (batch["imsOrg"], batch["sandbox"]) == (caller.org, caller.sandbox)
        and data_set in (None, batch["datasetId"])
        and status in (None, batch["status"])
    ]
    found.sort(key=lambda batch: (batch["created"], batch["id"]), reverse=True)
    return JSONResponse({batch["id"]: batch for batch in found[:limit]})


class SchemaRequest(BaseModel):
    """A tenant schema: a class and field groups, by ``$ref``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    title: str = Field(min_length=1, max_length=256)
    all_of: list[dict[str, str]] = Field(alias="allOf", min_length=1)


@router.post("/schemaregistry/tenant/schemas", status_code=201)
def post_schema(body: SchemaRequest, request: Request, caller: CallerDep) -> JSONResponse:
    """Create a tenant schema of a class and field groups."""
    refs = [part.get("$ref", "") for part in body.all_of]
    schema = create_schema(
        _storage(request),
        _registry(request),
        caller.org,
        caller.sandbox,
        title=body.title,
        refs=refs,
    )
    return JSONResponse(schema, 201)


@router.get("/schemaregistry/tenant/schemas")
def list_schemas(request: Request, caller: CallerDep) -> JSONResponse:
    """The sandbox's tenant schemas."""
    storage = _storage(request)
    names = storage.names(caller.org, caller.sandbox, "schemas")
    return JSONResponse(
        {"results": [get_schema(storage, caller.org, caller.sandbox, name) for name in names]}
    )


@router.get("/schemaregistry/tenant/schemas/{ref:path}")
def get_tenant_schema(
    ref: str, request: Request, caller: CallerDep, accept: Annotated[str, Header()] = ""
) -> JSONResponse:
    """A tenant schema; its composed XED form when asked with ``xed-full``."""
    schema = get_schema(_storage(request), caller.org, caller.sandbox, ref)
    if "xed-full" in accept:
        return JSONResponse(composed_schema(_registry(request), schema).json_schema)
    return JSONResponse(schema)


class DatasetRequest(BaseModel):
    """A dataset of a tenant schema; ``id`` (a local extension) chooses its id."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=256)
    schema_ref: dict[str, str] = Field(alias="schemaRef")
    id: str | None = None


@router.post("/catalog/dataSets", status_code=201)
def post_dataset(body: DatasetRequest, request: Request, caller: CallerDep) -> JSONResponse:
    """Create a dataset; answers ``["@/dataSets/<id>"]`` as the catalog does."""
    dataset = create_dataset(
        _storage(request),
        caller.org,
        caller.sandbox,
        name=body.name,
        schema_ref=body.schema_ref.get("id", ""),
        dataset_id=body.id,
    )
    return JSONResponse([f"@/dataSets/{dataset['id']}"], 201)


@router.get("/catalog/dataSets")
def list_datasets(request: Request, caller: CallerDep) -> JSONResponse:
    """The sandbox's datasets, keyed by id."""
    storage = _storage(request)
    names = storage.names(caller.org, caller.sandbox, "datasets")
    return JSONResponse(
        {name: storage.load(caller.org, caller.sandbox, "datasets", name) for name in names}
    )


@router.get("/catalog/dataSets/{dataset_id}")
def get_dataset(dataset_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """One dataset, keyed by its id."""
    dataset = _storage(request).load(caller.org, caller.sandbox, "datasets", dataset_id)
    return JSONResponse({dataset_id: dataset})


@router.get("/export/batches/{batch_id}/failed")
def failed_records(batch_id: str, request: Request, caller: CallerDep) -> Response:
    """The records the batch refused, one JSON object per line with its ``_errors``."""
    storage = _storage(request)
    storage.batch(batch_id, caller.org, caller.sandbox)
    path = storage.batch_folder(batch_id) / "failed.jsonl"
    content: Any = path.read_bytes() if path.is_file() else b""
    return Response(content, media_type="application/x-ndjson")


META_PAGE_LIMIT = 100


@router.get("/export/batches/{batch_id}/meta")
def batch_meta(
    batch_id: str, request: Request, caller: CallerDep, path: Annotated[str, Query()]
) -> Response:
    """``path=row_errors``: the listing of the batch's row error files, as the platform
    pages it; ``path=row_errors/<name>``: that file, JSON Lines."""
    storage = _storage(request)
    storage.batch(batch_id, caller.org, caller.sandbox)
    files = row_error_files(storage.batch_folder(batch_id))
    if path.strip("/") == ROW_ERRORS:
        base = str(request.url.remove_query_params("path"))
        listed = [
            {
                "name": file.name,
                "length": str(file.stat().st_size),
                "_links": {
                    "self": {"href": f"{base}?{urlencode({'path': f'{ROW_ERRORS}/{file.name}'})}"}
                },
            }
            for file in files[:META_PAGE_LIMIT]
        ]
        page = {"limit": META_PAGE_LIMIT, "count": len(listed)}
        return JSONResponse({"data": listed, "_page": page})
    found = next((file for file in files if f"{ROW_ERRORS}/{file.name}" == path), None)
    if found is None:
        raise NotFound(f"batch {batch_id} has no meta file {path[:200]!r}")
    return Response(found.read_bytes(), media_type="application/x-ndjson")
