"""The preview of a mapping on real stores and sources (SQLite, PostgreSQL, MariaDB): a dry
run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.errors import Conflict, InvalidInput, NotFound
from xdm_connector.pipeline.preview import Preview, preview_mapping
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization
from xdm_connector.services.publication import publish_mapping
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.validation import RecordError

NO_PRIMARY = 'a profile record needs an identity with "primary": true'
ROWS = [
    (1, "ada@example.com", "female", "1990-01-31"),
    (2, "not-an-email", "male", "1985-06-01"),
    (3, "cy@example.com", "x", "1970-12-24"),
    (4, "dee@example.com", "unknown", "1990-02-30"),
    *[(key, f"p{key}@example.com", "male", None) for key in range(5, 13)],
]


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.packaged()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def source_kind(request: pytest.FixtureRequest) -> str:
    """The source's database: SQLite, PostgreSQL or MariaDB."""
    kind: str = request.param
    return kind


@pytest.fixture
def database_url(request: pytest.FixtureRequest, source_kind: str, tmp_path: Path) -> str:
    """The store's database: beside a PostgreSQL source, PostgreSQL; else SQLite (a
    store is never on MySQL)."""
    if source_kind == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def source_url(request: pytest.FixtureRequest, source_kind: str, tmp_path: Path) -> str:
    """The source's database, beside the store's."""
    if source_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}"
    url: str = request.getfixturevalue(
        "postgres_source_url" if source_kind == "postgresql" else "mysql_url"
    )
    return url


def source_database(url: str) -> None:
    """A ``profile`` table whose rows 2, 3 and 4 do not make valid records."""
    engine = sa.create_engine(url)
    table = sa.Table(
        "profile",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(128)),
        sa.Column("gender", sa.String(16)),
        sa.Column("birth", sa.String(16)),
        sa.Column("lastModified", sa.DateTime),
    )
    table.create(engine)
    with engine.begin() as connection:
        # Inserted backwards: the preview reads in key order, not insertion order.
        connection.execute(
            table.insert(),
            [
                {"id": key, "email": email, "gender": gender, "birth": birth}
                for key, email, gender, birth in reversed(ROWS)
            ],
        )
    engine.dispose()


def definition(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "PREVIEW",
        "targetingDimension": "profile",
        "dataset": "profiles",
        "mapToXdmArray": True,
        "fieldMappings": [
            {"source": "ToString(@id)", "xdm": "/_id"},
            {"source": "@email", "xdm": "/personalEmail/address"},
            {"source": "@gender", "xdm": "/person/gender"},
            {"source": "@birth", "xdm": "/person/birthDate"},
            {"source": "@email", "xdm": "/identityMap/Email/0/id"},
            {"source": "true", "xdm": "/identityMap/Email/0/primary"},
        ],
        **overrides,
    }


@pytest.fixture
def store(database_url: str, source_url: str, registry: SchemaRegistry) -> Iterator[Store]:
    source_database(source_url)
    opened = Store(database_url)
    opened.upgrade()
    create_organization(opened, "acme", source_url)
    create_dataset(
        opened,
        registry,
        "acme",
        "profiles",
        class_ref="profile",
        field_groups=["profile-person-details", "profile-personal-details", "identitymap"],
    )
    apply_mapping(opened, "acme", MappingDefinition.from_document(definition()))
    yield opened
    opened.close()


def preview(store: Store, registry: SchemaRegistry, **options: Any) -> Preview:
    return preview_mapping(store, registry, "acme", "PREVIEW", **options)


def test_each_row_answers_its_record_or_why_it_fails(
    store: Store, registry: SchemaRegistry
) -> None:
    answer = preview(store, registry, limit=5)

    assert (answer.mapping, answer.definition, answer.problems) == ("PREVIEW", "draft", [])
    assert [record.key for record in answer.records] == [1, 2, 3, 4, 5]
    first, bad_email, bad_gender, bad_date, no_birth = answer.records
    assert first.record == {
        "_id": "1",
        "person": {"birthDate": "1990-01-31", "gender": "female"},
        "personalEmail": {"address": "ada@example.com"},
        "identityMap": {"Email": [{"id": "ada@example.com", "primary": True}]},
    }
    assert first.errors == []
    assert bad_email.record is not None
    assert bad_email.record["personalEmail"] == {"address": "not-an-email"}
    assert bad_email.errors == [
        RecordError("/personalEmail/address", "not-an-email", "not a valid email")
    ]
    assert bad_gender.record is None
    assert [(e.path, e.value) for e in bad_gender.errors] == [("/person/gender", "x")]
    assert bad_gender.errors[0].reason.startswith("not one of the allowed values (male, female")
    # Every field that fails is named, not the first only.
    assert bad_date.record is None
    assert [(e.path, e.value, e.reason) for e in bad_date.errors] == [
        ("/person/birthDate", "1990-02-30", "not a valid date"),
        ("/person/gender", "unknown", bad_gender.errors[0].reason),
    ]
    assert no_birth.record is not None
    assert "birthDate" not in no_birth.record["person"]
    assert no_birth.errors == []
    assert answer.document()["records"][2] == {
        "key": 3,
        "record": None,
        "errors": [{"path": "/person/gender", "value": "x", "reason": bad_gender.errors[0].reason}],
    }


def test_nothing_is_exported_nor_recorded(store: Store, registry: SchemaRegistry) -> None:
    assert publish_mapping(store, registry, "acme", "PREVIEW", start=False).published
    before = store.mappings.get("acme", "PREVIEW")
    log = store.mappings.publication_log("acme", "PREVIEW")

    assert len(preview(store, registry, limit=3, use_draft=False).records) == 3

    after = store.mappings.get("acme", "PREVIEW")
    assert (after.watermark, after.next_run_at) == (before.watermark, before.next_run_at)
    assert store.jobs.list_for_mapping("acme", "PREVIEW") == []
    assert len(store.mappings.publication_log("acme", "PREVIEW")) == len(log)


def test_the_limit_counts_rows_in_key_order(store: Store, registry: SchemaRegistry) -> None:
    assert [r.key for r in preview(store, registry, limit=1).records] == [1]
    assert [r.key for r in preview(store, registry).records] == list(range(1, 11))
    assert [r.key for r in preview(store, registry, limit=100).records] == list(range(1, 13))
    for limit in (0, 101, -5):
        with pytest.raises(InvalidInput, match="between 1 and 100"):
            preview(store, registry, limit=limit)
    with pytest.raises(NotFound, match="unknown mapping NOPE"):
        preview_mapping(store, registry, "acme", "NOPE", limit=1)


def test_a_draft_that_does_not_compile_answers_its_problems(
    store: Store, registry: SchemaRegistry
) -> None:
    assert publish_mapping(store, registry, "acme", "PREVIEW", start=False).published
    broken = definition(
        fieldMappings=[
            {"source": "@emial", "xdm": "/personalEmail/address"},
            {"source": "'out'", "xdm": "/optOutConsentLevel/privacyOptOuts/0/optOutType"},
        ]
    )
    apply_mapping(store, "acme", MappingDefinition.from_document(broken))

    answer = preview(store, registry)

    assert answer.records == []
    codes = {problem.code: problem.message for problem in answer.problems}
    assert set(codes) == {"ACP-880087", "ACP-880189"}
    assert "unknown field @emial (did you mean @email?)" in codes["ACP-880087"]
    assert "/optOutConsentLevel/privacyOptOuts/0/optOutType" in codes["ACP-880189"]
    # The published definition still runs, and previews.
    running = preview(store, registry, limit=2, use_draft=False)
    assert (running.definition, running.problems) == ("published", [])
    assert [record.key for record in running.records] == [1, 2]


def test_a_source_the_mapping_cannot_read_is_a_problem(
    store: Store, registry: SchemaRegistry, tmp_path: Path
) -> None:
    apply_mapping(
        store, "acme", MappingDefinition.from_document(definition(targetingDimension="profil"))
    )

    answer = preview(store, registry)

    assert answer.records == []
    assert [problem.message for problem in answer.problems] == [
        "unknown table or view 'profil' (did you mean profile?)"
    ]

    missing = tmp_path / "missing.db"
    create_organization(store, "globex", f"sqlite:///{missing}")
    create_dataset(store, registry, "globex", "profiles", class_ref="profile")
    only_id = definition(mapToXdmArray=False, fieldMappings=[{"source": "@id", "xdm": "/_id"}])
    apply_mapping(store, "globex", MappingDefinition.from_document(only_id))
    unreadable = preview_mapping(store, registry, "globex", "PREVIEW")
    assert unreadable.records == []
    assert [(p.code, p.message) for p in unreadable.problems] == [
        (
            "ACP-880056",
            "ACP-880056 Failed to fetch the record from the database. "
            f"The SQLite database {missing} does not exist.",
        )
    ]


def test_a_record_without_a_primary_identity_is_invalid(
    store: Store, registry: SchemaRegistry
) -> None:
    rows = definition()["fieldMappings"][:4]
    apply_mapping(store, "acme", MappingDefinition.from_document(definition(fieldMappings=rows)))

    answer = preview(store, registry, limit=1)

    assert answer.records[0].record is not None
    assert "identityMap" not in answer.records[0].record
    assert answer.records[0].errors == [RecordError("/identityMap", None, NO_PRIMARY)]


def test_only_a_published_mapping_previews_its_published_definition(
    store: Store, registry: SchemaRegistry
) -> None:
    with pytest.raises(Conflict, match="mapping PREVIEW is not published"):
        preview(store, registry, use_draft=False)
