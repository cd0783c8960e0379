"""The local platform service's folder: clients, schemas, datasets, batches and its lake.

::

    <root>/clients.json                                   API clients (secrets as digests)
    <root>/sandboxes/<imsOrg>/<sandbox>/schemas/<n>.json  tenant schemas (class + groups)
    <root>/sandboxes/<imsOrg>/<sandbox>/datasets/<id>.json
    <root>/batches/<id>/batch.json                        the catalog's batch object
    <root>/batches/<id>/files/<path>                      uploaded files
    <root>/batches/<id>/uploads/<path>                    large files being received
    <root>/batches/<id>/failed.jsonl                      records refused, with why
    <root>/batches/<id>/row_errors/<kind>_errors_0.json   the same, as the platform's
                                                          diagnostics (diagnostics.py)
    <root>/lake/<sandbox>/<imsOrg>/<dataset>/batch=.../   accepted records (JSON Lines)

Every path built from a request goes through ``safe_relative``: segments of letters,
digits and ``_ . - @ =``, no ``..``, nothing absolute, nothing encoded; the result is
checked to stay under its folder. Objects are JSON files replaced atomically.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xdm_connector.destinations.base import check_name
from xdm_connector.destinations.lake import LakeDestination, read_json, write_json
from xdm_connector.errors import InvalidInput, NotFound
from xdm_connector.security.credentials import digest

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@=-]{0,199}")
MAX_PATH_SEGMENTS = 16


def now_ms() -> int:
    """The current time in epoch milliseconds, as the catalog writes times."""
    return int(time.time() * 1000)


def safe_relative(path: str) -> str:
    """``path`` if it is a safe relative file path (``part-0.parquet``, ``day=1/part-0``)."""
    segments = path.split("/")
    if (
        not path
        or len(path) > 1000
        or len(segments) > MAX_PATH_SEGMENTS
        or not all(_SEGMENT.fullmatch(s) and ".." not in s for s in segments)
    ):
        raise InvalidInput(
            f"invalid file path {path[:200]!r}: relative, segments of letters, digits and "
            "_ . - @ = (no '..', no leading '.')"
        )
    return path


def inside(folder: Path, relative: str) -> Path:
    """``folder / relative``, refusing anything that would leave ``folder``."""
    target = (folder / safe_relative(relative)).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise InvalidInput(f"invalid file path {relative[:200]!r}")
    return target


@dataclass(frozen=True)
class PlatformClient:
    """An API client of the service: its id, its secret's digest, its organization if bound."""

    id: str
    secret_digest: str
    ims_org: str | None


class PlatformStorage:
    """Everything the service keeps, under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- clients -------------------------------------------------------------------------------

    def create_client(self, name: str, ims_org: str | None = None) -> tuple[str, str]:
        """A new API client; answers its id and secret (the secret is kept as a digest).

        A client of ``ims_org`` calls for that organization only, as an Adobe technical
        account does; a client without one may call for any organization.
        """
        entry = {"name": name}
        if ims_org is not None:
            entry["imsOrg"] = check_name(ims_org, "IMS org")
        client_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        with self.lock("clients"):
            document = self._clients()
            document["clients"][client_id] = {**entry, "secretDigest": digest(secret)}
            write_json(self.root / "clients.json", document)
        return client_id, secret

    def client(self, client_id: str) -> PlatformClient | None:
        """A registered client, or ``None`` for an unknown one."""
        client = self._clients()["clients"].get(client_id)
        if client is None:
            return None
        org = client.get("imsOrg")
        return PlatformClient(client_id, str(client["secretDigest"]), str(org) if org else None)

    def _clients(self) -> dict[str, Any]:
        path = self.root / "clients.json"
        return read_json(path) if path.is_file() else {"clients": {}}

    # -- schemas and datasets ------------------------------------------------------------------

    def sandbox(self, org: str, sandbox: str) -> Path:
        """The folder of one organization's sandbox."""
        return self.root / "sandboxes" / check_name(org, "IMS org") / check_name(sandbox, "Sandbox")

    def save(self, org: str, sandbox: str, kind: str, name: str, document: dict[str, Any]) -> None:
        """Keep a schema or dataset (``kind``) of a sandbox under ``name``."""
        write_json(self.sandbox(org, sandbox) / kind / f"{check_name(name, kind)}.json", document)

    def load(self, org: str, sandbox: str, kind: str, name: str) -> dict[str, Any]:
        """A kept schema or dataset, or ``NotFound``."""
        path = self.sandbox(org, sandbox) / kind / f"{name}.json"
        if not _SEGMENT.fullmatch(name) or not path.is_file():
            raise NotFound(f"no {kind.rstrip('s')} {name[:200]!r} in this sandbox")
        return read_json(path)

    def names(self, org: str, sandbox: str, kind: str) -> list[str]:
        """The names of a sandbox's schemas or datasets."""
        folder = self.sandbox(org, sandbox) / kind
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    # -- batches -------------------------------------------------------------------------------

    def batch_folder(self, batch_id: str) -> Path:
        """The folder of a batch."""
        return self.root / "batches" / check_name(batch_id, "Batch id")

    def save_batch(self, batch: dict[str, Any]) -> None:
        """Keep a batch's catalog object."""
        batch["updated"] = now_ms()
        write_json(self.batch_folder(batch["id"]) / "batch.json", batch)

    def batch(self, batch_id: str, org: str, sandbox: str) -> dict[str, Any]:
        """The batch of that organization's sandbox, or ``NotFound``."""
        if not _SEGMENT.fullmatch(batch_id):
            raise NotFound(f"no batch {batch_id[:200]!r}")
        path = self.root / "batches" / batch_id / "batch.json"
        batch = read_json(path) if path.is_file() else None
        if batch is None or (batch["imsOrg"], batch["sandbox"]) != (org, sandbox):
            raise NotFound(f"no batch {batch_id}")
        return batch

    def batch_of(self, batch_id: str) -> dict[str, Any]:
        """A batch by id alone (the service's own work, never a request's)."""
        return read_json(self.batch_folder(batch_id) / "batch.json")

    def batches(self) -> Iterator[dict[str, Any]]:
        """Every batch of every sandbox."""
        for path in (self.root / "batches").glob("*/batch.json"):
            yield read_json(path)

    def lake(self, sandbox: str) -> LakeDestination:
        """The lake of a sandbox's accepted records (organizations as its top folders)."""
        return LakeDestination(self.root / "lake" / check_name(sandbox, "Sandbox"))

    def lock(self, name: str) -> threading.Lock:
        """The lock serializing changes to one object (a batch, the clients)."""
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())
