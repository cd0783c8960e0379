"""Source-form names to XED form, and the XED form of a schema."""

from __future__ import annotations

import pytest

from xdm_connector.errors import InvalidInput
from xdm_connector.xdm.xed import to_xed, xed_dotted, xed_name


@pytest.mark.parametrize(
    ("source", "xed"),
    [
        ("xdm:person", ("person",)),
        ("repo:createDate", ("_repo", "createDate")),
        ("schema:latitude", ("_schema", "latitude")),
        ("dc:format", ("_dc", "format")),
        ("https://ns.adobe.com/xdm/channels/email", ("_channels", "email")),
        ("https://ns.adobe.com/xdm/channels/direct-mail", ("_channels", "direct-mail")),
        (
            "https://ns.adobe.com/experience/campaign/addressQuality",
            ("_experience", "campaign", "addressQuality"),
        ),
        ("https://ns.adobe.com/acme/loyaltyTier", ("_acme", "loyaltyTier")),
        ("https://ns.adobe.com/xdm/timezone", ("timezone",)),
        ("http://ns.adobe.com/xdm/channels/sms", ("_channels", "sms")),
        ("@id", ("_id",)),
        ("@type", ("_type",)),
        ("@context", ()),
        ("cusBooleanField", ("cusBooleanField",)),
    ],
)
def test_xed_name_follows_each_namespace_rule(source: str, xed: tuple[str, ...]) -> None:
    assert xed_name(source) == xed


def test_xed_dotted_writes_the_platform_spelling() -> None:
    assert xed_dotted("https://ns.adobe.com/experience/campaign/addressQuality") == (
        "_experience.campaign.addressQuality"
    )


@pytest.mark.parametrize(
    "name", ["https://ns.example.com/assetName", "https://ns.adobe.com/", "urn://x/y"]
)
def test_a_url_outside_adobe_namespaces_has_no_xed_name(name: str) -> None:
    with pytest.raises(InvalidInput, match="no XED name"):
        xed_name(name)


def test_to_xed_nests_namespaced_properties_under_underscore_parents() -> None:
    source = {
        "type": "object",
        "properties": {
            "xdm:optInOut": {
                "type": "object",
                "properties": {
                    "https://ns.adobe.com/xdm/channels/email": {"type": "string"},
                    "https://ns.adobe.com/xdm/channels/sms": {"type": "string"},
                    "xdm:globalOptout": {"type": "boolean"},
                },
            },
            "repo:createDate": {"type": "string", "format": "date-time"},
            "@id": {"type": "string"},
            "@context": {"type": "object"},
        },
        "required": ["@id", "repo:createDate"],
    }

    assert to_xed(source) == {
        "type": "object",
        "properties": {
            "optInOut": {
                "type": "object",
                "properties": {
                    "_channels": {
                        "type": "object",
                        "properties": {"email": {"type": "string"}, "sms": {"type": "string"}},
                    },
                    "globalOptout": {"type": "boolean"},
                },
            },
            "_repo": {
                "type": "object",
                "properties": {"createDate": {"type": "string", "format": "date-time"}},
                "required": ["createDate"],
            },
            "_id": {"type": "string"},
        },
        "required": ["_id", "_repo"],
    }


def test_to_xed_converts_items_maps_and_combinators_and_drops_pattern_properties() -> None:
    source = {
        "type": "object",
        "properties": {
            "xdm:identityMap": {
                "type": "object",
                "meta:xdmType": "map",
                "additionalProperties": {
                    "type": "array",
                    "items": {"properties": {"xdm:id": {"type": "string"}}},
                },
            },
            "xdm:principal": {"oneOf": [{"type": "string"}, {"properties": {"@id": {}}}]},
        },
        "patternProperties": {"^xdm:.*$": {}},
    }

    xed = to_xed(source)

    identity = xed["properties"]["identityMap"]["additionalProperties"]["items"]
    assert identity == {"properties": {"id": {"type": "string"}}}
    assert xed["properties"]["principal"]["oneOf"][1] == {"properties": {"_id": {}}}
    assert "patternProperties" not in xed


def test_to_xed_merges_a_declared_parent_with_a_namespaced_sibling() -> None:
    source = {
        "properties": {
            "xdm:_repo": {"type": "object", "properties": {"note": {"type": "string"}}},
            "repo:createDate": {"type": "string"},
        }
    }

    repo = to_xed(source)["properties"]["_repo"]

    assert repo["properties"] == {"note": {"type": "string"}, "createDate": {"type": "string"}}


def test_to_xed_leaves_its_argument_untouched() -> None:
    source = {"properties": {"xdm:a": {"enum": ["x"]}}, "required": ["xdm:a"]}

    xed = to_xed(source)
    xed["properties"]["a"]["enum"].append("y")

    assert source == {"properties": {"xdm:a": {"enum": ["x"]}}, "required": ["xdm:a"]}
