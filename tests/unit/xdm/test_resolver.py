"""``$ref`` and ``allOf`` resolution on small, hand-written documents."""

from __future__ import annotations

from typing import Any

import pytest

from xdm_connector.errors import InvalidInput
from xdm_connector.xdm.resolver import Resolver, merge, split_ref

NAME = "https://ns.example.org/name"
PERSON = "https://ns.example.org/person"
CONTEXT = "https://ns.example.org/extensible"


def documents(*schemas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {schema["$id"]: schema for schema in schemas}


NAME_DOC = {
    "$id": NAME,
    "$schema": "http://json-schema.org/draft-06/schema#",
    "meta:license": ["CC BY 4.0"],
    "title": "Name",
    "type": "object",
    "definitions": {
        "name": {
            "properties": {
                "xdm:first": {"type": "string", "meta:titleId": "name##first"},
                "xdm:last": {"type": "string"},
            },
            "required": ["xdm:first"],
        }
    },
    "allOf": [{"$ref": "#/definitions/name"}],
}
PERSON_DOC = {
    "$id": PERSON,
    "title": "Person",
    "type": "object",
    "definitions": {
        "person": {
            "properties": {
                "xdm:name": {"$ref": NAME, "title": "Full name"},
                "xdm:last": {"$ref": f"{NAME}#/definitions/name/properties/xdm:last"},
            }
        },
        "dates": {"properties": {"xdm:born": {"type": "string", "format": "date"}}},
    },
    "allOf": [{"$ref": "#/definitions/person"}, {"$ref": "#/definitions/dates"}],
}


def test_a_local_ref_and_allof_fold_into_one_object() -> None:
    resolved = Resolver(documents(NAME_DOC)).resolve(NAME)

    assert resolved == {
        "title": "Name",
        "type": "object",
        "properties": {"xdm:first": {"type": "string"}, "xdm:last": {"type": "string"}},
        "required": ["xdm:first"],
    }


def test_refs_to_other_ids_and_json_pointers_are_inlined_with_sibling_overrides() -> None:
    resolved = Resolver(documents(NAME_DOC, PERSON_DOC)).resolve(PERSON)

    name = resolved["properties"]["xdm:name"]
    assert name["title"] == "Full name"
    assert name["required"] == ["xdm:first"]
    assert resolved["properties"]["xdm:last"] == {"type": "string"}
    assert resolved["properties"]["xdm:born"] == {"type": "string", "format": "date"}


def test_a_ref_with_a_pointer_resolves_against_the_named_document() -> None:
    resolver = Resolver(documents(NAME_DOC, PERSON_DOC))

    assert resolver.resolve("#/definitions/name/properties/xdm:first", NAME) == {"type": "string"}


def test_split_ref_decodes_the_pointer_and_defaults_to_the_base_document() -> None:
    assert split_ref("#/definitions/%40context", NAME) == (NAME, "/definitions/@context")
    assert split_ref(f"{PERSON}#/a~1b", NAME) == (PERSON, "/a~1b")


def test_a_cycle_raises_instead_of_looping() -> None:
    first = {"$id": "urn:a", "properties": {"next": {"$ref": "urn:b"}}}
    second = {"$id": "urn:b", "properties": {"back": {"$ref": "urn:a"}}}

    with pytest.raises(InvalidInput, match=r"circular \$ref: urn:a -> urn:b -> urn:a"):
        Resolver(documents(first, second)).resolve("urn:a")


def test_a_self_reference_is_a_cycle_too() -> None:
    tree = {"$id": "urn:tree", "properties": {"children": {"items": {"$ref": "#"}}}}

    with pytest.raises(InvalidInput, match="circular"):
        Resolver(documents(tree)).resolve("urn:tree")


def test_an_unknown_id_raises_and_nothing_is_fetched() -> None:
    doc = {"$id": "urn:a", "allOf": [{"$ref": "https://ns.adobe.com/xdm/context/person"}]}

    with pytest.raises(InvalidInput, match="no schema with \\$id"):
        Resolver(documents(doc)).resolve("urn:a")


def test_a_pointer_to_nothing_raises() -> None:
    with pytest.raises(InvalidInput, match="nothing at #/definitions/missing"):
        Resolver(documents(NAME_DOC)).resolve(f"{NAME}#/definitions/missing")


def test_a_closed_branch_stays_in_a_residual_allof() -> None:
    closed = {
        "$id": "urn:closed",
        "allOf": [
            {"patternProperties": {"^xdm:": {}}, "additionalProperties": False},
            {"properties": {"xdm:a": {"type": "string"}}},
        ],
    }

    resolved = Resolver(documents(closed)).resolve("urn:closed")

    assert resolved == {
        "patternProperties": {"^xdm:": {}},
        "additionalProperties": False,
        "allOf": [{"properties": {"xdm:a": {"type": "string"}}}],
    }


def test_ignored_refs_resolve_to_the_empty_schema() -> None:
    context = {"$id": CONTEXT, "definitions": {"@context": {"additionalProperties": False}}}
    doc = {
        "$id": "urn:a",
        "allOf": [{"$ref": f"{CONTEXT}#/definitions/@context"}, {"properties": {"b": {}}}],
    }

    resolver = Resolver(documents(context, doc), ignored_refs=[f"{CONTEXT}#/definitions/@context"])

    assert resolver.resolve("urn:a") == {"properties": {"b": {}}}


def test_an_extension_is_added_to_every_whole_reference_of_its_data_type() -> None:
    extension = {
        "$id": "urn:name-ext",
        "type": "object",
        "properties": {"https://ns.adobe.com/experience/campaign/quality": {"type": "string"}},
    }
    resolver = Resolver(
        documents(NAME_DOC, PERSON_DOC, extension), extensions={NAME: ["urn:name-ext"]}
    )

    name = resolver.resolve(PERSON)["properties"]["xdm:name"]

    assert set(name["properties"]) == {
        "xdm:first",
        "xdm:last",
        "https://ns.adobe.com/experience/campaign/quality",
    }
    assert resolver.applied_extensions == {"urn:name-ext"}


def test_keys_that_are_not_keywords_are_dropped() -> None:
    doc = {
        "$id": "urn:a",
        "type": "object",
        "auditable": True,
        "xdm:metadata": {"$ref": "#/definitions/missing"},
        "meta:xdmType": "map",
        "additionalProperties": {"type": "string"},
    }

    assert Resolver(documents(doc)).resolve("urn:a") == {
        "type": "object",
        "meta:xdmType": "map",
        "additionalProperties": {"type": "string"},
    }


def test_merge_unions_properties_and_required_and_refuses_conflicting_types() -> None:
    first = {"type": "object", "title": "A", "properties": {"x": {"type": "string"}}}
    second = {"type": "object", "title": "B", "properties": {"y": {}}, "required": ["y"]}

    combined = merge(first, second)

    assert combined == {
        "type": "object",
        "title": "A",
        "properties": {"x": {"type": "string"}, "y": {}},
        "required": ["y"],
    }
    assert merge(first, second, later_wins=True) == {**combined, "title": "B"}
    assert merge({"type": "string"}, {"type": "integer"}) is None


def test_merge_keeps_conflicting_properties_as_an_allof() -> None:
    merged = merge(
        {"properties": {"x": {"type": "string"}}}, {"properties": {"x": {"type": "integer"}}}
    )

    assert merged == {"properties": {"x": {"allOf": [{"type": "string"}, {"type": "integer"}]}}}


def test_refs_inside_items_lists_combinators_and_dependencies_are_inlined() -> None:
    doc = {
        "$id": "urn:a",
        "definitions": {"s": {"type": "string"}},
        "items": [{"$ref": "#/definitions/s"}],
        "additionalItems": {"$ref": "#/definitions/s"},
        "anyOf": [{"$ref": "#/definitions/s"}, {"type": "null"}],
        "dependencies": {"x": {"$ref": "#/definitions/s"}, "y": ["x"]},
        "additionalProperties": True,
    }

    assert Resolver(documents(doc)).resolve("urn:a") == {
        "items": [{"type": "string"}],
        "additionalItems": {"type": "string"},
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "dependencies": {"x": {"type": "string"}, "y": ["x"]},
        "additionalProperties": True,
    }
