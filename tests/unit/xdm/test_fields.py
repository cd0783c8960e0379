"""The field tree built from an XED JSON schema."""

from __future__ import annotations

import dataclasses

import pytest

from xdm_connector.xdm import XdmField, XdmType, XedSchema
from xdm_connector.xdm.fields import build_field

SCHEMA = {
    "type": "object",
    "title": "Root",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "maxLength": 36, "pattern": "^[a-z]+$"},
        "count": {"type": "integer", "meta:xdmType": "short", "minimum": 0, "maximum": 999},
        "total": {"type": "integer"},
        "ratio": {"type": "number"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "site": {"type": "string", "format": "uri"},
        "level": {"type": "string", "enum": ["a", "b"], "meta:enum": {"a": "A", "b": "B"}},
        "hint": {"type": "string", "meta:enum": {"x": "Suggested"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
        "labels": {"type": "object", "meta:xdmType": "map"},
        "either": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "nullable": {"type": ["null", "boolean"]},
    },
}


@pytest.fixture
def root() -> XdmField:
    field = build_field(SCHEMA)
    assert field is not None
    return field


def test_types_formats_and_constraints(root: XdmField) -> None:
    children = root.children

    assert root.type is XdmType.OBJECT
    assert root.required == {"id"}
    assert root.title == "Root"
    assert (children["id"].max_length, children["id"].pattern) == (36, "^[a-z]+$")
    assert (children["count"].integer_bits, children["count"].minimum) == (16, 0)
    assert children["count"].maximum == 999
    assert children["total"].integer_bits is None
    assert children["ratio"].type is XdmType.NUMBER
    assert (children["day"].type, children["day"].format) == (XdmType.DATE, None)
    assert children["at"].type is XdmType.DATE_TIME
    assert (children["site"].type, children["site"].format) == (XdmType.STRING, "uri")
    assert children["nullable"].type is XdmType.BOOLEAN


def test_enum_values_and_labels(root: XdmField) -> None:
    level = root.children["level"]
    hint = root.children["hint"]

    assert level.enum == ("a", "b")
    assert dict(level.enum_labels) == {"a": "A", "b": "B"}
    assert hint.enum == ()
    assert dict(hint.enum_labels) == {"x": "Suggested"}


def test_arrays_and_maps_carry_their_element(root: XdmField) -> None:
    tags = root.children["tags"]
    scores = root.children["scores"]

    assert tags.type is XdmType.ARRAY
    assert tags.items is not None
    assert (tags.items.type, tags.items.path) == (XdmType.STRING, "/tags/*")
    assert scores.type is XdmType.MAP
    assert scores.items is not None
    assert (scores.items.type, scores.items.path) == (XdmType.NUMBER, "/scores/*")
    assert root.children["labels"].type is XdmType.MAP
    assert root.children["labels"].items is None


def test_a_node_of_unknown_type_is_left_out(root: XdmField) -> None:
    assert "either" not in root.children


def test_walk_lists_every_descendant_parents_first(root: XdmField) -> None:
    paths = [field.path for field in root.walk()]

    assert paths[:3] == ["/id", "/count", "/total"]
    assert paths.index("/tags") + 1 == paths.index("/tags/*")
    assert "/" not in paths
    assert len(paths) == 15


def test_child_steps_through_objects_maps_and_arrays(root: XdmField) -> None:
    tags = root.children["tags"]

    assert root.child("ratio") is root.children["ratio"]
    assert root.children["scores"].child("any key") is root.children["scores"].items
    assert tags.child("7") is tags.items
    assert tags.child("*") is tags.items
    assert tags.child("x") is None
    assert root.children["id"].child("x") is None


def test_fields_are_frozen(root: XdmField) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        root.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        root.children["id"] = root  # type: ignore[index]


def test_a_profile_walk_lists_mapping_targets(profile_schema: XedSchema) -> None:
    paths = profile_schema.paths()

    assert "/person/name/firstName" in paths
    assert "/identityMap/*/*/id" in paths
    assert "/homeAddress/_experience/campaign/addressQuality" in paths
    assert "/_customer/default/loyaltyTier" in paths
    assert paths["/person/birthDate"].type is XdmType.DATE
