"""A batch's signals on the local platform service: one function per transition.

::

    loading ──COMPLETE──► processing ──► success ──REVERT──► deleted
       │                      │      └─► failed
       ├──FAIL──► failed      │
       └──ABORT──► aborted ◄──┘

Repeating a signal that already took effect is answered 200 and changes nothing (the
platform documents ``COMPLETE`` as safe to retry); a signal the state forbids is a
``Conflict``.
"""

from __future__ import annotations

import shutil
from typing import Any

from xdm_connector.errors import Conflict, InvalidInput
from xdm_connector.local_platform.storage import PlatformStorage, now_ms

ACTIONS = ("COMPLETE", "ABORT", "FAIL", "REVERT")
_ENDED_BY = {"ABORT": ("aborted", "failed"), "FAIL": ("failed",), "REVERT": ("deleted",)}
"""The states in which a signal is answered 200 without a change: it took effect already,
or (``ABORT`` of a failed batch) nothing of the batch is visible anyway."""


def signal(storage: PlatformStorage, batch: dict[str, Any], action: str) -> bool:
    """Apply ``action`` to ``batch`` (its lock held); answers whether to process it now."""
    status = batch["status"]
    match action:
        case "COMPLETE":
            return _complete(storage, batch)
        case "ABORT" if status in ("loading", "processing"):
            _drop_files(storage, batch)
            _move(storage, batch, "aborted")
        case "FAIL" if status == "loading":
            _drop_files(storage, batch)
            batch["errors"] = [
                {"code": "INGEST-1203-400", "description": "The batch was failed by its client."}
            ]
            _move(storage, batch, "failed")
        case "REVERT" if status == "success":
            if batch.get("lakeBatchId"):
                storage.lake(batch["sandbox"]).abort(batch["lakeBatchId"])
            _move(storage, batch, "deleted")
        case "ABORT" | "FAIL" | "REVERT":
            if status not in _ENDED_BY[action]:
                raise Conflict(f"batch {batch['id']} is {status}: it cannot take {action}")
        case _:
            raise InvalidInput(f"unknown batch action {action[:50]!r}: one of {', '.join(ACTIONS)}")
    return False


def _complete(storage: PlatformStorage, batch: dict[str, Any]) -> bool:
    status = batch["status"]
    if status in ("processing", "success", "failed"):
        return False
    if status != "loading":
        raise Conflict(f"batch {batch['id']} is {status}: it cannot be completed")
    pending = storage.batch_folder(batch["id"]) / "parts"
    if pending.is_dir() and any(p.is_file() for p in pending.rglob("*")):
        raise InvalidInput(f"batch {batch['id']} has large files still being received")
    _move(storage, batch, "processing")
    return True


def _move(storage: PlatformStorage, batch: dict[str, Any], status: str) -> None:
    batch["status"] = status
    if status != "processing":
        batch["completed"] = now_ms()
    storage.save_batch(batch)


def _drop_files(storage: PlatformStorage, batch: dict[str, Any]) -> None:
    folder = storage.batch_folder(batch["id"])
    for part in ("files", "uploads", "parts", "accepted"):
        shutil.rmtree(folder / part, ignore_errors=True)
