"""Data mappings: drafts, publication, execution status, watermark and publication log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import make_dataset, make_mapping, make_org
from xdm_connector.domain.mapping_status import ExecutionStatus, PublicationStatus
from xdm_connector.errors import Conflict, InvalidInput, NotFound
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.mappings import LogLine
from xdm_connector.store.models import Mapping, PublicationLogEntry
from xdm_connector.store.store import Store

V1 = {"targetingDimension": "nms:recipient", "fields": [{"source": "@email", "target": "/a"}]}
V2 = {"targetingDimension": "nms:recipient", "fields": [{"source": "@lastName", "target": "/b"}]}
WATERMARK = {"audit": "2024-01-02T03:04:05+00:00", "key": [42]}


@pytest.fixture
def world(store: Store) -> Store:
    make_org(store)
    make_dataset(store)
    return store


def _save(store: Store, definition: dict[str, Any], **kwargs: Any) -> tuple[Mapping, bool]:
    values: dict[str, Any] = {"label": "Profiles", "dataset_id": "profiles"}
    values.update(kwargs)
    return store.mappings.save("acme", "XDM1", definition=definition, **values)


def _publish(
    store: Store,
    definition: dict[str, Any],
    *,
    start: bool = False,
    resend: bool = False,
    log: list[LogLine] | None = None,
) -> Mapping:
    return store.mappings.publish(
        "acme",
        "XDM1",
        definition=definition,
        interval_seconds=15 * 60,
        resend=resend,
        start=start,
        log=log or [],
    )


def _succeed_a_job(store: Store, watermark: dict[str, Any]) -> None:
    """Advance the watermark the way a worker does: a job of XDM1 ending ``Success``."""
    now = datetime.now(UTC)
    if store.mappings.get("acme", "XDM1").execution_status == ExecutionStatus.STARTED:
        (job,) = store.jobs.schedule_due(now + timedelta(seconds=1))
    else:
        job = store.jobs.request_ingestion("acme", "XDM1").job
    claimed = store.jobs.claim("worker", timedelta(minutes=1), now)
    assert claimed is not None
    assert claimed.id == job.id
    store.jobs.succeed(claimed, "worker", JobOutcome(records_ingested=1), watermark)


def test_save_creates_a_stopped_draft(world: Store) -> None:
    with pytest.raises(InvalidInput):
        _save(world, V1, dataset_id="nothing")
    with pytest.raises(NotFound):
        world.mappings.get("acme", "XDM1")

    mapping, created = _save(world, V1)

    assert created
    for m in (mapping, world.mappings.get("acme", "XDM1")):
        assert m.publication_status == PublicationStatus.DRAFT
        assert m.execution_status == ExecutionStatus.STOPPED
        assert (m.label, m.dataset_id, m.definition) == ("Profiles", "profiles", V1)
        assert m.published_definition is None
        assert m.watermark is None
        assert m.next_run_at is None
        assert m.interval_seconds == 15 * 60
    assert [m.id for m in world.mappings.list_for_org("acme")] == ["XDM1"]

    make_org(world, org_id="globex")
    with pytest.raises(NotFound):
        world.mappings.get("globex", "XDM1")
    assert world.mappings.list_for_org("globex") == []


def test_publish_started_or_stopped_then_save_again(world: Store) -> None:
    with pytest.raises(NotFound):
        _publish(world, V1)
    _save(world, V1)
    before = datetime.now(UTC)

    started = _publish(world, V1, start=True)

    after = datetime.now(UTC)
    for m in (started, world.mappings.get("acme", "XDM1")):
        assert m.publication_status == PublicationStatus.PUBLISHED
        assert m.execution_status == ExecutionStatus.STARTED
        assert m.published_definition == V1
        assert m.next_run_at is not None
        assert before <= m.next_run_at <= after

    stopped = _publish(world, V2, start=False)

    for m in (stopped, world.mappings.get("acme", "XDM1")):
        assert m.publication_status == PublicationStatus.PUBLISHED
        assert m.execution_status == ExecutionStatus.STOPPED
        assert m.published_definition == V2
        assert m.definition == V1
        assert m.next_run_at is None

    # Saving again changes the editable definition only: the published one keeps running.
    make_dataset(world, dataset_id="events")

    mapping, created = _save(world, V2, label="v2", dataset_id="events")

    assert not created
    for m in (mapping, world.mappings.get("acme", "XDM1")):
        assert (m.label, m.dataset_id, m.definition) == ("v2", "events", V2)
        assert m.published_definition == V2
        assert m.publication_status == PublicationStatus.PUBLISHED
        assert m.execution_status == ExecutionStatus.STOPPED


def test_resend_resets_the_watermark(world: Store) -> None:
    make_mapping(world, stopped=True)
    _succeed_a_job(world, WATERMARK)
    assert world.mappings.get("acme", "XDM1").watermark == WATERMARK

    _publish(world, V2, start=False, resend=False)
    assert world.mappings.get("acme", "XDM1").watermark == WATERMARK

    mapping = _publish(world, V2, start=False, resend=True)
    assert mapping.watermark is None
    assert world.mappings.get("acme", "XDM1").watermark is None

    _publish(world, V2, start=True)
    _succeed_a_job(world, WATERMARK)
    _publish(world, V1, start=True, resend=False)
    assert world.mappings.get("acme", "XDM1").watermark == WATERMARK
    _publish(world, V1, start=True, resend=True)
    assert world.mappings.get("acme", "XDM1").watermark is None


def test_publication_log_lines_in_order(world: Store) -> None:
    make_mapping(world, "XDM0", published=True)
    _save(world, V1)
    failed = [LogLine("error", "ACP-880001", "the expression does not parse")]

    world.mappings.log_failed_publication("acme", "XDM1", failed)

    mapping = world.mappings.get("acme", "XDM1")
    assert mapping.publication_status == PublicationStatus.DRAFT
    assert mapping.published_definition is None

    first = [LogLine("info", "ACP-880066", f"line {i}") for i in range(12)]
    _publish(world, V1, log=first)
    last = [LogLine("info", "ACP-880067", "done"), LogLine("warning", "ACP-880068", "again")]
    _publish(world, V2, log=last)

    log = world.mappings.publication_log("acme", "XDM1")

    assert [(e.level, e.code, e.message) for e in log] == [
        (line.level, line.code, line.message) for line in failed + first + last
    ]
    assert all(e.at.tzinfo is not None for e in log)
    assert [e.at for e in log] == sorted(e.at for e in log)
    assert [e.message for e in world.mappings.publication_log("acme", "XDM0")] == [
        "Publishing XDM0"
    ]
    with pytest.raises(NotFound):
        world.mappings.log_failed_publication("acme", "XDM9", [])
    with pytest.raises(NotFound):
        world.mappings.publication_log("acme", "XDM9")


def test_set_execution_and_unpublish(world: Store) -> None:
    make_mapping(world, published=False)
    with pytest.raises(Conflict):
        world.mappings.set_execution("acme", "XDM1", ExecutionStatus.STARTED)
    mapping = world.mappings.get("acme", "XDM1")
    assert (mapping.execution_status, mapping.next_run_at) == (ExecutionStatus.STOPPED, None)
    with pytest.raises(NotFound):
        world.mappings.set_execution("acme", "XDM9", ExecutionStatus.STARTED)

    _publish(world, V1, start=False)
    before = datetime.now(UTC)
    started = world.mappings.set_execution("acme", "XDM1", ExecutionStatus.STARTED)

    assert started.execution_status == ExecutionStatus.STARTED
    assert started.next_run_at is not None
    assert started.next_run_at >= before
    assert world.mappings.get("acme", "XDM1").next_run_at == started.next_run_at

    stopped = world.mappings.set_execution("acme", "XDM1", ExecutionStatus.STOPPED)

    assert stopped.execution_status == ExecutionStatus.STOPPED
    assert world.mappings.get("acme", "XDM1").execution_status == ExecutionStatus.STOPPED
    assert world.mappings.get("acme", "XDM1").next_run_at is None

    # Unpublished: a stopped draft that no scheduler and no API trigger runs.
    world.mappings.set_execution("acme", "XDM1", ExecutionStatus.STARTED)

    mapping = world.mappings.unpublish("acme", "XDM1")

    for m in (mapping, world.mappings.get("acme", "XDM1")):
        assert m.publication_status == PublicationStatus.DRAFT
        assert m.execution_status == ExecutionStatus.STOPPED
        assert m.next_run_at is None
    assert world.jobs.schedule_due(datetime.now(UTC) + timedelta(seconds=1)) == []
    with pytest.raises(Conflict):
        world.mappings.set_execution("acme", "XDM1", ExecutionStatus.STARTED)
    with pytest.raises(NotFound):
        world.mappings.unpublish("acme", "XDM9")


def test_create_and_delete_a_draft(world: Store) -> None:
    with pytest.raises(InvalidInput):
        world.mappings.create("acme", "XDM1", label="x", dataset_id="nothing", definition=V1)

    created = world.mappings.create("acme", "XDM1", label="x", dataset_id="profiles", definition=V1)

    assert (created.publication_status, created.execution_status) == (
        PublicationStatus.DRAFT,
        ExecutionStatus.STOPPED,
    )
    with pytest.raises(Conflict):
        world.mappings.create("acme", "XDM1", label="y", dataset_id="profiles", definition=V2)
    assert world.mappings.get("acme", "XDM1").definition == V1

    # A published mapping, or a draft whose export still runs, cannot be deleted.
    _publish(world, V1, start=False, log=[LogLine("info", "I", "published")])
    with pytest.raises(Conflict):
        world.mappings.delete_draft("acme", "XDM1")
    job = world.jobs.request_ingestion("acme", "XDM1").job
    world.mappings.unpublish("acme", "XDM1")
    with pytest.raises(Conflict):
        world.mappings.delete_draft("acme", "XDM1")
    claimed = world.jobs.claim("worker", timedelta(minutes=1), datetime.now(UTC))
    assert claimed is not None
    world.jobs.succeed(claimed, "worker", JobOutcome(), None)

    world.mappings.delete_draft("acme", "XDM1")

    with pytest.raises(NotFound):
        world.mappings.get("acme", "XDM1")
    with pytest.raises(NotFound):
        world.jobs.get_by_id(job.id)
    with world.read() as session:
        assert session.scalars(sa.select(PublicationLogEntry)).all() == []
    with pytest.raises(NotFound):
        world.mappings.delete_draft("acme", "XDM1")
