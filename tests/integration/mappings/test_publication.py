"""Publication against sources that cannot be read: problems in the log, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from xdm_connector.demo.setup import DEMO_SCHEMA, demo_mapping
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization
from xdm_connector.services.publication import publish_mapping
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path}/metadata.db")
    opened.upgrade()
    yield opened
    opened.close()


@pytest.mark.parametrize(
    "source_url",
    [
        "postgresql+psycopg://nobody@127.0.0.1:9/crm",
        "sqlite:///{tmp}/missing.db",
    ],
)
def test_an_unreadable_source_fails_publication_cleanly(
    store: Store, tmp_path: Path, source_url: str
) -> None:
    registry = SchemaRegistry.packaged()
    create_organization(store, "acme", source_url.format(tmp=tmp_path))
    create_dataset(
        store, registry, "acme", "profiles", class_ref=DEMO_SCHEMA[0], field_groups=DEMO_SCHEMA[1:]
    )
    apply_mapping(store, "acme", demo_mapping())
    result = publish_mapping(store, registry, "acme", "XDM44")
    assert not result.published
    codes = [line.code for line in result.log]
    assert "ACP-880056" in codes
    assert codes[-1] == "ACP-880185"
    assert store.mappings.get("acme", "XDM44").publication_status == "Draft"
