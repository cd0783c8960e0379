"""The rule that names a link after its foreign key."""

from __future__ import annotations

import pytest

from xdm_connector.sources.schema import link_name


@pytest.mark.parametrize(
    ("columns", "name"),
    [
        (["postalAddress_id"], "postalAddress"),
        (["postal_address_id"], "postal_address"),
        (["postalAddressId"], "postalAddress"),
        (["postalAddressID"], "postalAddress"),
        (["customer_ID"], "customer"),
        (["customer_Id"], "customer"),
        (["owner"], "owner"),
        (["paid"], "paid"),
        (["ID"], "country"),
        (["_id"], "country"),
        (["country_code", "country_region"], "country"),
    ],
)
def test_link_name(columns: list[str], name: str) -> None:
    assert link_name(columns, "country") == name
