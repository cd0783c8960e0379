"""The batch ingestion API of the local platform service (``/data/foundation/import``).

- ``POST /batches``: a new batch of a dataset, ``loading``;
- ``PUT /batches/{id}/datasets/{dataset}/files/{path}``: a file, replaced if sent again;
- large files: ``POST .../files/{path}?action=INITIALIZE`` (201), ``PATCH`` parts with
  ``Content-Range: bytes {start}-{end}/{total}`` (200), ``POST ...?action=COMPLETE`` (201;
  400 when parts overlap or are missing), each answering ``{}``; ``HEAD`` for the bytes
  received so far;
- ``POST /batches/{id}?action=COMPLETE|ABORT|FAIL|REVERT``.

Uploaded bodies are checked from their headers, then streamed to a temporary file of the
batch with a running bound (``uploads.py``) before they take their place.
"""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from xdm_connector.errors import Conflict, InvalidInput, NotFound
from xdm_connector.local_platform.auth import CallerDep
from xdm_connector.local_platform.largefiles import LargeFiles
from xdm_connector.local_platform.storage import PlatformStorage, inside, now_ms
from xdm_connector.local_platform.transitions import signal
from xdm_connector.local_platform.uploads import (
    content_range,
    declared_length,
    length_mismatch,
    receive,
    too_large,
)

router = APIRouter(prefix="/data/foundation/import", tags=["batch ingestion"])
FILE_PATH = "/batches/{batch_id}/datasets/{dataset_id}/files/{file_path:path}"


class InputFormat(BaseModel):
    """The batch's file format: ``json`` (JSON Lines; with ``isMultiLineJson``, one JSON
    document per file, an object or an array of them) or ``parquet``."""

    format: str = Field(pattern="^(json|parquet)$")
    isMultiLineJson: bool = False


class BatchRequest(BaseModel):
    """The body of ``POST /batches`` (fields named as the platform names them; its
    documentation also writes the threshold ``partialIngestionPercent``)."""

    model_config = ConfigDict(extra="ignore")

    datasetId: str
    inputFormat: InputFormat
    enableErrorDiagnostics: bool = False
    partialIngestionPercentage: float = Field(
        default=0,
        ge=0,
        le=100,
        validation_alias=AliasChoices("partialIngestionPercentage", "partialIngestionPercent"),
    )


def _storage(request: Request) -> PlatformStorage:
    storage: PlatformStorage = request.app.state.storage
    return storage


@router.post("/batches", status_code=201)
def create_batch(body: BatchRequest, caller: CallerDep, request: Request) -> JSONResponse:
    """Create a batch of one dataset; files are added until it is completed."""
    storage = _storage(request)
    try:
        storage.load(caller.org, caller.sandbox, "datasets", body.datasetId)
    except NotFound as exc:
        raise InvalidInput(f"dataset {body.datasetId[:200]!r} does not exist") from exc
    created = now_ms()
    diagnosed = body.enableErrorDiagnostics
    percentage = body.partialIngestionPercentage if diagnosed else 0
    batch = {
        "id": uuid.uuid4().hex.upper(),
        "imsOrg": caller.org,
        "sandbox": caller.sandbox,
        "datasetId": body.datasetId,
        "status": "loading",
        "relatedObjects": [{"type": "dataSet", "id": body.datasetId}],
        "inputFormat": body.inputFormat.model_dump(),
        "enableErrorDiagnostics": diagnosed,
        "partialIngestionPercentage": percentage,
        "tags": {"acp_enableErrorDiagnostics": diagnosed, "acp_partialIngestionPercent": percentage}
        if diagnosed
        else {},
        "created": created,
        "createdClient": caller.client_id,
        "createdUser": caller.client_id,
        "updatedUser": caller.client_id,
        "version": "1.0.0",
        "errors": [],
        "metrics": {},
    }
    storage.save_batch(batch)
    return JSONResponse(batch, 201)


def _loading(request: Request, caller: CallerDep, batch_id: str, dataset_id: str) -> None:
    batch = _storage(request).batch(batch_id, caller.org, caller.sandbox)
    if dataset_id != batch["datasetId"]:
        raise NotFound(f"batch {batch_id} has no dataset {dataset_id[:200]!r}")
    if batch["status"] != "loading":
        raise Conflict(f"batch {batch_id} is {batch['status']}: it takes no more files")


@router.put(FILE_PATH)
async def put_file(
    batch_id: str, dataset_id: str, file_path: str, request: Request, caller: CallerDep
) -> Response:
    """Upload a whole file (a second upload of the same path replaces it)."""
    _loading(request, caller, batch_id, dataset_id)
    limit: int = request.app.state.max_file_bytes
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise too_large(declared, limit)
    storage = _storage(request)
    folder = storage.batch_folder(batch_id)
    target = inside(folder / "files", file_path)
    temporary = folder / f".put-{uuid.uuid4().hex}.tmp"

    def commit() -> None:
        with storage.lock(batch_id):
            _loading(request, caller, batch_id, dataset_id)  # not completed meanwhile
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, target)

    try:
        await receive(request, temporary, limit=limit, expected=declared)
        await anyio.to_thread.run_sync(commit)
    finally:
        temporary.unlink(missing_ok=True)
    return Response(status_code=200)


# The large-file calls answer an empty JSON object: clients that read a JSON body from
# every answer (Adobe's aepp) find one.


@router.post(FILE_PATH)
def large_file_action(
    batch_id: str,
    dataset_id: str,
    file_path: str,
    request: Request,
    caller: CallerDep,
    action: Annotated[str, Query()],
) -> Response:
    """``INITIALIZE`` or ``COMPLETE`` a large file sent in ranged parts."""
    storage = _storage(request)
    files = LargeFiles(storage.batch_folder(batch_id))
    with storage.lock(batch_id):
        _loading(request, caller, batch_id, dataset_id)
        match action.upper():
            case "INITIALIZE":
                files.initialize(file_path)
                return JSONResponse({}, 201)
            case "COMPLETE":
                files.complete(file_path)
                return JSONResponse({}, 201)
            case _:
                raise InvalidInput(f"unknown file action {action[:50]!r}: INITIALIZE or COMPLETE")


@router.patch(FILE_PATH)
async def put_part(
    batch_id: str,
    dataset_id: str,
    file_path: str,
    request: Request,
    caller: CallerDep,
    content_range_header: Annotated[str | None, Header(alias="content-range")] = None,
) -> Response:
    """One part of a large file, at the bytes ``Content-Range`` names."""
    _loading(request, caller, batch_id, dataset_id)
    part = content_range(content_range_header, request.app.state.max_file_bytes)
    declared = declared_length(request)
    if declared is not None and declared != part.length:
        raise length_mismatch(str(declared), part.length)
    storage = _storage(request)
    folder = storage.batch_folder(batch_id)
    files = LargeFiles(folder)
    files.check_part(file_path, part)  # before reading: a part refused anyway is not read
    temporary = folder / f".part-{uuid.uuid4().hex}.tmp"

    def write() -> None:
        with storage.lock(batch_id):
            _loading(request, caller, batch_id, dataset_id)
            files.write_part(file_path, part, temporary)

    try:
        await receive(request, temporary, limit=part.length, expected=part.length)
        await anyio.to_thread.run_sync(write)
    finally:
        temporary.unlink(missing_ok=True)
    return JSONResponse({}, 200)


@router.head(FILE_PATH)
def file_received(
    batch_id: str, dataset_id: str, file_path: str, request: Request, caller: CallerDep
) -> Response:
    """How many bytes of a file were received (``Content-Length``), complete or not."""
    batch = _storage(request).batch(batch_id, caller.org, caller.sandbox)
    if dataset_id != batch["datasetId"]:
        raise NotFound(f"batch {batch_id} has no dataset {dataset_id[:200]!r}")
    received, complete = LargeFiles(_storage(request).batch_folder(batch_id)).received(file_path)
    headers = {"Content-Length": str(received), "x-upload-complete": str(complete).lower()}
    return Response(status_code=200, headers=headers)


@router.post("/batches/{batch_id}")
def batch_action(
    batch_id: str, request: Request, caller: CallerDep, action: Annotated[str, Query()]
) -> Any:
    """``COMPLETE`` (then processed in the background), ``ABORT``, ``FAIL`` or ``REVERT``."""
    storage = _storage(request)
    with storage.lock(batch_id):
        batch = storage.batch(batch_id, caller.org, caller.sandbox)
        process = signal(storage, batch, action.upper())
    if process:
        request.app.state.processor.submit(batch_id)
    return Response(status_code=200)
