"""The record validator of a dataset."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from xdm_connector.xdm import RecordError, RecordValidator, SchemaRegistry, XedSchema
from xdm_connector.xdm.validation import PROFILE_RECORD_LIMIT, format_checker

GOOD_PROFILE: dict[str, Any] = {
    "_id": "https://data.example.com/profiles/42",
    "person": {
        "name": {"firstName": "Jane", "lastName": "Doe"},
        "birthDate": "1990-02-28",
        "gender": "female",
    },
    "personalEmail": {"address": "jane@doe.com"},
    "mobilePhone": {"number": "+33 6 12 34 56 78"},
    "homeAddress": {
        "street1": "1 rue de la Paix",
        "city": "Paris",
        "postalCode": "75002",
        "countryCode": "FR",
        "_experience": {"campaign": {"addressQuality": "fully_recognized_street"}},
    },
    "optInOut": {"_channels": {"email": "in", "sms": "out"}, "globalOptout": False},
    "_repo": {"createDate": "2024-01-02T03:04:05Z", "modifyDate": "2024-01-03T00:00:00.5+02:00"},
    "identityMap": {
        "Email": [{"id": "jane@doe.com", "primary": True, "authenticatedState": "ambiguous"}],
        "CRMID": [{"id": "42"}],
    },
    "_customer": {"default": {"cusBooleanField": True, "loyaltyTier": "gold"}},
}


@pytest.fixture(scope="module")
def validator(profile_schema: XedSchema) -> RecordValidator:
    return RecordValidator(profile_schema)


def with_change(path: str, value: Any) -> dict[str, Any]:
    record = copy.deepcopy(GOOD_PROFILE)
    *parents, last = path.strip("/").split("/")
    node: Any = record
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    node[int(last) if isinstance(node, list) else last] = value
    return record


def test_a_good_profile_record_passes(validator: RecordValidator) -> None:
    assert validator.errors(GOOD_PROFILE) == []
    assert validator.is_valid(GOOD_PROFILE)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("/person/name/firstName", 5, "expected string, got integer"),
        ("/optInOut/globalOptout", "no", "expected boolean, got string"),
        ("/_customer/default/cusBooleanField", "true", "expected boolean, got string"),
        ("/identityMap/CRMID/0/primary", 1, "expected boolean, got integer"),
        ("/homeAddress", ["Paris"], "expected object, got array"),
        ("/person/birthDate", "1990-02-30", "not a valid date"),
        ("/person/birthDate", "02/28/1990", "not a valid date"),
        ("/_repo/createDate", "2024-01-02 03:04", "not a valid date-time"),
        ("/_repo/createDate", "2024-01-02T03:04:05", "not a valid date-time"),
        ("/personalEmail/address", "jane.doe.com", "not a valid email"),
        ("/personalEmail/address", "jane@doe", "not a valid email"),
        ("/_id", "has spaces in it", "not a valid uri-reference"),
        ("/person/gender", "f", "not one of 'male', 'female', 'not_specified', 'non_specific'"),
        ("/optInOut/_channels/email", "yes", "not one of 'not_provided', 'pending', 'in', 'out'"),
        ("/_customer/default/loyaltyTier", "bronze", "not one of 'gold', 'silver'"),
    ],
)
def test_a_wrong_value_is_reported_at_its_path(
    validator: RecordValidator, path: str, value: Any, reason: str
) -> None:
    record = with_change(path, value)

    assert validator.errors(record) == [RecordError(path, value, reason)]


def test_a_profile_record_needs_a_primary_identity(validator: RecordValidator) -> None:
    record = with_change("/identityMap/Email/0/primary", False)

    assert validator.errors(record) == [
        RecordError(
            "/identityMap",
            record["identityMap"],
            'a profile record needs an identity with "primary": true',
        )
    ]


@pytest.mark.parametrize("identity_map", [None, {}, {"CRMID": [{"id": "42"}]}, {"Email": []}])
def test_a_profile_record_without_a_primary_identity_fails(
    validator: RecordValidator, identity_map: dict[str, Any] | None
) -> None:
    record = {key: value for key, value in GOOD_PROFILE.items() if key != "identityMap"}
    if identity_map is not None:
        record["identityMap"] = identity_map

    assert validator.errors(record) == [
        RecordError(
            "/identityMap", identity_map, 'a profile record needs an identity with "primary": true'
        )
    ]


def test_an_identity_map_of_the_wrong_type_is_the_schemas_error(
    validator: RecordValidator,
) -> None:
    record = with_change("/identityMap", ["jane@doe.com"])

    assert validator.errors(record) == [
        RecordError("/identityMap", ["jane@doe.com"], "expected object, got array")
    ]


def test_a_profile_record_over_100_kb_is_refused(validator: RecordValidator) -> None:
    record = with_change("/person/name/lastName", "x" * 150_000)

    errors = validator.errors(record)

    assert len(errors) == 1
    assert errors[0].path == "/"
    assert errors[0].value > 150_000
    assert "may take 102400" in errors[0].reason


def compact_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def test_the_limit_is_102400_bytes_of_compact_utf8_json(validator: RecordValidator) -> None:
    room = PROFILE_RECORD_LIMIT - compact_size(with_change("/person/name/lastName", ""))
    at_limit = with_change("/person/name/lastName", "é" * (room // 2) + "x" * (room % 2))
    over = with_change("/person/name/lastName", "é" * (room // 2) + "x" * (room % 2 + 1))

    assert compact_size(at_limit) == PROFILE_RECORD_LIMIT
    assert validator.errors(at_limit) == []
    assert [error.path for error in validator.errors(over)] == ["/"]


def test_a_record_that_is_not_json_is_refused(validator: RecordValidator) -> None:
    record = with_change("/person/name/firstName", object())

    paths = [error.path for error in validator.errors(record)]

    assert paths == ["/", "/person/name/firstName"]


def test_missing_required_fields_are_reported_at_each_missing_path(
    registry: SchemaRegistry,
) -> None:
    validator = RecordValidator(registry.compose("experienceevent"))

    errors = validator.errors({"eventType": "web.formFilledOut"})

    assert errors == [
        RecordError("/_id", None, "required field is missing"),
        RecordError("/timestamp", None, "required field is missing"),
    ]


def test_an_event_dataset_has_no_profile_rules(registry: SchemaRegistry) -> None:
    validator = RecordValidator(registry.compose("experienceevent"))
    record = {
        "_id": "e-1",
        "timestamp": "2024-05-01T10:00:00Z",
        "identityMap": {"ECID": [{"id": "123"}]},
        "padding": "x" * 150_000,
    }

    assert validator.errors(record) == []


def test_a_profile_schema_without_identity_map_skips_the_identity_rule(
    registry: SchemaRegistry,
) -> None:
    validator = RecordValidator(registry.compose("profile", ["profile-person-details"]))

    assert validator.errors({"identityMap": {"Email": [{"id": "a@b.co"}]}}) == []


def test_unknown_meta_keywords_do_not_break_validation(registry: SchemaRegistry) -> None:
    schema = registry.compose(
        "profile",
        ["identitymap"],
        custom={"tier": {"type": "string", "meta:notAKeyword": {"x": 1}, "meta:enum": {"a": "A"}}},
    )
    validator = RecordValidator(schema)
    identities = {"identityMap": {"Email": [{"id": "a@b.co", "primary": True}]}}

    assert validator.errors({**identities, "_customer": {"tier": "anything"}}) == []
    assert [e.path for e in validator.errors({**identities, "_customer": {"tier": 3}})] == [
        "/_customer/tier"
    ]


@pytest.mark.parametrize(
    ("format_", "good", "bad"),
    [
        ("date", "2024-02-29", "2023-02-29"),
        ("date-time", "2024-02-29T23:59:59.123456+05:30", "2024-02-29T24:00:00Z"),
        ("email", "first.last+tag@sub.example.co", "a@b@c.com"),
        ("uri", "https://example.com/a?b=c", "/relative/path"),
        ("uri-reference", "/relative/path", "two words"),
    ],
)
def test_format_checker_accepts_and_refuses(format_: str, good: str, bad: str) -> None:
    checker = format_checker()

    assert checker.conforms(good, format_)
    assert not checker.conforms(bad, format_)
    assert checker.conforms(12, format_)


def test_other_formats_are_not_checked() -> None:
    assert format_checker().conforms("not a url", "url")
