"""The polled reads of the ingestion API (a request's status, a trigger's mapping), awaited
or not, and the pools behind them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.store.conftest import make_dataset, make_mapping, make_org
from xdm_connector.api.ingestion_contract import status_body
from xdm_connector.domain.job_states import JobState
from xdm_connector.store import engine
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.requests import RequestStatus, TriggerState
from xdm_connector.store.store import Store

T = TypeVar("T")


def engine_lease() -> timedelta:
    return timedelta(minutes=5)


def awaited(call: Awaitable[T]) -> T:
    """The result of one awaited read, on an event loop of its own."""

    async def _run() -> T:
        return await call

    return asyncio.run(_run())


def terminate_backends(postgres_url: str) -> int:
    """End every server process connected to the test's database; answers how many."""
    database = make_url(postgres_url).database
    conninfo = make_url(postgres_url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    assert ended is not None
    return int(ended[0])


def backends(postgres_url: str) -> int:
    """Server processes connected to the test's database (this query's own excluded)."""
    conninfo = make_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as own:
        found = own.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert found is not None
    return int(found[0])


def settled_backends(postgres_url: str, settled: Callable[[int], bool]) -> int:
    """``backends`` once ``settled`` by it: a server process leaves ``pg_stat_activity`` a
    moment after its client closed (waits at most 10 s, then answers the last count)."""
    deadline = time.monotonic() + 10
    while not settled(found := backends(postgres_url)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_requests_status_is_read_in_one_statement(store: Store) -> None:
    make_org(store)
    make_org(store, org_id="globex")
    make_dataset(store)
    make_mapping(store, "XDM1")
    make_mapping(store, "XDM2")
    request = store.jobs.request_ingestion("acme", "XDM1").job

    found = store.requests.status_of("acme", "XDM1", request.request_id)

    assert found is not None
    assert status_body(found) == status_body(store.jobs.get("acme", "XDM1", request.request_id))
    assert status_body(found) == {
        "batchId": "",
        "info": "Mapping Id: XDM1.",
        "numRecords": 0,
        "requestId": request.request_id,
        "status": "In Progress",
    }
    # Only the request of that mapping, in that organization.
    assert store.requests.status_of("acme", "XDM2", request.request_id) is None
    assert store.requests.status_of("globex", "XDM1", request.request_id) is None
    assert store.requests.status_of("acme", "XDM1", request.request_id + 1) is None


def test_the_awaited_status_reads_what_the_store_holds(store: Store) -> None:
    make_org(store)
    make_org(store, org_id="globex")
    make_dataset(store)
    make_mapping(store, "XDM1")
    make_mapping(store, "XDM2")
    request = store.jobs.request_ingestion("acme", "XDM1").job

    running = awaited(store.requests.astatus_of("acme", "XDM1", request.request_id))
    assert running == RequestStatus(request.request_id, "XDM1", JobState.CREATED, "", 0, "")
    assert running == store.requests.status_of("acme", "XDM1", request.request_id)
    claimed = store.jobs.claim("worker-1", engine_lease(), utcnow())
    assert claimed is not None
    store.jobs.succeed(claimed, "worker-1", JobOutcome(records_ingested=15, batch_id="b1"), None)

    ended = awaited(store.requests.astatus_of("acme", "XDM1", request.request_id))
    assert ended is not None
    assert status_body(ended) == {
        "batchId": "b1",
        "info": "Mapping Id: XDM1. ",
        "numRecords": 15,
        "requestId": request.request_id,
        "status": "Success",
    }
    assert awaited(store.requests.astatus_of("acme", "XDM2", request.request_id)) is None
    assert awaited(store.requests.astatus_of("globex", "XDM1", request.request_id)) is None
    assert awaited(store.requests.astatus_of("acme", "XDM1", request.request_id + 1)) is None


def test_a_triggers_mapping_state_names_its_request_in_progress(store: Store) -> None:
    make_org(store)
    make_org(store, org_id="globex")
    make_dataset(store)
    make_mapping(store, "XDM1")
    make_mapping(store, "XDM2", stopped=False)
    make_mapping(store, "XDM3", published=False)

    def both(org_id: str, mapping_id: str) -> TriggerState | None:
        threaded = store.requests.trigger_state(org_id, mapping_id)
        assert awaited(store.requests.atrigger_state(org_id, mapping_id)) == threaded
        return threaded

    assert both("acme", "XDM1") == TriggerState("Published", "Stopped", None)
    assert both("acme", "XDM2") == TriggerState("Published", "Started", None)
    state = both("acme", "XDM3")
    assert state is not None
    assert state.publication_status != "Published"
    assert both("acme", "XDM9") is None
    assert both("globex", "XDM1") is None

    request = store.jobs.request_ingestion("acme", "XDM1").job
    assert both("acme", "XDM1") == TriggerState("Published", "Stopped", request.request_id)
    claimed = store.jobs.claim("worker-1", engine_lease(), utcnow())
    assert claimed is not None
    store.jobs.mark_uploaded(request.id, "worker-1", "b1")
    assert both("acme", "XDM1") == TriggerState("Published", "Stopped", request.request_id)
    store.jobs.fail(request.id, "worker-1", JobOutcome(reason="ACP-880056 failed"))
    assert both("acme", "XDM1") == TriggerState("Published", "Stopped", None)


@pytest.mark.postgres
def test_a_pooled_connection_closed_while_idle_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart or an idle timeout: the ping at checkout finds it, the pool reopens."""
    store = Store(postgres_url, pool_size=1)
    try:
        store.upgrade()
        store.ping()
        monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert terminate_backends(postgres_url) >= 1
        store.ping()  # on a new connection: the old one failed its ping
    finally:
        store.close()


@pytest.mark.postgres
def test_an_event_loop_connection_closed_while_idle_is_replaced(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        store.upgrade()
        make_org(store)
        make_dataset(store)
        make_mapping(store, "XDM1")

        async def read_terminate_read() -> tuple[TriggerState | None, TriggerState | None]:
            before = await store.requests.atrigger_state("acme", "XDM1")
            assert terminate_backends(postgres_url) >= 1
            return before, await store.requests.atrigger_state("acme", "XDM1")

        before, after = asyncio.run(read_terminate_read())
        assert before == after == TriggerState("Published", "Stopped", None)
    finally:
        store.close()


@pytest.mark.postgres
def test_event_loop_connections_follow_the_loop_and_close_with_the_store(
    postgres_url: str,
) -> None:
    store = Store(postgres_url)
    store.upgrade()
    make_org(store)
    make_dataset(store)
    make_mapping(store, "XDM1")
    store.close()
    assert settled_backends(postgres_url, lambda count: count == 0) == 0

    async def reads() -> list[TriggerState | None]:
        calls = [store.requests.atrigger_state("acme", "XDM1") for _ in range(20)]
        return list(await asyncio.gather(*calls))

    expected = TriggerState("Published", "Stopped", None)
    try:
        # Each ``asyncio.run`` is a new event loop: the previous loop's connections close.
        assert asyncio.run(reads()) == [expected] * 20
        assert asyncio.run(reads()) == [expected] * 20
        most = 1 + store.engine.pool.size()
        assert 1 <= settled_backends(postgres_url, lambda count: 1 <= count <= most) <= most
    finally:
        store.close()
    assert settled_backends(postgres_url, lambda count: count == 0) == 0
