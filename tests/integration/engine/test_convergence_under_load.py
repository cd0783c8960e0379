"""Convergence under a writer: while exports run, a writer keeps changing the source (many
rows with one audit value, late commits 5 to 120 s older than the last high-water mark,
inserts and deletes) faster than the look-back remembers; once it stops, one export with a
due sweep leaves the upsert table equal to the source, value for value."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.integration.engine.conftest import SOURCE_KINDS, Engine, engine_settings
from tests.integration.engine.test_cursor import _stamp
from tests.integration.engine.writers import exports_during
from xdm_connector.demo.setup import demo_mapping
from xdm_connector.domain.job_states import JobState
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.xdm.registry import SchemaRegistry

WRITES = 400
MAX_KEYS = 25
"""A look-back smaller than what the writer changes within its span: it must narrow."""

# A writer's body (``writers.CONNECTION`` before it): many rows with one audit value, late commits 5 to 120 s old, inserts, deletes.
WRITER = """
for write in range(writes):
    pace(write)
    now = datetime.now(UTC).replace(tzinfo=None)
    kind_of_write = chooser.choice(["bulk", "late", "late", "now", "insert", "delete"])
    name = f"w{write}"
    if kind_of_write == "bulk":  # many rows with one audit value
        keys = [chooser.randint(1, next_id - 1) for _ in range(15)]
        marks = ", ".join([mark] * len(keys))
        execute(
            f"update profile set firstName = ?, lastModified = ? where id in ({marks})",
            (name, stamp(now), *keys),
        )
    elif kind_of_write == "late":  # committed late: an audit value 5 to 120 s old
        at = stamp(now - timedelta(seconds=chooser.randint(5, 120)))
        execute(
            "update profile set firstName = ?, lastModified = ? where id = ?",
            (name, at, chooser.randint(1, next_id - 1)),
        )
    elif kind_of_write == "now":
        execute(
            "update profile set firstName = ?, lastModified = ? where id = ?",
            (name, stamp(now), chooser.randint(1, next_id - 1)),
        )
    elif kind_of_write == "insert":
        execute(
            "insert into profile (id, email, firstName, lastModified, created, gender)"
            " values (?, ?, ?, ?, ?, 'female')",
            (next_id, f"{name}@example.com", name, stamp(now), stamp(now)),
        )
        next_id += 1
    else:
        execute("delete from profile where id = ?", (chooser.randint(1, next_id - 1),))
    time.sleep(0.005)
source.close()
"""


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite")])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """An installation whose look-back remembers ``MAX_KEYS`` versions."""
    return engine_settings(request, tmp_path, lookback_max_keys=MAX_KEYS)


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_the_upsert_table_equals_the_source_after_a_writer_and_a_sweep(engine: Engine) -> None:
    document = demo_mapping().document()
    document["deletes"] = {"detectHardDeletes": True, "sweepIntervalMinutes": 1440}
    apply_mapping(engine.store, "demo", type(demo_mapping()).from_document(document))
    publish_mapping(engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False)
    jobs = exports_during(engine, WRITER, writes=WRITES, seed=18)
    assert all(job.state == JobState.SUCCESS for job in jobs), [job.reason for job in jobs]
    # Far more versions changed within the span than it remembers: it narrowed, and said so.
    assert sum((job.details or {}).get("lookbackDropped", 0) for job in jobs) > 0

    engine.reconcile()

    assert lake_values(engine) == source_values(engine)


def source_values(engine: Engine) -> dict[str, tuple[str, str, str]]:
    """Each live profile's email, first name and audit value, as the source has them."""
    rows = engine.source_rows("select id, email, firstName, lastModified from profile")
    return {
        str(key): (email, name, at if isinstance(at, str) else _stamp(at))
        for key, email, name, at in rows
    }


def lake_values(engine: Engine) -> dict[str, tuple[str, str, str]]:
    """Each record of the upsert table, as ``source_values`` shows a profile."""
    table = engine.lake()
    emails = pc.struct_field(table.column("personalEmail"), [0]).to_pylist()
    names = pc.struct_field(table.column("person"), ["name", "firstName"]).to_pylist()
    modified = pc.struct_field(table.column("_repo"), [1]).to_pylist()
    keys = table.column("_id").to_pylist()
    assert len(set(keys)) == len(keys), "an upsert table holds one row per key"
    return {
        key: (email, name, _stamp(at.astimezone(UTC).replace(tzinfo=None)))
        for key, email, name, at in zip(keys, emails, names, modified, strict=True)
    }
