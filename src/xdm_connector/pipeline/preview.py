"""A dry run of a mapping: the first records it would export, each with its errors.

``preview_mapping(store, registry, "acme", "XDM44", limit=2)`` compiles the mapping's
draft definition (or its published one), reads the first ``limit`` rows of the targeting
dimension in key order (no window: the watermark plays no part), shapes them into XDM
records as an export does, and validates each record as the platform would::

    Preview(mapping="XDM44", definition="draft", problems=[], records=[
        PreviewRecord(key=1, record={"_id": "1", "person": {...}}, errors=[]),
        PreviewRecord(key=2, record=None, errors=[
            RecordError("/person/gender", "x", "not one of the allowed values (male, ...)")]),
    ])

A row the shaper rejects has no record, and the shaper's reasons as errors; a shaped
record has the validator's errors. A definition that does not compile answers its
``problems`` (the codes of a publication) and no records. Nothing is written: no job, no
batch, no watermark.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.errors import Conflict, InvalidInput, NotFound, SourceError
from xdm_connector.pipeline.files import json_lines
from xdm_connector.pipeline.plan import (
    KEY_LABEL,
    ExportPlan,
    MappingInvalid,
    Problem,
    describe_targeting_dimension,
    plan_export,
)
from xdm_connector.pipeline.shaping import RecordShaper
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.validation import RecordError, RecordValidator

DEFAULT_PREVIEW_ROWS = 10
MAX_PREVIEW_ROWS = 100


@dataclass(frozen=True)
class PreviewRecord:
    """One source row: its key, its XDM record (``None`` when rejected), its errors."""

    key: Any
    record: dict[str, Any] | None
    errors: list[RecordError]


@dataclass(frozen=True)
class Preview:
    """What a mapping would export: its first records, or why it cannot run."""

    mapping: str
    definition: str
    """Which definition ran: ``draft`` or ``published``."""
    problems: list[Problem]
    records: list[PreviewRecord]

    def document(self) -> dict[str, Any]:
        """The preview as JSON-compatible data, as the API answers it."""
        return dataclasses.asdict(self)


def preview_mapping(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    mapping_id: str,
    *,
    limit: int = DEFAULT_PREVIEW_ROWS,
    use_draft: bool = True,
) -> Preview:
    """Run the mapping on its first ``limit`` source rows (1 to 100) without exporting.

    Raises ``NotFound`` for an unknown mapping, ``Conflict`` when ``use_draft`` is false
    and the mapping is not published, ``InvalidInput`` for a limit out of range.
    """
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise InvalidInput(f"the preview limit must be between 1 and {MAX_PREVIEW_ROWS}")
    mapping = store.mappings.get(org_id, mapping_id)
    document = mapping.definition if use_draft else mapping.published_definition
    if document is None:
        raise Conflict(f"mapping {mapping_id} is not published")
    which = "draft" if use_draft else "published"
    organization = store.tenants.get_organization(org_id)
    try:
        with SourceDatabase(organization.source_url, store.product_data) as source:
            plan = _plan(store, registry, org_id, document, source)
            records = list(_dry_run(source, plan, limit))
    except MappingInvalid as exc:
        return Preview(mapping_id, which, exc.problems, [])
    except (InvalidInput, NotFound, SourceError) as exc:
        return Preview(mapping_id, which, [Problem(exc.code, exc.message)], [])
    return Preview(mapping_id, which, [], records)


def _plan(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    document: dict[str, Any],
    source: SourceDatabase,
) -> ExportPlan:
    definition = MappingDefinition.from_document(document)
    dataset = store.tenants.get_dataset(org_id, definition.dataset)
    schema = dataset_schema(registry, dataset.schema_spec)
    return plan_export(definition, schema, describe_targeting_dimension(source, definition))


def _dry_run(source: SourceDatabase, plan: ExportPlan, limit: int) -> Iterator[PreviewRecord]:
    columns = {plan.labels[path]: compiled for path, compiled in plan.targets.items()}
    query = plan.compiler.select(columns).add_columns(plan.key.label(KEY_LABEL))
    query = query.order_by(plan.ordered_key).limit(limit)
    # Every problem of every row is kept: a row may fail on each of its fields.
    shaper = RecordShaper(
        plan.schema.root,
        plan.labels,
        plan.constant_paths,
        max_problems=limit * len(plan.targets),
    )
    validator = RecordValidator(plan.schema)
    with closing(source.read_batches(query, batch_rows=limit)) as batches:
        for batch in batches:
            yield from _previewed(batch, shaper, validator)


def _previewed(
    batch: pa.RecordBatch, shaper: RecordShaper, validator: RecordValidator
) -> Iterator[PreviewRecord]:
    shaped = shaper.shape(batch)
    accepted = iter(orjson.loads(line) for line in json_lines(shaped.records).splitlines())
    problems: dict[int, list[RecordError]] = {}
    for problem in shaped.problems:
        error = RecordError(problem.path, _plain(problem.value), problem.reason)
        problems.setdefault(problem.row, []).append(error)
    keys = batch.column(KEY_LABEL).to_pylist()
    for row, (key, rejected) in enumerate(zip(keys, shaped.rejected.to_pylist(), strict=True)):
        if rejected:
            errors = sorted(problems.get(row, []), key=lambda error: error.path)
            yield PreviewRecord(_plain(key), None, errors)
        else:
            record = next(accepted)
            yield PreviewRecord(_plain(key), record, validator.errors(record))


def _plain(value: object) -> object:
    """A source value as JSON can hold it: dates as ISO text, anything else odd as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
