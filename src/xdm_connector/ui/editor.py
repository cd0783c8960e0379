"""The mapping editor: create and edit mappings row by row, check, preview.

``/ui/new-mapping`` and ``/ui/mappings/{id}/edit`` show the form; posting it with
``action=save`` saves the draft (a published mapping keeps running its published
definition until published again), ``action=preview`` saves and shows the first records
as they would be delivered with their validation errors, ``action=rows`` adds empty rows
and ``action=schema`` reloads the XDM paths of the chosen dataset: the editor works
without JavaScript. With it, ``editor.js`` checks each expression as one types through
``GET /ui/check-expression`` and reloads the paths through ``/ui/datasets/{id}/paths``.
Every route needs the ``administration`` role, but the two JSON ones, which only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from xdm_connector.api.datasets import RegistryDep
from xdm_connector.api.deps import StoreDep
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.errors import Conflict, InvalidInput, NotFound, XdmcError
from xdm_connector.pipeline.preview import DEFAULT_PREVIEW_ROWS, Preview, preview_mapping
from xdm_connector.security.roles import ROLE_ADMINISTRATION
from xdm_connector.services import mappings
from xdm_connector.services.expression_checks import (
    ExpressionProbe,
    check_expression,
    schema_of,
    value_paths,
)
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.store import Store
from xdm_connector.ui.editor_form import EMPTY_ROWS, EditorForm
from xdm_connector.ui.sessions import Notice
from xdm_connector.ui.web import PosterDep, UiDep, UiRoute, Viewer, ViewerDep, redirect, render
from xdm_connector.xdm.registry import SchemaRegistry

router = APIRouter(route_class=UiRoute, include_in_schema=False)
checks = APIRouter(include_in_schema=False)
"""The editor's JSON routes: their errors are the API's JSON errors, not pages."""

EDIT = "edit the organization's mappings"


def _source_tables(store: Store, org_id: str) -> list[str]:
    """The source's tables and views, to suggest a targeting dimension (best effort)."""
    try:
        organization = store.tenants.get_organization(org_id)
        with SourceDatabase(organization.source_url, store.product_data) as source:
            inspector = sa.inspect(source.engine)
            return sorted([*inspector.get_table_names(), *inspector.get_view_names()])
    except (SQLAlchemyError, XdmcError):
        return []


def editor_page(
    request: Request,
    store: Store,
    registry: SchemaRegistry,
    viewer: Viewer,
    form: EditorForm,
    *,
    creating: bool,
    extra_rows: int = EMPTY_ROWS,
    preview: Preview | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    """The editor with ``form`` as typed, the dataset's XDM paths and schema tree."""
    datasets = [dataset.id for dataset in store.tenants.list_datasets(viewer.org_id)]
    if not form.dataset and datasets:
        form.dataset = datasets[0]
    schema = None
    if form.dataset in datasets:
        schema = schema_of(store, registry, viewer.org_id, form.dataset)
    return render(
        request,
        "editor.html",
        {
            "section": "mappings",
            "form": form,
            "rows": form.padded_rows(extra_rows),
            "creating": creating,
            "datasets": datasets,
            "tables": _source_tables(store, viewer.org_id),
            "paths": value_paths(schema.root) if schema else [],
            "tree": schema.root if schema else None,
            "preview": preview,
            "error": error,
            "action": "/ui/new-mapping" if creating else f"/ui/mappings/{form.id}/edit",
        },
        status_code=status_code,
    )


@router.get("/ui/new-mapping")
def new_mapping(
    request: Request, store: StoreDep, schemas: RegistryDep, viewer: ViewerDep
) -> Response:
    """An empty editor."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, EDIT)
    return editor_page(request, store, schemas, viewer, EditorForm(), creating=True)


@router.get("/ui/mappings/{mapping_id}/edit")
def edit_mapping(
    request: Request,
    mapping_id: str,
    store: StoreDep,
    schemas: RegistryDep,
    viewer: ViewerDep,
    preview: Annotated[bool, Query()] = False,
) -> Response:
    """The editor of a mapping's draft; ``?preview=true`` adds its first records."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, EDIT)
    mapping = store.mappings.get(viewer.org_id, mapping_id)
    shown = None
    if preview:
        shown = preview_mapping(
            store, schemas, viewer.org_id, mapping_id, limit=DEFAULT_PREVIEW_ROWS
        )
    form = EditorForm.from_definition(mapping.definition)
    return editor_page(request, store, schemas, viewer, form, creating=False, preview=shown)


@dataclass
class PostedForm:
    """The editor's form as posted, and the button pressed (``action``)."""

    form: EditorForm
    action: str


async def posted_form(request: Request) -> PostedForm:
    """The editor's form: read in the event loop (Starlette keeps it parsed on the request),
    so that the routes posting it can be plain functions."""
    data = await request.form()
    return PostedForm(EditorForm.from_form(data), str(data.get("action", "save")))


PostedFormDep = Annotated[PostedForm, Depends(posted_form)]


# Plain functions, not coroutines: FastAPI runs them in its thread pool, so the store and
# the customer's source database (the editor lists its tables) never block the event loop
# that answers the ingestion trigger and status.
@router.post("/ui/new-mapping")
def create_mapping(
    request: Request,
    store: StoreDep,
    schemas: RegistryDep,
    viewer: PosterDep,
    posted: PostedFormDep,
) -> Response:
    """Create the mapping from the form (or add rows, or reload the dataset's paths)."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, EDIT)
    return _submit(request, store, schemas, viewer, posted.form, posted.action, base=None)


@router.post("/ui/mappings/{mapping_id}/edit")
def save_mapping(
    request: Request,
    mapping_id: str,
    store: StoreDep,
    schemas: RegistryDep,
    viewer: PosterDep,
    posted: PostedFormDep,
) -> Response:
    """Save the mapping's draft from the form (or add rows, or reload the paths)."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, EDIT)
    current = store.mappings.get(viewer.org_id, mapping_id)
    form = posted.form
    form.id = mapping_id
    return _submit(request, store, schemas, viewer, form, posted.action, base=current.definition)


def _submit(
    request: Request,
    store: Store,
    registry: SchemaRegistry,
    viewer: Viewer,
    form: EditorForm,
    action: str,
    *,
    base: dict[str, Any] | None,
) -> Response:
    creating = base is None
    if action in ("rows", "schema"):
        extra = EMPTY_ROWS * 2 if action == "rows" else EMPTY_ROWS
        return editor_page(
            request, store, registry, viewer, form, creating=creating, extra_rows=extra
        )
    try:
        definition = MappingDefinition.from_document(form.document(base))
        actor = viewer.principal.client_id
        if creating:
            saved = mappings.create_mapping(store, viewer.org_id, definition, actor=actor)
        else:
            saved = mappings.apply_mapping(store, viewer.org_id, definition, actor=actor)
    except (InvalidInput, Conflict) as exc:
        status = 409 if isinstance(exc, Conflict) else 400
        return editor_page(
            request,
            store,
            registry,
            viewer,
            form,
            creating=creating,
            error=exc.message,
            status_code=status,
        )
    text = " ".join([f"Mapping {definition.id} is saved.", *saved.warnings])
    if action == "preview":
        target = f"/ui/mappings/{definition.id}/edit?preview=true#preview"
        return redirect(request, target, Notice("ok", text))
    return redirect(request, f"/ui/mappings/{definition.id}", Notice("ok", text))


@checks.get("/ui/check-expression")
def check(
    store: StoreDep,
    schemas: RegistryDep,
    viewer: ViewerDep,
    expression: Annotated[str, Query(max_length=4000)],
    targeting_dimension: Annotated[str, Query(alias="targetingDimension")] = "",
    dataset: str = "",
    xdm: str = "",
    mapping: str = "",
) -> JSONResponse:
    """Whether a row's expression compiles, and where it is wrong (line and column)."""
    key = None
    if mapping:
        try:
            primary = store.mappings.get(viewer.org_id, mapping).definition.get("primaryKey")
        except NotFound:
            primary = None
        key = tuple(primary) if primary else None
    probe = ExpressionProbe(expression, targeting_dimension.strip(), dataset, xdm.strip(), key)
    answer = check_expression(store, schemas, viewer.org_id, probe)
    return JSONResponse(answer.__dict__, headers={"Cache-Control": "no-store"})


@checks.get("/ui/datasets/{dataset_id}/paths")
def dataset_paths(
    dataset_id: str, store: StoreDep, schemas: RegistryDep, ui: UiDep, viewer: ViewerDep
) -> JSONResponse:
    """The XDM paths a field mapping can fill in the dataset, with their types, and the
    dataset's schema tree as the editor shows it (HTML)."""
    schema = schema_of(store, schemas, viewer.org_id, dataset_id)
    paths = [{"path": path, "type": kind} for path, kind in value_paths(schema.root)]
    tree = ui.templates.get_template("_tree.html").render(tree=schema.root)
    return JSONResponse({"dataset": dataset_id, "paths": paths, "tree": tree})
