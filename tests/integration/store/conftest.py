"""A metadata store on a real SQLite file and on a real PostgreSQL database, with factories.

Every test that asks for ``store`` runs twice: once on ``sqlite:///<tmp>/metadata.db`` and
once on a fresh PostgreSQL database (marked ``postgres``). ``database_url`` is the same
database before any migration; ``open_store`` opens further ``Store`` instances on it (two
engines, like two API processes or two workers), each closed after the test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from xdm_connector.domain.mapping_status import ExecutionStatus, PublicationStatus
from xdm_connector.store.mappings import LogLine
from xdm_connector.store.models import Dataset, Mapping, Organization
from xdm_connector.store.store import Store

T = TypeVar("T")

DEFAULT_ORG = "acme"
DEFAULT_DATASET = "profiles"
DEFAULT_DEFINITION: dict[str, Any] = {
    "targetingDimension": "nms:recipient",
    "fields": [{"source": "@email", "target": "/personalEmail/address"}],
}


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty metadata database, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/metadata.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def open_store(database_url: str) -> Iterator[Callable[[], Store]]:
    """Open one more ``Store`` on the test's database; every one is closed after the test."""
    opened: list[Store] = []

    def _open() -> Store:
        store = Store(database_url)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    """A migrated store on the test's database."""
    store = open_store()
    store.upgrade()
    return store


def make_org(store: Store, **overrides: Any) -> Organization:
    """An organization (``acme`` by default) with its default security groups."""
    values: dict[str, Any] = {"org_id": DEFAULT_ORG, "source_url": "sqlite:///source.db"}
    values.update(overrides)
    return store.tenants.create_organization(**values)


def make_dataset(store: Store, org_id: str = DEFAULT_ORG, **overrides: Any) -> Dataset:
    """A dataset of ``org_id`` with an XDM class and no field group."""
    values: dict[str, Any] = {
        "dataset_id": DEFAULT_DATASET,
        "schema_spec": {"class": "https://ns.adobe.com/xdm/context/profile", "fieldGroups": []},
    }
    values.update(overrides)
    return store.tenants.create_dataset(org_id, **values)


def make_mapping(
    store: Store,
    mapping_id: str = "XDM1",
    *,
    org_id: str = DEFAULT_ORG,
    dataset_id: str = DEFAULT_DATASET,
    published: bool = True,
    stopped: bool = True,
    definition: dict[str, Any] | None = None,
    label: str | None = None,
    interval_seconds: int = 15 * 60,
) -> Mapping:
    """A mapping of an existing dataset: published and stopped by default (API-triggerable)."""
    definition = dict(DEFAULT_DEFINITION) if definition is None else definition
    mapping, _ = store.mappings.save(
        org_id,
        mapping_id,
        label=label or f"Mapping {mapping_id}",
        dataset_id=dataset_id,
        definition=definition,
    )
    if published:
        mapping = store.mappings.publish(
            org_id,
            mapping_id,
            definition=definition,
            interval_seconds=interval_seconds,
            resend=False,
            start=not stopped,
            log=[LogLine("info", "ACP-880066", f"Publishing {mapping_id}")],
        )
        assert mapping.publication_status == PublicationStatus.PUBLISHED
        expected = ExecutionStatus.STOPPED if stopped else ExecutionStatus.STARTED
        assert mapping.execution_status == expected
    return mapping


def make_world(store: Store, mapping_ids: tuple[str, ...] = ("XDM1",), **mapping: Any) -> None:
    """The default organization and dataset, and the given mappings."""
    make_org(store)
    make_dataset(store)
    for mapping_id in mapping_ids:
        make_mapping(store, mapping_id, **mapping)


def run_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread, all released together by a barrier.

    Answers the results in the calls' order; the first exception of any call is raised.
    """
    barrier = threading.Barrier(len(calls))

    def _run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(_run, call) for call in calls]
        return [future.result(timeout=120) for future in futures]
