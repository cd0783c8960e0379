"""A look-back that must forget versions (more rows changed within its span than
``XDMC_LOOKBACK_MAX_KEYS``) says so: a warning in the job's details, on its page, in the
jobs API and ``mappings jobs``, a count in ``/metrics``; and the mapping's next
reconciliation repairs the late row it then misses."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from xdm_connector.demo.setup import demo_mapping
from xdm_connector.domain.job_states import JobState
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.xdm.registry import SchemaRegistry

from .conftest import JOBS, Engine, engine_settings

MAX_KEYS = 10
CHANGED = 30
METRICS_TOKEN = "scraper-token"
BASE = datetime(2031, 1, 1)
"""Later than every demo profile's audit value."""


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite")])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """An installation whose look-back remembers ``MAX_KEYS`` versions."""
    return engine_settings(
        request, tmp_path, lookback_max_keys=MAX_KEYS, metrics_token=METRICS_TOKEN
    )


def stamp(seconds: int) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat(" ", timespec="microseconds")


def first_name(engine: Engine, key: str) -> str:
    rows = engine.lake().select(["_id", "person"]).to_pylist()
    (name,) = [row["person"]["name"]["firstName"] for row in rows if row["_id"] == key]
    return str(name)


def test_a_narrowed_look_back_warns_and_the_next_reconciliation_repairs(engine: Engine) -> None:
    document = demo_mapping().document()
    document["deletes"] = {"sweepIntervalMinutes": 1440}
    apply_mapping(engine.store, "demo", type(demo_mapping()).from_document(document))
    publish_mapping(engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False)
    assert engine.run().state == JobState.SUCCESS

    # 30 rows changed a second apart: the look-back keeps the 10 newest versions.
    for second in range(CHANGED):
        engine.source("UPDATE profile SET lastModified = ? WHERE id = ?", stamp(second), second + 1)
    narrowed = engine.run()
    assert narrowed.state == JobState.SUCCESS, narrowed.reason
    assert narrowed.records_ingested == CHANGED
    assert narrowed.details is not None
    assert narrowed.details["lookbackDropped"] == CHANGED - MAX_KEYS
    (warning,) = narrowed.details["warnings"]
    assert "XDMC_LOOKBACK_MAX_KEYS" in warning
    assert "next reconciliation repairs" in warning
    assert (BASE + timedelta(seconds=CHANGED - MAX_KEYS - 1)).isoformat() in warning

    detail = engine.client.get(f"{JOBS}/{narrowed.request_id}", headers=engine.headers).json()
    assert (detail["warnings"], detail["lookbackDropped"]) == ([warning], CHANGED - MAX_KEYS)
    metrics = engine.client.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ).text
    dropped = {
        sample.labels["org"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "xdmc_records_lookback_dropped_total"
    }
    assert dropped == {"demo": CHANGED - MAX_KEYS}

    # Committed late, with an audit value the narrowed span no longer reads again.
    engine.source(
        "UPDATE profile SET firstName = 'Late', lastModified = ? WHERE id = 150", stamp(5)
    )
    missed = engine.run()
    assert (missed.state, missed.records_ingested) == (JobState.SUCCESS, 0)
    assert first_name(engine, "150") != "Late"

    engine.reconcile()
    assert first_name(engine, "150") == "Late"
