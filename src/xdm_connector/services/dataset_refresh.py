"""Get and refresh a dataset and its XDM schema from the platform, when a mapping is published.

An organization that delivers to a platform keeps its datasets there: the platform
validates every batch against its own dataset's schema. Publication therefore reads the
platform's dataset (``ACP-880071 Get and Refresh Dataset``) and its schema (``ACP-880074
Get and Refresh XDM Schema``), and the connector's dataset takes the platform's class and
field groups (its own custom fields kept), with a note of where they come from::

    with open_catalog(config, policy=policy, timeout=30.0) as catalog:
        found = get_dataset(catalog, config, "profiles")
        schema = get_schema(catalog, found)
    spec = refreshed_spec(dataset.schema_spec, found, schema)
    # {"class": "https://ns.adobe.com/xdm/context/profile", "fieldGroups": [...],
    #  "platform": {"datasetId": "5da9...", "name": "Profiles", "schemaId": "https://...",
    #               "schemaTitle": "Profiles"}}
    save_dataset_spec(store, "acme", "profiles", spec)

A dataset or schema that cannot be read raises ``RefreshFailed`` with the step's code and
a message that says what to do; ``transient`` when the platform could not be reached.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from xdm_connector.destinations.aep.answers import PlatformError
from xdm_connector.destinations.aep.catalog import (
    PlatformCatalog,
    PlatformDataset,
    PlatformSchema,
)
from xdm_connector.destinations.config import PlatformConfig
from xdm_connector.errors import DestinationError, NotFound, XdmcError
from xdm_connector.retry import RetryPolicy
from xdm_connector.settings import Settings
from xdm_connector.store.models import Dataset
from xdm_connector.store.store import Store

DATASET_STEP = "ACP-880071"
SCHEMA_STEP = "ACP-880074"
PUBLICATION_DEADLINE_SECONDS = 30.0
"""Longest a publication waits on the platform, retries included: a person is waiting."""


class RefreshFailed(XdmcError):
    """The platform's dataset (``ACP-880071``) or schema (``ACP-880074``) could not be read
    or used; ``transient`` when the platform could not be reached and publishing again
    later may succeed."""

    def __init__(self, code: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message, code=code)
        self.transient = transient


@dataclass(frozen=True)
class CatalogAccess:
    """How publication calls the platform: a bounded retry policy and a call time limit."""

    policy: RetryPolicy
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings | None) -> CatalogAccess:
        """The process's retry policy and call time limit (the defaults without settings),
        bounded by ``PUBLICATION_DEADLINE_SECONDS``."""
        policy = settings.retry_policy() if settings is not None else RetryPolicy()
        timeout = settings.platform_timeout_seconds if settings is not None else 60.0
        return cls(
            dataclasses.replace(policy, deadline=PUBLICATION_DEADLINE_SECONDS),
            min(timeout, PUBLICATION_DEADLINE_SECONDS),
        )


def get_dataset(
    catalog: PlatformCatalog, config: PlatformConfig, dataset_id: str
) -> PlatformDataset:
    """The platform's dataset behind the connector's ``dataset_id`` (``datasetIds``)."""
    platform_id = config.platform_dataset(dataset_id)
    try:
        return catalog.dataset(platform_id)
    except DestinationError as exc:
        raise _failure(
            DATASET_STEP,
            exc,
            f"the dataset {platform_id}",
            missing=(
                f"The dataset {platform_id} does not exist in the platform (organization "
                f"{config.ims_org_id}, sandbox {config.sandbox}): create it there, or name "
                f"the platform's id of dataset {dataset_id} in the destination's datasetIds"
            ),
        ) from exc


def get_schema(catalog: PlatformCatalog, dataset: PlatformDataset) -> PlatformSchema:
    """The XDM schema of the platform's ``dataset``."""
    if not dataset.schema_id:
        raise RefreshFailed(
            SCHEMA_STEP, f"The platform's dataset {dataset.id} names no XDM schema (schemaRef)"
        )
    try:
        return catalog.schema(dataset.schema_id)
    except DestinationError as exc:
        raise _failure(
            SCHEMA_STEP,
            exc,
            f"the XDM schema {dataset.schema_id} of dataset {dataset.id}",
            missing=(
                f"The XDM schema {dataset.schema_id} of the platform's dataset {dataset.id} "
                "does not exist in the platform's schema registry"
            ),
        ) from exc


def refreshed_spec(
    spec: dict[str, Any], dataset: PlatformDataset, schema: PlatformSchema
) -> dict[str, Any]:
    """The connector's dataset description once refreshed: the platform's class and field
    groups, the connector's own custom fields, and where the schema came from."""
    refreshed: dict[str, Any] = {
        **spec,
        "class": schema.class_id,
        "fieldGroups": list(schema.field_group_ids),
    }
    platform = {
        "datasetId": dataset.id,
        "name": dataset.name,
        "schemaId": schema.id,
        "schemaTitle": schema.title,
    }
    if schema.version:
        platform["schemaVersion"] = schema.version
    refreshed["platform"] = platform
    return refreshed


def save_dataset_spec(store: Store, org_id: str, dataset_id: str, spec: dict[str, Any]) -> None:
    """Make ``spec`` the description of the organization's dataset ``dataset_id``."""
    with store.write() as session:
        dataset = session.get(Dataset, (org_id, dataset_id))
        if dataset is None:
            raise NotFound(f"unknown dataset {dataset_id}")
        dataset.schema_spec = spec


def _failure(code: str, exc: DestinationError, what: str, *, missing: str) -> RefreshFailed:
    if isinstance(exc, PlatformError) and exc.status_code == 404:
        return RefreshFailed(code, missing)
    if exc.transient:
        return RefreshFailed(
            code,
            f"The platform could not be reached to read {what} ({exc.message}): publish "
            "again once it answers",
            transient=True,
        )
    return RefreshFailed(code, f"The platform refused to read {what}: {exc.message}")
