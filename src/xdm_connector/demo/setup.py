"""``xdm-connector demo``: a ready-to-trigger organization, prepared idempotently.

A SQLite source of realistic profiles, the organization ``demo`` (its ``Administrators``
hold the ``sql`` role), the dataset ``profiles``, the mapping ``XDM44`` published and
stopped, and an integration whose credentials are kept in ``$XDMC_HOME`` so that every run
prints the same ones.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson
import yaml

from xdm_connector.demo.source import create_demo_source
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.mapping_status import PublicationStatus
from xdm_connector.errors import Conflict, NotFound
from xdm_connector.security.credentials import ROLE_SQL
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.integrations import NewIntegration, create_integration
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization, grant_role
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

DEMO_ORG = "demo"
DEMO_DATASET = "profiles"
DEMO_MAPPING = "XDM44"
DEMO_SCHEMA = (
    "profile",
    "profile-person-details",
    "profile-personal-details",
    "profile-preferences-details",
    "identitymap",
    "campaign/address",
)
CREDENTIALS_FILE = "demo-credentials.json"
LAKE_QUERY = "select person.name.firstName, identityMap from profiles limit 3"
"""The walkthrough's query of the demo's dataset in the lake (``lake query``)."""


@dataclass(frozen=True)
class DemoSetup:
    """What ``prepare_demo`` made ready."""

    credentials: NewIntegration
    source_path: Path


def demo_mapping() -> MappingDefinition:
    """The demo's mapping ``XDM44``, shipped as ``demo/XDM44.yaml``."""
    text = resources.files("xdm_connector.demo").joinpath("XDM44.yaml").read_text("utf-8")
    return MappingDefinition.from_document(yaml.safe_load(text))


def prepare_demo(settings: Settings, store: Store, *, profiles: int = 10_000) -> DemoSetup:
    """Create whatever of the demo is missing; a second run changes nothing."""
    registry = SchemaRegistry.packaged()
    source_path = settings.demo_source_path
    create_demo_source(source_path, profiles=profiles)
    with contextlib.suppress(Conflict):
        create_organization(store, DEMO_ORG, f"sqlite:///{source_path}")
    grant_role(store, DEMO_ORG, "Administrators", ROLE_SQL)
    with contextlib.suppress(Conflict):
        create_dataset(
            store,
            registry,
            DEMO_ORG,
            DEMO_DATASET,
            class_ref=DEMO_SCHEMA[0],
            field_groups=DEMO_SCHEMA[1:],
        )
    definition = demo_mapping()
    try:
        published = (
            store.mappings.get(DEMO_ORG, DEMO_MAPPING).publication_status
            == PublicationStatus.PUBLISHED
        )
    except NotFound:
        published = False
    if not published:
        apply_mapping(store, DEMO_ORG, definition)
        result = publish_mapping(store, registry, DEMO_ORG, DEMO_MAPPING, start=False)
        if not result.published:
            problems = "; ".join(f"{line.code} {line.message}" for line in result.log)
            raise Conflict(f"the demo mapping does not publish: {problems}")
    return DemoSetup(credentials=_credentials(settings, store), source_path=source_path)


def _credentials(settings: Settings, store: Store) -> NewIntegration:
    """The demo integration's credentials: the kept ones while they are still valid."""
    path = settings.home / CREDENTIALS_FILE
    if path.exists():
        kept = orjson.loads(path.read_bytes())
        integration = store.tenants.get_integration(kept["client_id"])
        if integration is not None and integration.org_id == DEMO_ORG:
            return NewIntegration(kept["client_id"], kept["client_secret"])
    credentials = create_integration(store, DEMO_ORG, groups=["Administrators"], name="demo")
    document = {"client_id": credentials.client_id, "client_secret": credentials.client_secret}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(orjson.dumps(document))
    return credentials


def walkthrough(settings: Settings, setup: DemoSetup) -> str:
    """The copy-paste walkthrough ``make run`` prints, with the demo's credentials."""
    base = f"http://{settings.host}:{settings.port}"
    client_id = setup.credentials.client_id
    ingest = f"{base}/{DEMO_ORG}/campaign/dataIngestion/xdmIngestion/{DEMO_MAPPING}/ingest"
    lake = settings.lake_root / DEMO_ORG / DEMO_DATASET
    return f"""
xdm-connector demo is ready.

  organization   {DEMO_ORG}
  source         {setup.source_path}
  dataset        {DEMO_DATASET} (XDM Individual Profile)
  mapping        {DEMO_MAPPING} (published, stopped: ready to trigger)
  client id      {client_id}
  client secret  {setup.credentials.client_secret}

Walkthrough, in another terminal in this folder, once the server below prints
`xdm-connector listening on {base}`:

  export CLIENT_ID={client_id} CLIENT_SECRET={setup.credentials.client_secret}
  TOKEN=$(curl -s -X POST {base}/ims/token/v3 -d client_id=$CLIENT_ID \\
    -d client_secret=$CLIENT_SECRET -d grant_type=client_credentials \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  # trigger an ingestion: note the requestId it answers
  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "X-Api-Key: $CLIENT_ID" {ingest}

  # follow it until "status": "Success" (replace 1 by the requestId)
  curl -s -H "Authorization: Bearer $TOKEN" -H "X-Api-Key: $CLIENT_ID" "{ingest}?requestId=1"

  # count the records in the lake, a Delta table (any Delta reader: DuckDB, polars, Spark)
  .venv/bin/python -c "from deltalake import DeltaTable; print(DeltaTable('{lake}').count())"
  .venv/bin/xdm-connector lake query --org {DEMO_ORG} --dataset {DEMO_DATASET} \\
    "{LAKE_QUERY}"
"""
