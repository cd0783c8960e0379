"""An app on each metadata store, and a world of two organizations to test access on.

``acme`` has a SQLite source, the dataset ``profiles``, the mapping ``XDM44`` (published,
stopped) with one ingestion request, and three integrations: an administrator holding
``sql``, a standard user holding no role, and a spare one to rotate and delete. ``globex``
has an administrator of its own, holding every role.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.apps import client, settings, source_database, store
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.integrations import NewIntegration, create_integration
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization, grant_role
from xdm_connector.services.publication import publish_mapping
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

MAPPING_ID = "XDM44"
DATASET_ID = "profiles"
FIELD_GROUPS = ["profile-personal-details", "identitymap"]
__all__ = ["client", "settings", "store"]


def mapping_document(mapping_id: str = MAPPING_ID) -> dict[str, Any]:
    """A definition that publishes against ``source_database``."""
    return {
        "id": mapping_id,
        "label": "Profiles to Platform",
        "targetingDimension": "profile",
        "dataset": DATASET_ID,
        "auditFields": ["@lastModified"],
        "fieldMappings": [
            {"source": "ToString(@id)", "xdm": "/_id"},
            {"source": "@email", "xdm": "/personalEmail/address"},
        ],
    }


def bearer(client: TestClient, credentials: NewIntegration) -> dict[str, str]:
    """The headers of a call by ``credentials``, with a token from the token endpoint."""
    response = client.post(
        "/ims/token/v3",
        data={"client_id": credentials.client_id, "client_secret": credentials.client_secret},
    )
    assert response.status_code == 200, response.text
    return {
        "Authorization": f"Bearer {response.json()['access_token']}",
        "X-Api-Key": credentials.client_id,
    }


@dataclass(frozen=True)
class World:
    """The two organizations' callers and the ids of ``acme``'s objects."""

    admin: NewIntegration
    reader: NewIntegration
    spare: NewIntegration
    other: NewIntegration
    admin_headers: dict[str, str]
    reader_headers: dict[str, str]
    other_headers: dict[str, str]
    request_id: int


def make_org(store: Store, org: str, folder: Path) -> None:
    """An organization with a source, the dataset and a published, stopped mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    registry = SchemaRegistry.packaged()
    create_organization(store, org, source_database(folder))
    grant_role(store, org, "Administrators", "sql")
    create_dataset(store, registry, org, DATASET_ID, class_ref="profile", field_groups=FIELD_GROUPS)
    apply_mapping(store, org, MappingDefinition.from_document(mapping_document()))
    result = publish_mapping(store, registry, org, MAPPING_ID, start=False)
    assert result.published, result.log


@pytest.fixture
def world(client: TestClient, store: Store, tmp_path: Path) -> World:
    make_org(store, "acme", tmp_path / "acme")
    make_org(store, "globex", tmp_path / "globex")
    admin = create_integration(store, "acme", groups=["Administrators"], name="admin")
    reader = create_integration(store, "acme", groups=["Standard Users"], name="reader")
    spare = create_integration(store, "acme", groups=["Standard Users"], name="spare")
    other = create_integration(store, "globex", groups=["Administrators"], name="other")
    request_id = store.jobs.request_ingestion("acme", MAPPING_ID).job.id
    return World(
        admin=admin,
        reader=reader,
        spare=spare,
        other=other,
        admin_headers=bearer(client, admin),
        reader_headers=bearer(client, reader),
        other_headers=bearer(client, other),
        request_id=request_id,
    )
