"""Datasets and XDM schemas as the platform's catalog and schema registry describe them.

Publishing a mapping of an organization that delivers to a platform reads its dataset and
that dataset's schema there::

    with open_catalog(config, policy=policy, timeout=30.0) as catalog:
        dataset = catalog.dataset("5da9452f7de80400007jc52a")
        # PlatformDataset(id="5da9...", name="Profiles", schema_id="https://ns.adobe.com/...")
        schema = catalog.schema(dataset.schema_id)
        # PlatformSchema(..., class_id="https://ns.adobe.com/xdm/context/profile",
        #                field_group_ids=("https://ns.adobe.com/xdm/context/identitymap", ...))

- ``GET /data/foundation/catalog/dataSets/{id}`` answers the dataset keyed by its id:
  ``{"<id>": {"name": ..., "schemaRef": {"id": "<schema $id>", "contentType": ...}}}``;
- ``GET /data/foundation/schemaregistry/tenant/schemas/{url-encoded $id}`` with
  ``Accept: application/vnd.adobe.xed+json;version=1`` answers the schema: its ``title``,
  ``meta:class`` and ``allOf`` (a ``$ref`` to its class and one to each field group).

Calls go through ``PlatformApi`` (headers, token, retries by the policy); failures are
``PlatformError``s, ``status_code`` 404 for a dataset or schema the platform does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from xdm_connector.destinations.aep.answers import PlatformError
from xdm_connector.destinations.aep.client import PlatformApi
from xdm_connector.destinations.aep.destination import CATALOG, platform_api
from xdm_connector.destinations.config import PlatformConfig
from xdm_connector.retry import RetryPolicy

SCHEMA_REGISTRY = "/data/foundation/schemaregistry/tenant/schemas"
XED_ACCEPT = "application/vnd.adobe.xed+json;version=1"


@dataclass(frozen=True)
class PlatformDataset:
    """A dataset of the platform: its id, name, and the ``$id`` of its schema (or ``""``)."""

    id: str
    name: str
    schema_id: str


@dataclass(frozen=True)
class PlatformSchema:
    """A schema of the platform's registry: its class and field groups, by ``$id``."""

    id: str
    title: str
    class_id: str
    field_group_ids: tuple[str, ...]
    version: str = ""


class PlatformCatalog:
    """Reads of one organization's sandbox catalog and schema registry."""

    def __init__(self, api: PlatformApi) -> None:
        self.api = api

    def dataset(self, dataset_id: str) -> PlatformDataset:
        """The platform's dataset ``dataset_id``."""
        path = f"{CATALOG}/dataSets/{quote(dataset_id, safe='')}"
        document = _json(self.api.call("GET", path), f"dataset {dataset_id}")
        found = document.get(dataset_id)
        if not isinstance(found, dict):
            raise PlatformError(f"the catalog answered no dataset {dataset_id}")
        reference = found.get("schemaRef")
        schema_id = reference.get("id") if isinstance(reference, dict) else None
        name = found.get("name")
        return PlatformDataset(
            id=dataset_id,
            name=name if isinstance(name, str) else "",
            schema_id=schema_id if isinstance(schema_id, str) else "",
        )

    def schema(self, schema_id: str) -> PlatformSchema:
        """The schema ``schema_id`` (its ``$id`` or ``meta:altId``), as it is composed."""
        path = f"{SCHEMA_REGISTRY}/{quote(schema_id, safe='')}"
        response = self.api.call("GET", path, headers={"Accept": XED_ACCEPT})
        return parse_schema(_json(response, f"schema {schema_id}"), schema_id)


def parse_schema(document: dict[str, Any], schema_id: str) -> PlatformSchema:
    """A schema registry answer as a class and field groups.

    The class is ``meta:class``, else the first ``$ref`` of ``allOf``; every other
    ``$ref`` of ``allOf`` is a field group (references into a document, ``...#/...``,
    are not).
    """
    parts = document.get("allOf")
    refs = [
        part["$ref"]
        for part in (parts if isinstance(parts, list) else [])
        if isinstance(part, dict) and isinstance(part.get("$ref"), str) and "#" not in part["$ref"]
    ]
    named_class = document.get("meta:class")
    class_id = named_class if isinstance(named_class, str) and named_class else ""
    if not class_id and refs:
        class_id = refs[0]
    if not class_id:
        raise PlatformError(f"the schema registry answered schema {schema_id} without a class")
    title = document.get("title")
    version = document.get("version")
    return PlatformSchema(
        id=str(document.get("$id") or schema_id),
        title=title if isinstance(title, str) else "",
        class_id=class_id,
        field_group_ids=tuple(dict.fromkeys(ref for ref in refs if ref != class_id)),
        version=version if isinstance(version, str) else "",
    )


@contextmanager
def open_catalog(
    config: PlatformConfig,
    *,
    policy: RetryPolicy,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[PlatformCatalog]:
    """The catalog of the platform ``config`` describes; its connections closed after."""
    with httpx.Client(timeout=timeout, transport=transport) as client:
        yield PlatformCatalog(platform_api(client, config, policy))


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError as exc:
        raise PlatformError(f"the platform answered {what} with no JSON") from exc
    if not isinstance(document, dict):
        raise PlatformError(f"the platform answered {what} with no JSON object")
    return document
