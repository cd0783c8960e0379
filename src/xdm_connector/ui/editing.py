"""The mapping editor's services: its form as a definition, and expressions checked live.

The editor posts rows of "source field expression" → "XDM field path" (repeated fields
``source`` and ``xdm``); ``EditorForm`` keeps what was typed, so a form that does not
validate comes back as it was, and turns into the document of a ``MappingDefinition``.
Fields the editor does not show (``exdmValues``, ``primaryKey``, ...) are kept from the
definition being edited.

``check_expression`` answers, for one row, whether its expression parses, reads fields
that exist in the targeting dimension (or through its links) and converts to the XDM
field's type, and where it is wrong::

    check_expression(store, registry, "acme", ExpressionProbe("Lower(@emial)", "profile",
                     "profiles", "/personalEmail/address"))
    ExpressionCheck(ok=False, message="unknown field @emial ...", line=1, column=7, ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from xdm_connector.errors import (
    SOURCE_FAILED_MESSAGE,
    ExpressionError,
    InvalidInput,
    NotFound,
    SourceError,
)
from xdm_connector.expressions import ExpressionCompiler, parse
from xdm_connector.inputs import parse_integer
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.schema import describe_resource
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.fields import XdmField, XdmType
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema

EMPTY_ROWS = 3
VALUE_TYPES = frozenset(XdmType) - {XdmType.OBJECT, XdmType.ARRAY, XdmType.MAP}


@dataclass
class EditorForm:
    """What the editor shows and posts, as typed."""

    id: str = ""
    label: str = ""
    targeting_dimension: str = ""
    dataset: str = ""
    audit_fields: str = "@lastModified"
    map_to_xdm_array: bool = False
    interval_minutes: str = "15"
    rows: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_definition(cls, document: dict[str, Any]) -> EditorForm:
        """The form of a stored definition."""
        return cls(
            id=document["id"],
            label=document.get("label", ""),
            targeting_dimension=document.get("targetingDimension", ""),
            dataset=document.get("dataset", ""),
            audit_fields="\n".join(document.get("auditFields", [])),
            map_to_xdm_array=bool(document.get("mapToXdmArray")),
            interval_minutes=str(document.get("intervalMinutes", 15)),
            rows=[(row["source"], row["xdm"]) for row in document.get("fieldMappings", [])],
        )

    @classmethod
    def from_form(cls, form: Any) -> EditorForm:
        """The form as posted (a Starlette ``FormData``)."""
        sources = [str(value) for value in form.getlist("source")]
        paths = [str(value) for value in form.getlist("xdm")]
        return cls(
            id=str(form.get("id", "")).strip(),
            label=str(form.get("label", "")).strip(),
            targeting_dimension=str(form.get("targetingDimension", "")).strip(),
            dataset=str(form.get("dataset", "")).strip(),
            audit_fields=str(form.get("auditFields", "")),
            map_to_xdm_array=form.get("mapToXdmArray") == "on",
            interval_minutes=str(form.get("intervalMinutes", "15")).strip(),
            rows=list(zip(sources, paths, strict=False)),
        )

    def padded_rows(self, extra: int = EMPTY_ROWS) -> list[tuple[str, str]]:
        """The filled rows, then ``extra`` empty ones to type into."""
        filled = [(source, xdm) for source, xdm in self.rows if source.strip() or xdm.strip()]
        return filled + [("", "")] * extra

    def document(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The definition document, over ``base`` (the definition being edited)."""
        audit = [line.strip() for line in self.audit_fields.splitlines() if line.strip()]
        rows = [
            {"source": source.strip(), "xdm": xdm.strip()}
            for source, xdm in self.rows
            if source.strip() or xdm.strip()
        ]
        try:
            interval: Any = parse_integer(self.interval_minutes)
        except ValueError:
            interval = self.interval_minutes  # the definition's check names the fault
        return {
            **(base or {}),
            "id": self.id,
            "label": self.label,
            "targetingDimension": self.targeting_dimension,
            "dataset": self.dataset,
            "auditFields": audit,
            "mapToXdmArray": self.map_to_xdm_array,
            "intervalMinutes": interval,
            "fieldMappings": rows,
        }


@dataclass(frozen=True)
class ExpressionProbe:
    """One row to check, with what it is checked against."""

    expression: str
    targeting_dimension: str = ""
    dataset: str = ""
    xdm: str = ""
    key: tuple[str, ...] | None = None
    """Key columns of a targeting dimension without a primary key (a view)."""


@dataclass(frozen=True)
class ExpressionCheck:
    """The answer of a check: ``where`` names the faulty input (``expression``, ``xdm``,
    ``targetingDimension``), ``line`` and ``column`` the place in the expression."""

    ok: bool
    message: str = ""
    where: str = "expression"
    line: int | None = None
    column: int | None = None
    type: str | None = None
    target: str | None = None


def _wrong(exc: ExpressionError) -> ExpressionCheck:
    return ExpressionCheck(ok=False, message=exc.detail, line=exc.line, column=exc.column)


def value_paths(root: XdmField) -> list[tuple[str, str]]:
    """Every path a field mapping can fill, with its type: the XDM path picker's options."""
    return [(node.path, node.type.value) for node in root.walk() if node.type in VALUE_TYPES]


def schema_of(store: Store, registry: SchemaRegistry, org_id: str, dataset_id: str) -> XedSchema:
    """The XED schema of one of the organization's datasets (``NotFound`` otherwise)."""
    return dataset_schema(registry, store.tenants.get_dataset(org_id, dataset_id).schema_spec)


def check_expression(
    store: Store, registry: SchemaRegistry, org_id: str, probe: ExpressionProbe
) -> ExpressionCheck:
    """Parse, then (with a targeting dimension) compile the expression against the source,
    to the XDM field's type when the row names one in the dataset's schema."""
    try:
        parse(probe.expression)
    except ExpressionError as exc:
        return _wrong(exc)
    target: XdmField | None = None
    if probe.dataset and probe.xdm:
        try:
            target = schema_of(store, registry, org_id, probe.dataset).field_at(probe.xdm)
        except (NotFound, InvalidInput) as exc:
            return ExpressionCheck(ok=False, message=exc.message, where="dataset")
        if target is None:
            message = f"The XDM field {probe.xdm} is not a valid field of the XDM schema"
            return ExpressionCheck(ok=False, message=message, where="xdm")
        if target.type not in VALUE_TYPES:
            message = f"The XDM field {probe.xdm} is an {target.type.value}, not a value"
            return ExpressionCheck(ok=False, message=message, where="xdm")
    if not probe.targeting_dimension:
        return ExpressionCheck(ok=True, target=target.type.value if target else None)
    organization = store.tenants.get_organization(org_id)
    try:
        with SourceDatabase(organization.source_url, store.product_data) as source:
            resource = describe_resource(source.engine, probe.targeting_dimension, key=probe.key)
    except (InvalidInput, SourceError) as exc:
        return ExpressionCheck(ok=False, message=exc.message, where="targetingDimension")
    except SQLAlchemyError:
        return ExpressionCheck(ok=False, message=SOURCE_FAILED_MESSAGE, where="targetingDimension")
    try:
        compiled = ExpressionCompiler(resource).compile(
            probe.expression,
            target_type=target.type.value if target else None,
            exdm_enum=_enum_labels(target),
        )
    except ExpressionError as exc:
        return _wrong(exc)
    return ExpressionCheck(
        ok=True, type=compiled.type.value, target=target.type.value if target else None
    )


def _enum_labels(target: XdmField | None) -> dict[object, str] | None:
    """What ``EXDM`` maps to: the field's values with their labels (as a publication does)."""
    if target is None:
        return None
    if target.enum:
        return {value: target.enum_labels.get(str(value), str(value)) for value in target.enum}
    return dict(target.enum_labels.items()) or None
