"""Adobe's own examples, validated against the packaged schemas.

The ``*.example.N.json`` and ``*.invalid.N.json`` files are in source form (``xdm:person``,
``@id``). Each is validated, in source form, against the schema beside it as
``SchemaRegistry.resolved`` inlines it: every ``$ref`` and ``allOf`` resolved by the
product's resolver, nothing left for the validator to look up. The XED naming is covered by
``test_xed.py`` and by the record validator's tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator
from referencing import Registry

import xdm_connector.xdm
from xdm_connector.xdm import SchemaRegistry
from xdm_connector.xdm.validation import format_checker

SCHEMAS = Path(xdm_connector.xdm.__file__).parent / "schemas"

# The upstream example misspells "xdm:subscriptionDate" ("xdm:subsriptionDate"), so the
# subscription lacks the required date: the resolver must see that, like any validator.
UPSTREAM_DEFECTS = {
    "extensions/adobe/experience/campaign/profile-all.example.1.json": [
        (["xdm:notificationSubscriptions", 0], "'xdm:subscriptionDate' is a required property")
    ],
}


def shipped(kind: str) -> list[str]:
    return sorted(
        path.relative_to(SCHEMAS).as_posix()
        for path in SCHEMAS.rglob(f"*.{kind}.*.json")
        if path.relative_to(SCHEMAS).as_posix() not in UPSTREAM_DEFECTS
    )


def schema_beside(relative: str) -> Path:
    path = SCHEMAS / relative
    return path.with_name(path.name.split(".")[0] + ".schema.json")


def errors(registry: SchemaRegistry, relative: str, document: Any) -> list[tuple[list[Any], str]]:
    schema_id = json.loads(schema_beside(relative).read_text())["$id"]
    validator = Draft6Validator(
        registry.resolved(schema_id), format_checker=format_checker(), registry=Registry()
    )
    return [(list(e.absolute_path), e.message) for e in validator.iter_errors(document)]


CASES = [(name, True) for name in shipped("example")] + [
    (name, False) for name in shipped("invalid")
]


def test_examples_are_shipped_beside_their_schemas() -> None:
    assert len(CASES) == 47
    for relative, _ in CASES:
        assert schema_beside(relative).is_file(), relative


@pytest.mark.parametrize(("relative", "valid"), CASES, ids=[name for name, _ in CASES])
def test_a_shipped_example_validates_and_an_invalid_file_does_not(
    registry: SchemaRegistry, relative: str, valid: bool
) -> None:
    document = json.loads((SCHEMAS / relative).read_text())

    found = errors(registry, relative, document)

    assert (found == []) is valid, found


@pytest.mark.parametrize("relative", sorted(UPSTREAM_DEFECTS))
def test_a_known_upstream_defect_is_reported_exactly(
    registry: SchemaRegistry, relative: str
) -> None:
    document = json.loads((SCHEMAS / relative).read_text())

    assert errors(registry, relative, document) == UPSTREAM_DEFECTS[relative]


@pytest.mark.parametrize(
    ("relative", "document", "path"),
    [
        (
            "components/datatypes/person/person-name.example.1.json",
            {"xdm:firstName": 5},
            ["xdm:firstName"],
        ),
        (
            "components/datatypes/identityitem.example.1.json",
            {"xdm:id": "x", "xdm:authenticatedState": "unknown"},
            ["xdm:authenticatedState"],
        ),
        (
            "components/datatypes/person/person.example.1.json",
            {"xdm:birthDate": "1990-02-30"},
            ["xdm:birthDate"],
        ),
        (
            "components/datatypes/demographic/emailaddress.example.1.json",
            {"xdm:address": "not-an-email"},
            ["xdm:address"],
        ),
        (
            "components/classes/experienceevent.example.1.json",
            {"xdm:timestamp": "2020-01-01T00:00:00Z"},
            [],
        ),
        ("components/datatypes/extensible.example.1.json", {"unprefixed": 1}, []),
        (
            "components/fieldgroups/shared/identitymap.example.1.json",
            {"xdm:identityMap": {"Email": [{"xdm:primary": "yes"}]}},
            ["xdm:identityMap", "Email", 0, "xdm:primary"],
        ),
    ],
)
def test_a_broken_document_fails_against_the_resolved_source_schema(
    registry: SchemaRegistry, relative: str, document: dict[str, Any], path: list[Any]
) -> None:
    found = errors(registry, relative, document)

    assert found
    assert path in [error_path for error_path, _ in found]
