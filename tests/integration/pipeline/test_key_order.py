"""The export's windows order and compare string keys as Python does, on every source:
MySQL's default collations compare them without case (``'a' = 'A'``, ``'a' < 'B'``), and
a cursor that followed them would read a row twice or never."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from xdm_connector.demo.setup import DEMO_SCHEMA
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.windows import Bound, Window
from xdm_connector.pipeline.export import high_water
from xdm_connector.pipeline.plan import KEY_LABEL, describe_targeting_dimension, plan_export
from xdm_connector.pipeline.slicing import slice_ranges
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry

AT = datetime(2026, 1, 1, 12, 0, 0)
SOURCES = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def _source_url(source: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if source == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    if source == "mysql":
        return str(request.getfixturevalue("mysql_url"))
    return f"sqlite:///{tmp_path / 'source.db'}"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("keys", "primary_key"),
    [
        # Keys equal without case cannot share a case-insensitive primary key: the mapping
        # names the column as its key.
        pytest.param(["a", "A", "b", "B"], False, id="keys-differing-only-by-case"),
        # A primary key: MySQL reads it with ConnectorX, in pages of the key.
        pytest.param(["a", "B", "c", "D"], True, id="mixed-case-primary-key"),
    ],
)
def test_incremental_windows_read_each_string_key_once(
    source: str,
    keys: list[str],
    primary_key: bool,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    url = _source_url(source, request, tmp_path)
    engine = sa.create_engine(url)
    profile = sa.Table(
        "profile",
        sa.MetaData(),
        sa.Column("id", sa.String(8), primary_key=primary_key, nullable=False),
        sa.Column("email", sa.String(120)),
        sa.Column("modified", sa.DateTime, nullable=False),
        # MariaDB's default collation of utf8mb4 is utf8mb4_general_ci: without case.
        mysql_charset="utf8mb4",
    )
    profile.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            profile.insert(),
            [{"id": key, "email": f"{key}@example.org", "modified": AT} for key in keys],
        )
    engine.dispose()
    definition = MappingDefinition.from_document(
        {
            "id": "KEYS",
            "targetingDimension": "profile",
            "dataset": "profiles",
            "primaryKey": ["id"],
            "auditFields": ["@modified"],
            "fieldMappings": [{"source": "@email", "xdm": "/personalEmail/address"}],
        }
    )
    schema = dataset_schema(
        SchemaRegistry.packaged(), {"class": DEMO_SCHEMA[0], "fieldGroups": list(DEMO_SCHEMA[1:])}
    )
    in_order = sorted(keys)  # Python's order: by code point, "A" < "B" < "a" < "b"
    with SourceDatabase(url, ProductData.of_store("sqlite://")) as database:
        plan = plan_export(definition, schema, describe_targeting_dimension(database, definition))

        def read(window: Window) -> list[str]:
            return [
                key
                for batch in database.read_batches(plan.rows_query(window), batch_rows=64)
                for key in batch.column(KEY_LABEL).to_pylist()
            ]

        # The first job's upper bound is the last key in Python's order.
        assert high_water(database, plan, None, None) == Bound(AT, in_order[-1])
        # Windows ending at each key in turn (every row has the same audit value: the key
        # alone separates them) read exactly that key.
        after: Bound | None = None
        exported: list[str] = []
        for key in in_order:
            until = Bound(AT, key)
            assert high_water(database, plan, after, None) == Bound(AT, in_order[-1])
            exported += read(Window(after=after, until=until))
            after = until
        assert exported == in_order
        assert high_water(database, plan, after, None) is None
        # Slices of one row each cut the whole window at the same keys.
        whole = Window(after=None, until=Bound(AT, in_order[-1]))
        ranges = slice_ranges(database, plan, whole, rows_per_slice=1)
        assert [keys_range.until for keys_range in ranges] == [*in_order[:-1], None]
        sliced = [
            key
            for keys_range in ranges
            for batch in database.read_batches(plan.rows_query(whole, keys_range), batch_rows=64)
            for key in batch.column(KEY_LABEL).to_pylist()
        ]
        assert sliced == in_order
