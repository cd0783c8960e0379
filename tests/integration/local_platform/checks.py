"""An independent check of the service's lake: a general JSON Schema validator, not ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft6Validator

from xdm_connector.demo.setup import DEMO_SCHEMA
from xdm_connector.xdm.registry import SchemaRegistry


def lake_records(lake_dataset: Path) -> list[dict[str, Any]]:
    """Every record of the committed batches of a dataset folder (JSON Lines)."""
    return [
        orjson.loads(line)
        for path in sorted(lake_dataset.glob("batch=*/*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def assert_valid_xdm(records: list[dict[str, Any]]) -> None:
    """Every record validates against the demo dataset's XED schema (draft-06, formats on)."""
    schema = SchemaRegistry.packaged().compose(DEMO_SCHEMA[0], DEMO_SCHEMA[1:]).json_schema
    validator = Draft6Validator(schema, format_checker=Draft6Validator.FORMAT_CHECKER)
    assert records
    for record in records:
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(record)]
        assert not problems, (record, problems)
