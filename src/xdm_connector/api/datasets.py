"""``/{org}/campaign/dataIngestion/dataset``: destination datasets and their XED schemas.

Status codes: a created dataset 201; an unknown dataset (or one of another organization)
404; an existing id 409; an invalid body, class or field group 400; a write without the
``administration`` role 403; no or bad token 401.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from xdm_connector.api.collections import (
    BASE,
    Collection,
    OrgReaderDep,
    OrgWriterDep,
    PageDep,
    member,
    paginate,
)
from xdm_connector.api.deps import PrincipalDep, StoreDep
from xdm_connector.api.routes import collection_route, creation_route, item_route
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.services.datasets import create_dataset
from xdm_connector.store.models import Dataset
from xdm_connector.store.principals import Principal
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry

router = APIRouter(prefix=f"{BASE}/dataset", tags=["datasets"])

_SCHEMA_NOTE = "the resolved XED JSON schema (draft-06, no $ref)"


class DatasetCreate(BaseModel):
    """A new dataset: an XDM class, field groups, and optional tenant fields."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "profiles",
                    "class": "profile",
                    "fieldGroups": ["profile-personal-details", "identitymap"],
                    "custom": {
                        "default": {
                            "type": "object",
                            "properties": {"cusBooleanField": {"type": "boolean"}},
                        }
                    },
                }
            ]
        },
    )

    id: str = Field(min_length=1, max_length=128)
    class_ref: str = Field(alias="class", min_length=1, description="The class: $id or short name.")
    field_groups: list[str] = Field(alias="fieldGroups", default_factory=list)
    custom: dict[str, Any] | None = Field(
        default=None, description="JSON schema properties placed under /_customer."
    )
    lake_mode: LakeMode | None = Field(
        alias="lakeMode",
        default=None,
        description="How the lake keeps its records: append (every version) or upsert (the "
        "latest per _id); by default upsert for a record class, append for time-series.",
    )


class DatasetSummary(BaseModel):
    """A dataset as its collection lists it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    class_id: str = Field(alias="class")
    field_groups: list[str] = Field(alias="fieldGroups")
    custom: dict[str, Any] | None = None
    lake_mode: LakeMode = Field(alias="lakeMode", description="How the lake keeps its records.")


class DatasetResource(DatasetSummary):
    """A dataset with its schema."""

    json_schema: dict[str, Any] = Field(alias="schema", description=_SCHEMA_NOTE)


def _summary(dataset: Dataset) -> DatasetSummary:
    spec = dataset.schema_spec
    return DatasetSummary(
        id=dataset.id,
        class_id=spec["class"],
        field_groups=list(spec.get("fieldGroups", [])),
        custom=spec.get("custom"),
        lake_mode=LakeMode(dataset.lake_mode),
    )


def _dataset_reader(org: str, dataset_id: str, principal: PrincipalDep) -> Principal:
    return member(principal, org, f"unknown dataset {dataset_id}")


def registry() -> SchemaRegistry:
    """The packaged XDM schemas."""
    return SchemaRegistry.packaged()


RegistryDep = Annotated[SchemaRegistry, Depends(registry)]


@collection_route(router, "", "List the datasets", Collection[DatasetSummary])
def list_datasets(
    request: Request, store: StoreDep, principal: OrgReaderDep, page: PageDep
) -> Response:
    """The organization's datasets, by id, a page at a time (``_lineCount``, ``_lineStart``)."""
    return paginate(request, page, store.tenants.list_datasets(principal.org_id), _summary)


@creation_route(router, "", "Create a dataset", DatasetSummary)
def post_dataset(
    body: DatasetCreate, store: StoreDep, schemas: RegistryDep, principal: OrgWriterDep
) -> DatasetSummary:
    """Create a dataset from an XDM class and field groups (ids or short names).

    Its schema must compose: the field groups must extend the class, custom fields go
    under ``/_customer``. Needs the ``administration`` role.
    """
    dataset = create_dataset(
        store,
        schemas,
        principal.org_id,
        body.id,
        class_ref=body.class_ref,
        field_groups=body.field_groups,
        custom=body.custom,
        actor=principal.client_id,
        lake_mode=body.lake_mode,
    )
    return _summary(dataset)


@item_route(router, "/{dataset_id}", "Read a dataset and its XED schema", DatasetResource)
def get_dataset(
    dataset_id: str,
    store: StoreDep,
    schemas: RegistryDep,
    principal: Annotated[Principal, Depends(_dataset_reader)],
) -> DatasetResource:
    """The dataset's class, field groups, and its schema resolved to XED JSON schema."""
    dataset = store.tenants.get_dataset(principal.org_id, dataset_id)
    schema = dataset_schema(schemas, dataset.schema_spec)
    return DatasetResource(**_summary(dataset).model_dump(), json_schema=schema.json_schema)
