"""The packaged registry: loading, short names, and dataset composition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import xdm_connector.xdm
from xdm_connector.errors import InvalidInput
from xdm_connector.xdm import SchemaRegistry, XdmType, XedSchema
from xdm_connector.xdm.registry import PACKAGE

PROFILE = "https://ns.adobe.com/xdm/context/profile"
EXPERIENCE_EVENT = "https://ns.adobe.com/xdm/context/experienceevent"


def test_packaged_loads_every_shipped_schema_once_per_process(registry: SchemaRegistry) -> None:
    assert SchemaRegistry.packaged() is registry
    assert len(registry.ids) == 35
    assert {PROFILE, EXPERIENCE_EVENT, "https://ns.adobe.com/experience/campaign/address"} <= set(
        registry.ids
    )


def test_the_packaged_schemas_come_from_the_package(registry: SchemaRegistry) -> None:
    folder = Path(xdm_connector.xdm.__file__).parent / "schemas"

    assert xdm_connector.xdm.__name__ == PACKAGE
    assert (folder / "NOTICE.md").is_file()
    assert len(list(folder.rglob("*.schema.json"))) == len(registry.ids)


def test_every_shipped_schema_resolves_without_a_ref_left(registry: SchemaRegistry) -> None:
    for schema_id in registry.ids:
        text = json.dumps(registry.resolved(schema_id))
        assert '"$ref"' not in text, schema_id


def test_from_directory_reads_nested_schema_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "thing.schema.json").write_text(
        json.dumps({"$id": "https://ns.example.org/thing", "type": "string"})
    )
    (tmp_path / "a" / "thing.example.1.json").write_text('"not a schema"')

    registry = SchemaRegistry.from_directory(tmp_path)

    assert registry.ids == ("https://ns.example.org/thing",)
    assert registry.resolved("thing") == {"type": "string"}


def test_two_schemas_with_one_id_are_refused() -> None:
    with pytest.raises(InvalidInput, match="two XDM schemas have the \\$id urn:x"):
        SchemaRegistry([{"$id": "urn:x"}, {"$id": "urn:x"}])


@pytest.mark.parametrize(
    ("name", "schema_id"),
    [
        (PROFILE, PROFILE),
        ("profile", PROFILE),
        ("context/profile", PROFILE),
        ("ns.adobe.com/xdm/context/profile", PROFILE),
        ("experienceevent", EXPERIENCE_EVENT),
        ("profile-person-details", "https://ns.adobe.com/xdm/context/profile-person-details"),
        ("profile-consents", "https://ns.adobe.com/xdm/mixins/profile-consents"),
        (
            "profile-loyalty-details",
            "https://ns.adobe.com/xdm/mixins/profile/profile-loyalty-details",
        ),
        ("identitymap", "https://ns.adobe.com/xdm/context/identitymap"),
        ("campaign/address", "https://ns.adobe.com/experience/campaign/address"),
        ("common/address", "https://ns.adobe.com/xdm/common/address"),
    ],
)
def test_resolve_ref_accepts_ids_and_unambiguous_short_names(
    registry: SchemaRegistry, name: str, schema_id: str
) -> None:
    assert registry.resolve_ref(name) == schema_id


def test_an_ambiguous_short_name_lists_the_candidates(registry: SchemaRegistry) -> None:
    with pytest.raises(
        InvalidInput, match="'address' is ambiguous: campaign/address, common/address"
    ):
        registry.resolve_ref("address")


def test_an_unknown_name_suggests_close_ones(registry: SchemaRegistry) -> None:
    with pytest.raises(
        InvalidInput,
        match="unknown XDM schema 'profile-persn-details'; did you mean 'profile-person-details'",
    ):
        registry.resolve_ref("profile-persn-details")


def test_short_name_is_the_shortest_unambiguous_suffix(registry: SchemaRegistry) -> None:
    assert registry.short_name(PROFILE) == "profile"
    assert registry.short_name("https://ns.adobe.com/experience/campaign/address") == (
        "campaign/address"
    )


def test_document_is_the_file_as_written(registry: SchemaRegistry) -> None:
    document = registry.document("profile")

    assert document["$id"] == PROFILE
    assert document["allOf"][-1] == {"$ref": "#/definitions/profile"}
    document["title"] = "changed"
    assert registry.document("profile")["title"] == "XDM Individual Profile"


def test_compose_records_what_it_was_made_of(profile_schema: XedSchema) -> None:
    assert profile_schema.class_id == PROFILE
    assert profile_schema.is_profile
    assert profile_schema.field_group_ids == (
        "https://ns.adobe.com/xdm/context/profile-person-details",
        "https://ns.adobe.com/xdm/context/profile-personal-details",
        "https://ns.adobe.com/xdm/context/profile-preferences-details",
        "https://ns.adobe.com/xdm/context/identitymap",
        "https://ns.adobe.com/experience/campaign/address",
    )
    assert profile_schema.tenant == "_customer"


def test_the_composed_json_schema_is_self_contained(profile_schema: XedSchema) -> None:
    text = json.dumps(profile_schema.json_schema)

    assert '"$ref"' not in text
    assert '"allOf"' not in text
    assert not [path for path in profile_schema.paths() if ":" in path or "@" in path]
    assert profile_schema.json_schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    assert profile_schema.json_schema["title"] == "XDM Individual Profile"


@pytest.mark.parametrize(
    ("path", "xdm_type", "format_"),
    [
        ("/person/name/firstName", XdmType.STRING, None),
        ("/person/birthDate", XdmType.DATE, None),
        ("/personalEmail/address", XdmType.STRING, "email"),
        ("/_repo/createDate", XdmType.DATE_TIME, None),
        ("/_repo/modifyDate", XdmType.DATE_TIME, None),
        ("/_id", XdmType.STRING, "uri-reference"),
        ("/identityMap", XdmType.MAP, None),
        ("/identityMap/Email", XdmType.ARRAY, None),
        ("/identityMap/Email/0/id", XdmType.STRING, None),
        ("/identityMap/CRMID/3/primary", XdmType.BOOLEAN, None),
        ("/identityMap/*/*/authenticatedState", XdmType.STRING, None),
        ("/homeAddress/city", XdmType.STRING, None),
        ("/homeAddress/_schema/latitude", XdmType.NUMBER, None),
        ("/optInOut/globalOptout", XdmType.BOOLEAN, None),
        ("/_customer/default/cusBooleanField", XdmType.BOOLEAN, None),
        ("/", XdmType.OBJECT, None),
    ],
)
def test_field_at_finds_typed_fields(
    profile_schema: XedSchema, path: str, xdm_type: XdmType, format_: str | None
) -> None:
    field = profile_schema.field_at(path)

    assert field is not None
    assert field.type is xdm_type
    assert field.format == format_


def test_gender_is_an_enumeration(profile_schema: XedSchema) -> None:
    gender = profile_schema.field_at("/person/gender")

    assert gender is not None
    assert set(gender.enum) == {"male", "female", "not_specified", "non_specific"}
    assert gender.enum_labels["non_specific"] == "Non-specific"


@pytest.mark.parametrize("channel", ["email", "sms", "phone"])
def test_opt_in_out_channels_take_the_four_consent_values(
    profile_schema: XedSchema, channel: str
) -> None:
    field = profile_schema.field_at(f"/optInOut/_channels/{channel}")

    assert field is not None
    assert field.type is XdmType.STRING
    assert set(field.enum) == {"in", "out", "pending", "not_provided"}
    assert field.path == f"/optInOut/_channels/{channel}"


def test_the_campaign_address_extension_reaches_every_postal_address(
    profile_schema: XedSchema,
) -> None:
    quality = profile_schema.field_at("/homeAddress/_experience/campaign/addressQuality")
    errors = profile_schema.field_at("/mailingAddress/_experience/campaign/addressErrorCount")

    assert quality is not None
    assert quality.type is XdmType.STRING
    assert quality.enum == ()
    assert quality.enum_labels["fully_recognized_street"] == "Fully-recognized street"
    assert errors is not None
    assert errors.type is XdmType.INTEGER


def test_without_the_extension_addresses_have_no_campaign_fields(registry: SchemaRegistry) -> None:
    schema = registry.compose("profile", ["profile-personal-details"])

    assert schema.field_at("/homeAddress/city") is not None
    assert schema.field_at("/homeAddress/_experience") is None


@pytest.mark.parametrize(
    "path",
    [
        "/person/name/nickname",
        "/person/name/firstName/extra",
        "/identityMap/Email/first/id",
        "person/name/firstName",
        "/person//name",
        "/person/name/",
        "",
        "/workAddress",
    ],
)
def test_field_at_gives_none_for_a_path_the_schema_lacks(
    profile_schema: XedSchema, path: str
) -> None:
    assert profile_schema.field_at(path) is None


def test_custom_fields_live_under_the_tenant(registry: SchemaRegistry) -> None:
    schema = registry.compose(
        "profile",
        ["identitymap"],
        custom={"default": {"type": "object", "properties": {"score": {"type": "integer"}}}},
        tenant="_acme",
    )

    score = schema.field_at("/_acme/default/score")
    assert score is not None
    assert score.type is XdmType.INTEGER
    assert schema.field_at("/_customer") is None


def test_custom_fields_may_reference_data_types(registry: SchemaRegistry) -> None:
    schema = registry.compose(
        "profile", custom={"backupEmail": {"$ref": "https://ns.adobe.com/xdm/context/emailaddress"}}
    )

    address = schema.field_at("/_customer/backupEmail/address")
    assert address is not None
    assert address.format == "email"


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({"flag": True}, "must map each field name to a JSON schema"),
        ({"flag": {"type": "bool"}}, "custom field schema"),
        ({"flag": {"$ref": "https://ns.adobe.com/xdm/context/nothing"}}, "no schema with \\$id"),
    ],
)
def test_bad_custom_fields_are_refused(
    registry: SchemaRegistry, custom: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        registry.compose("profile", custom=custom)


@pytest.mark.parametrize("tenant", ["customer", "_", "_a-b", ""])
def test_a_tenant_namespace_is_an_underscore_and_letters(
    registry: SchemaRegistry, tenant: str
) -> None:
    with pytest.raises(InvalidInput, match="tenant namespace"):
        registry.compose("profile", tenant=tenant)


def test_a_field_group_for_another_class_is_refused(registry: SchemaRegistry) -> None:
    with pytest.raises(
        InvalidInput, match="the field group profile-privacy extends profile, not experienceevent"
    ):
        registry.compose("experienceevent", ["profile-privacy"])


def test_a_data_type_is_not_a_field_group(registry: SchemaRegistry) -> None:
    with pytest.raises(InvalidInput, match="person is not a field group"):
        registry.compose("profile", ["person"])


def test_a_field_group_is_not_a_class(registry: SchemaRegistry) -> None:
    with pytest.raises(InvalidInput, match="profile-privacy is not an XDM class"):
        registry.compose("profile-privacy")


def test_an_unknown_field_group_is_refused_with_a_suggestion(registry: SchemaRegistry) -> None:
    with pytest.raises(InvalidInput, match="did you mean 'identitymap'"):
        registry.compose("profile", ["identitymaps"])


def test_an_extension_of_an_unused_data_type_is_refused(registry: SchemaRegistry) -> None:
    with pytest.raises(InvalidInput, match="campaign/address extends common/address, which"):
        registry.compose("profile", ["identitymap", "campaign/address"])


def test_the_experience_event_class_brings_its_identity_map(registry: SchemaRegistry) -> None:
    schema = registry.compose("experienceevent", ["profile-person-details"])

    assert not schema.is_profile
    assert schema.json_schema["required"] == ["_id", "timestamp"]
    timestamp = schema.field_at("/timestamp")
    assert timestamp is not None
    assert timestamp.type is XdmType.DATE_TIME
    assert schema.field_at("/identityMap/ECID/0/id") is not None
    assert schema.field_at("/person/name/lastName") is not None


def test_every_listed_profile_field_group_composes(registry: SchemaRegistry) -> None:
    schema = registry.compose(
        "profile",
        [
            "profile-person-details",
            "profile-personal-details",
            "profile-work-details",
            "profile-preferences-details",
            "profile-phones",
            "profile-privacy",
            "profile-consents",
            "profile-loyalty-details",
            "profile-all",
            "identitymap",
            "campaign/address",
            "identitymap",
        ],
    )

    assert len(schema.field_group_ids) == 11
    for path in (
        "/workAddress/_experience/campaign/addressQuality",
        "/consents/marketing/email/val",
    ):
        assert schema.field_at(path) is not None, path
    subscriptions = schema.field_at("/notificationSubscriptions/0")
    assert subscriptions is not None
    assert subscriptions.required == {"topicID", "type", "subscriptionDate"}
