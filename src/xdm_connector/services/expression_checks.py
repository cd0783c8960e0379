"""Checks of a mapping's expressions as one types them, and the XDM paths a row can fill.

``check_expression`` answers, for one row, whether its expression parses, reads fields
that exist in the targeting dimension (or through its links) and converts to the XDM
field's type, and where it is wrong::

    check_expression(store, registry, "acme", ExpressionProbe("Lower(@emial)", "profile",
                     "profiles", "/personalEmail/address"))
    ExpressionCheck(ok=False, message="unknown field @emial ...", line=1, column=7, ...)

Only reads: nothing is written, and the source database is only described.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from xdm_connector.errors import (
    SOURCE_FAILED_MESSAGE,
    ExpressionError,
    InvalidInput,
    NotFound,
    SourceError,
)
from xdm_connector.expressions import ExpressionCompiler, parse
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.schema import describe_resource
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.fields import XdmField, XdmType
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema

VALUE_TYPES = frozenset(XdmType) - {XdmType.OBJECT, XdmType.ARRAY, XdmType.MAP}


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
