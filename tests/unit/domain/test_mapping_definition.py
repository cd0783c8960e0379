"""Mapping definitions as users write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm_connector.demo.setup import demo_mapping
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.errors import InvalidInput

MINIMAL = {
    "id": "XDM44",
    "targetingDimension": "profile",
    "dataset": "profiles",
    "fieldMappings": [{"source": "@email", "xdm": "/personalEmail/address"}],
}


def test_defaults_follow_the_original() -> None:
    definition = MappingDefinition.from_document(MINIMAL)
    assert definition.audit_fields == ["@lastModified"]
    assert definition.map_to_xdm_array is False
    assert definition.interval_minutes == 15
    assert definition.rejected_threshold_percent == 5.0
    assert definition.document()["auditFields"] == ["@lastModified"]


def test_a_single_audit_field_may_be_a_string() -> None:
    definition = MappingDefinition.from_document({**MINIMAL, "auditFields": "@modified"})
    assert definition.audit_fields == ["@modified"]


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        MappingDefinition.from_document(
            {"id": "bad id!", "dataset": "profiles", "fieldMappings": [], "colour": "red"}
        )
    message = caught.value.message
    for expected in ("id", "targetingDimension", "fieldMappings", "colour"):
        assert expected in message


def test_the_stored_document_round_trips() -> None:
    definition = demo_mapping()
    assert MappingDefinition.from_document(definition.document()) == definition


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_files_in_yaml_and_json(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mapping{suffix}"
    if suffix == ".json":
        import json

        path.write_text(json.dumps(MINIMAL))
    else:
        path.write_text(
            "id: XDM44\ntargetingDimension: profile\ndataset: profiles\n"
            "fieldMappings:\n  - {source: '@email', xdm: /personalEmail/address}\n"
        )
    assert MappingDefinition.from_file(path) == MappingDefinition.from_document(MINIMAL)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        MappingDefinition.from_file(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid json"):
        MappingDefinition.from_file(broken)
