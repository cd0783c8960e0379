"""The organization's datasets, read-only: how each is kept in the lake.

``/ui/datasets`` lists each dataset by id with its XDM class, field groups and lake mode
(``append`` keeps every exported version, ``upsert`` one row per record key). Any signed-in
member sees it, as the API's list of datasets; datasets are created with the API or
``xdm-connector datasets create``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from xdm_connector.api.deps import StoreDep
from xdm_connector.ui.web import UiRoute, ViewerDep, render
from xdm_connector.xdm.registry import SchemaRegistry

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@dataclass(frozen=True)
class DatasetView:
    """A dataset as the page shows it."""

    id: str
    class_id: str
    class_title: str
    field_groups: list[str]
    lake_mode: str


@router.get("/ui/datasets")
def datasets_page(request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    """The organization's datasets, by id."""
    registry = SchemaRegistry.packaged()
    views = []
    for dataset in store.tenants.list_datasets(viewer.org_id):
        spec = dataset.schema_spec
        document = registry.document(spec["class"])
        views.append(
            DatasetView(
                id=dataset.id,
                class_id=str(document.get("$id", spec["class"])),
                class_title=str(document.get("title", spec["class"])),
                field_groups=list(spec.get("fieldGroups", [])),
                lake_mode=dataset.lake_mode,
            )
        )
    return render(request, "datasets.html", {"section": "datasets", "datasets": views})
