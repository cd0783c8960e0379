"""Fixtures of the XDM tests: the packaged registry and a typical profile dataset schema."""

from __future__ import annotations

import pytest

from xdm_connector.xdm import SchemaRegistry, XedSchema

PROFILE_FIELD_GROUPS = (
    "profile-person-details",
    "profile-personal-details",
    "profile-preferences-details",
    "identitymap",
    "campaign/address",
)


@pytest.fixture(scope="session")
def registry() -> SchemaRegistry:
    return SchemaRegistry.packaged()


@pytest.fixture(scope="session")
def profile_schema(registry: SchemaRegistry) -> XedSchema:
    """Individual Profile with the field groups a Campaign profile export uses."""
    return registry.compose(
        "profile",
        PROFILE_FIELD_GROUPS,
        custom={
            "default": {
                "type": "object",
                "properties": {
                    "cusBooleanField": {"type": "boolean"},
                    "loyaltyTier": {"type": "string", "enum": ["gold", "silver"]},
                },
            }
        },
    )
