"""Reflection of source resources: keys, links and their names, views, unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from xdm_connector.errors import InvalidInput
from xdm_connector.sources.schema import Resource, describe_resource


def link_names(resource: Resource) -> list[str]:
    return sorted(link.name for link in resource.links)


def test_a_table_with_its_key_and_links(engine: Engine) -> None:
    profile = describe_resource(engine, "profile")
    assert profile.name == "profile"
    assert profile.key == ("id",)
    assert link_names(profile) == ["manager", "postalAddress"]
    address = profile.find_link("POSTALADDRESS")
    assert address is not None
    assert address.columns == ("postalAddress_id",)
    assert address.target_columns == ("id",)
    assert address.target.name == "postalAddress"
    assert address.target.key == ("id",)
    assert address.target.links == ()
    email = profile.find_column("EMAIL")
    assert email is not None
    assert email.name == "email"
    assert profile.find_column("nope") is None


def test_link_names_drop_the_id_suffix(engine: Engine) -> None:
    purchase = describe_resource(engine, "purchase")
    assert link_names(purchase) == ["customer", "shipping_address"]
    customer = purchase.find_link("customer")
    assert customer is not None
    assert customer.target.name == "profile"
    assert link_names(customer.target) == ["manager", "postalAddress"]


def test_links_stop_at_the_depth_limit(engine: Engine) -> None:
    resource = describe_resource(engine, "profile")
    depth = 0
    while (manager := resource.find_link("manager")) is not None:
        resource = manager.target
        depth += 1
    assert depth == 4
    assert resource.links == ()
    shallow = describe_resource(engine, "profile", max_depth=1)
    manager = shallow.find_link("manager")
    assert manager is not None
    assert manager.target.links == ()


def test_names_match_in_any_case(engine: Engine) -> None:
    assert describe_resource(engine, "PROFILE").name == "profile"
    assert describe_resource(engine, "postaladdress").name == "postalAddress"


def test_unknown_names_suggest_a_known_one(engine: Engine) -> None:
    with pytest.raises(
        InvalidInput, match=r"unknown table or view 'profil' \(did you mean profile\?\)"
    ):
        describe_resource(engine, "profil")
    with pytest.raises(InvalidInput, match="unknown table or view 'profile; DROP TABLE x'"):
        describe_resource(engine, "profile; DROP TABLE x")


def test_views_and_tables_without_key_need_one(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="activeProfile has no primary key"):
        describe_resource(engine, "activeProfile")
    with pytest.raises(InvalidInput, match="noKey has no primary key"):
        describe_resource(engine, "noKey")
    view = describe_resource(engine, "activeprofile", key=["Id"])
    assert view.key == ("id",)
    assert describe_resource(engine, "noKey", key=["code"]).key == ("code",)
    with pytest.raises(InvalidInput, match=r"has no column 'cod' \(did you mean code\?\)"):
        describe_resource(engine, "noKey", key=["cod"])
    with pytest.raises(InvalidInput, match="at least one column"):
        describe_resource(engine, "noKey", key=[])


def test_an_explicit_key_overrides_the_primary_key(engine: Engine) -> None:
    profile = describe_resource(engine, "profile", key=["email", "id"])
    assert profile.key == ("email", "id")
    assert link_names(profile) == ["manager", "postalAddress"]


def test_colliding_link_names_fall_back_to_table_and_columns(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'links.db'}")
    metadata = sa.MetaData()
    sa.Table(
        "region",
        metadata,
        sa.Column("country", sa.String(2), primary_key=True),
        sa.Column("code", sa.String(5), primary_key=True),
    )
    sa.Table(
        "shop",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region_id", sa.ForeignKey("region.code")),
        sa.Column("regionId", sa.ForeignKey("region.code")),
        sa.Column("country", sa.String(2)),
        sa.Column("area", sa.String(5)),
        sa.ForeignKeyConstraint(["country", "area"], ["region.country", "region.code"]),
    )
    metadata.create_all(engine)
    shop = describe_resource(engine, "shop")
    assert link_names(shop) == ["region", "region_country_area", "region_region_id"]
    region = shop.find_link("Region")
    assert region is not None
    assert region.columns == ("regionId",)
    composite = shop.find_link("region_country_area")
    assert composite is not None
    assert composite.columns == ("country", "area")
    assert composite.target_columns == ("country", "code")
    engine.dispose()
