"""A table keyed by text in a collation that orders and compares otherwise than bytes do
(MariaDB's case- and accent-insensitive ``utf8mb4_general_ci``, PostgreSQL's ICU root
collation): the cursor misses no key its collation puts elsewhere, and the reconciliation
leaves the lake with exactly the source's live records."""

from __future__ import annotations

import datetime as dt

import pytest

from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.xdm.registry import SchemaRegistry

from .conftest import EVERY_SOURCE_KIND, Engine

STEMS = ("alice", "Bob", "émile", "Zoë", "zed", "Ängel", "a.b", "ÉMILIE", "bob-")
KEYS = [f"{stem}{number}" for stem in STEMS for number in range(7)]
"""Keys whose orders by bytes, by case-insensitive and by linguistic collations differ."""
NEW_KEYS = ("ZZ", "zy", "Éz", "éa")
"""Keys added with the audit value of the others, each after or before the last one."""
CREATE = {
    "sqlite": "CREATE TABLE contact (code VARCHAR(40) PRIMARY KEY, email VARCHAR(80), "
    "modified TIMESTAMP NOT NULL)",
    "postgresql": 'CREATE TABLE contact (code VARCHAR(40) COLLATE "und-x-icu" PRIMARY KEY, '
    "email VARCHAR(80), modified TIMESTAMP NOT NULL)",
    "mysql": "CREATE TABLE contact (code VARCHAR(40) PRIMARY KEY, email VARCHAR(80), "
    "modified DATETIME(6) NOT NULL) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
}
FIELDS = {"/_id": "@code", "/personalEmail/address": "@email", "/_repo/modifyDate": "@modified"}
CONTACTS = {
    "id": "XDM44",
    "targetingDimension": "contact",
    "dataset": "profiles",
    "auditFields": ["@modified"],
    "fieldMappings": [{"source": source, "xdm": xdm} for xdm, source in FIELDS.items()],
}
MODIFIED = dt.datetime(2026, 1, 1, 12).isoformat(" ")


def new_email(key: str) -> str:
    return f"new.{KEYS.index(key)}@example.com"


def contacts(engine: Engine, deletes: dict[str, object] | None) -> None:
    """The ``contact`` table with ``KEYS``, one audit value for all, and XDM44 mapping it."""
    engine.source(CREATE[engine.source_kind])
    for key in KEYS:
        add_contact(engine, key)
    document = {**CONTACTS, "deletes": deletes}
    apply_mapping(engine.store, "demo", MappingDefinition.from_document(document))
    published = publish_mapping(
        engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False
    )
    assert published.published, [line.message for line in published.log]


def add_contact(engine: Engine, key: str) -> None:
    engine.source(
        "INSERT INTO contact (code, email, modified) VALUES (?, ?, ?)",
        key,
        f"{len(key)}@example.com",
        MODIFIED,
    )


@pytest.mark.parametrize("source_kind", EVERY_SOURCE_KIND)
def test_a_key_after_the_high_water_mark_in_its_collation_only_is_exported(
    engine: Engine,
) -> None:
    contacts(engine, deletes=None)
    assert engine.run().state == "Success"
    # With the last key's audit value: after it in code points, before it in a
    # linguistic collation, or the other way round.
    for key in NEW_KEYS:
        add_contact(engine, key)
        job = engine.run()
        assert (job.state, job.records_ingested) == ("Success", 1), (key, job.reason)
    assert sorted(engine.lake_ids()) == sorted([*KEYS, *NEW_KEYS])


@pytest.mark.parametrize("source_kind", EVERY_SOURCE_KIND)
def test_a_sweep_of_text_keys_in_a_linguistic_collation(engine: Engine) -> None:
    contacts(engine, deletes={"detectHardDeletes": True, "sweepIntervalMinutes": 0})
    first = engine.run()
    assert first.state == "Success", (first.reason, first.details)
    assert sorted(engine.lake_ids()) == sorted(KEYS)

    # Gone, and changed without their audit value: only the sweep sees them.
    gone = [key for key in KEYS if key[-1] in "02"]
    changed = [key for key in KEYS if key[-1] == "5"]
    for key in gone:
        engine.source("DELETE FROM contact WHERE code = ?", key)
    for key in changed:
        engine.source("UPDATE contact SET email = ? WHERE code = ?", new_email(key), key)
    swept = engine.run()
    assert swept.state == "Success", swept.reason
    assert swept.records_deleted == len(gone)
    assert swept.details is not None
    assert swept.details["reconciliation"]["differing"] == len(changed)

    lake = engine.lake().to_pylist()
    emails = {row["_id"]: row["personalEmail"]["address"] for row in lake}
    live = [key for key in KEYS if key not in gone]
    assert sorted(emails) == sorted(live)
    assert all(emails[key] == new_email(key) for key in changed)
    # Converged: the next sweep finds nothing.
    again = engine.run()
    assert again.details is not None
    found = again.details["reconciliation"]
    assert (found["missing"], found["differing"], found["neverDelivered"]) == (0, 0, 0)
