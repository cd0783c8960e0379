"""Tenant schemas and datasets of the local platform service, composed from the XDM registry.

A schema is a class plus field groups, written as the schema registry takes it::

    {"title": "Profiles", "allOf": [{"$ref": "https://ns.adobe.com/xdm/context/profile"},
                                    {"$ref": "https://ns.adobe.com/xdm/context/identitymap"}]}

and gets an ``$id`` ``https://ns.adobe.com/local/schemas/<hex>`` (``meta:altId``
``_local.schemas.<hex>``). A dataset names its schema
(``{"name": "Profiles", "schemaRef": {"id": "<schema $id>"}}``) and may choose its own id
(``"id": "profiles"``, a local extension); otherwise it gets a generated one.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from xdm_connector.destinations.base import check_name
from xdm_connector.errors import Conflict, InvalidInput, NotFound
from xdm_connector.local_platform.storage import PlatformStorage, now_ms
from xdm_connector.xdm.registry import BEHAVIOR_IDS, SchemaRegistry
from xdm_connector.xdm.schema import XedSchema

SCHEMA_BASE = "https://ns.adobe.com/local/schemas/"
ALT_ID_BASE = "_local.schemas."
XED_CONTENT_TYPE = "application/vnd.adobe.xed+json;version=1"


def create_schema(
    storage: PlatformStorage,
    registry: SchemaRegistry,
    org: str,
    sandbox: str,
    *,
    title: str,
    refs: Sequence[str],
) -> dict[str, Any]:
    """A new tenant schema of a class (any of ``refs``) and the field groups among ``refs``."""
    ids = [registry.resolve_ref(ref) for ref in refs]
    classes = [i for i in ids if BEHAVIOR_IDS & set(registry.document(i).get("meta:extends", ()))]
    if len(classes) != 1:
        raise InvalidInput("a schema needs exactly one XDM class in its allOf")
    groups = [i for i in ids if i != classes[0]]
    composed = registry.compose(classes[0], groups)
    name = secrets.token_hex(16)
    document = {
        "$id": SCHEMA_BASE + name,
        "meta:altId": ALT_ID_BASE + name,
        "title": title,
        "type": "object",
        "meta:class": composed.class_id,
        "allOf": [{"$ref": ref} for ref in (composed.class_id, *composed.field_group_ids)],
        "meta:created": now_ms(),
    }
    storage.save(org, sandbox, "schemas", name, document)
    return document


def get_schema(storage: PlatformStorage, org: str, sandbox: str, ref: str) -> dict[str, Any]:
    """A tenant schema by its ``$id``, ``meta:altId`` or name."""
    name = ref.removeprefix(SCHEMA_BASE).removeprefix(ALT_ID_BASE)
    return storage.load(org, sandbox, "schemas", name)


def composed_schema(registry: SchemaRegistry, schema: dict[str, Any]) -> XedSchema:
    """The XED schema of a tenant schema."""
    refs = [part["$ref"] for part in schema["allOf"]]
    return registry.compose(refs[0], refs[1:])


def create_dataset(
    storage: PlatformStorage,
    org: str,
    sandbox: str,
    *,
    name: str,
    schema_ref: str,
    dataset_id: str | None = None,
) -> dict[str, Any]:
    """A new dataset of a tenant schema; ``Conflict`` when ``dataset_id`` is taken."""
    schema = get_schema(storage, org, sandbox, schema_ref)
    dataset_id = check_name(dataset_id, "Dataset id") if dataset_id else secrets.token_hex(12)
    if dataset_id in storage.names(org, sandbox, "datasets"):
        raise Conflict(f"dataset {dataset_id} already exists")
    created = now_ms()
    document = {
        "id": dataset_id,
        "name": name,
        "imsOrg": org,
        "schemaRef": {"id": schema["$id"], "contentType": XED_CONTENT_TYPE},
        "created": created,
        "updated": created,
    }
    storage.save(org, sandbox, "datasets", dataset_id, document)
    return document


def create_dataset_of(
    storage: PlatformStorage,
    registry: SchemaRegistry,
    org: str,
    sandbox: str,
    dataset_id: str,
    refs: Sequence[str],
) -> dict[str, Any]:
    """A dataset and its schema in one step (the CLI's ``platform datasets create``)."""
    schema = create_schema(storage, registry, org, sandbox, title=dataset_id, refs=refs)
    return create_dataset(
        storage, org, sandbox, name=dataset_id, schema_ref=schema["$id"], dataset_id=dataset_id
    )


def dataset_xed_schema(
    storage: PlatformStorage, registry: SchemaRegistry, org: str, sandbox: str, dataset_id: str
) -> XedSchema:
    """The XED schema records of a dataset are validated against."""
    dataset = storage.load(org, sandbox, "datasets", dataset_id)
    try:
        schema = get_schema(storage, org, sandbox, dataset["schemaRef"]["id"])
    except NotFound as exc:
        raise InvalidInput(f"the schema of dataset {dataset_id} is gone") from exc
    return composed_schema(registry, schema)
