"""A service's change and its audit entry are one transaction: both or neither.

A change that fails writes no entry; an entry that cannot be written (here the database
refuses every insert into the audit trail) takes its change back with it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.integration.store.conftest import make_dataset, make_mapping, make_org
from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import Conflict, MappingNotStopped, NotFound
from xdm_connector.services.cancellation import cancel_job
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.ingestion_requests import trigger
from xdm_connector.services.integrations import create_integration, delete_integration
from xdm_connector.services.mappings import delete_mapping
from xdm_connector.services.organizations import create_group, grant_role, set_destination
from xdm_connector.services.publication import start_mapping, stop_mapping, unpublish_mapping
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

ACTOR = "5f0c-client"
REFUSAL = "the audit trail refuses this entry"


@pytest.fixture
def world(store: Store) -> Store:
    """``acme`` with the dataset ``profiles`` and ``XDM1``, published and stopped."""
    make_org(store)
    make_dataset(store)
    make_mapping(store, "XDM1")
    return store


def entries(store: Store) -> list[tuple[str, str, str]]:
    """``acme``'s audit trail, newest first: actor, action, target."""
    return [(e.actor, e.action, e.target) for e in store.tenants.audit.entries("acme")]


@pytest.fixture
def refusing_audit(world: Store) -> Store:
    """The world, whose database refuses every new audit entry (a trigger raising an
    integrity error on either backend)."""
    with world.write() as session:
        if world.dialect == "sqlite":
            session.execute(
                sa.text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_trail "
                    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
                )
            )
        else:
            session.execute(
                sa.text(
                    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN RAISE EXCEPTION '{REFUSAL}' "
                    "USING ERRCODE = 'integrity_constraint_violation'; END $$"
                )
            )
            session.execute(
                sa.text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_trail "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
                )
            )
    return world


def test_a_change_that_fails_writes_no_entry(world: Store) -> None:
    registry = SchemaRegistry.packaged()
    with pytest.raises(Conflict):
        delete_mapping(world, "acme", "XDM1", actor=ACTOR)  # published: unpublish it first
    with pytest.raises(Conflict):
        create_dataset(world, registry, "acme", "profiles", class_ref="profile", actor=ACTOR)
    start_mapping(world, "acme", "XDM1", actor=ACTOR)
    with pytest.raises(MappingNotStopped):
        trigger(world, "acme", "XDM1", actor=ACTOR)
    stop_mapping(world, "acme", "XDM1", actor=ACTOR)
    requested = trigger(world, "acme", "XDM1", actor=ACTOR)
    assert trigger(world, "acme", "XDM1", actor=ACTOR).created is False  # in progress
    cancel_job(world, "acme", requested.request_id, actor=ACTOR)
    with pytest.raises(Conflict):
        cancel_job(world, "acme", requested.request_id, actor=ACTOR)  # already ended
    assert grant_role(world, "acme", "Administrators", "administration", actor=ACTOR) is False
    unpublish_mapping(world, "acme", "XDM1", actor=ACTOR)
    with pytest.raises(Conflict):
        start_mapping(world, "acme", "XDM1", actor=ACTOR)  # a draft has no schedule

    assert entries(world) == [
        (ACTOR, "unpublish", "XDM1"),
        (ACTOR, "cancel", "XDM1"),
        (ACTOR, "trigger", "XDM1"),
        (ACTOR, "stop", "XDM1"),
        (ACTOR, "start", "XDM1"),
    ]


def test_an_entry_that_fails_takes_its_change_back(refusing_audit: Store) -> None:
    store = refusing_audit
    registry = SchemaRegistry.packaged()

    with pytest.raises(IntegrityError, match=REFUSAL):
        start_mapping(store, "acme", "XDM1", actor=ACTOR)
    assert store.mappings.get("acme", "XDM1").execution_status == "Stopped"

    with pytest.raises(IntegrityError, match=REFUSAL):
        trigger(store, "acme", "XDM1", actor=ACTOR)
    assert store.jobs.in_progress("acme", "XDM1") is None

    with pytest.raises(IntegrityError, match=REFUSAL):
        create_dataset(store, registry, "acme", "more", class_ref="profile", actor=ACTOR)
    assert [dataset.id for dataset in store.tenants.list_datasets("acme")] == ["profiles"]

    with pytest.raises(IntegrityError, match=REFUSAL):
        create_group(store, "acme", "Operators", actor=ACTOR)
    with pytest.raises(IntegrityError, match=REFUSAL):
        grant_role(store, "acme", "Standard Users", "sql", actor=ACTOR)
    groups = {group.name: group.roles for group in store.tenants.list_groups("acme")}
    assert groups == {"Administrators": ("administration",), "Standard Users": ()}

    with pytest.raises(IntegrityError, match=REFUSAL):
        set_destination(store, "acme", {"type": "lake", "fileFormat": "json"}, actor=ACTOR)
    assert store.tenants.get_organization("acme").destination is None

    with pytest.raises(IntegrityError, match=REFUSAL):
        create_integration(store, "acme", groups=["Administrators"], actor=ACTOR)
    assert store.tenants.list_integrations("acme") == []

    request = store.jobs.request_ingestion("acme", "XDM1").job
    with pytest.raises(IntegrityError, match=REFUSAL):
        cancel_job(store, "acme", request.request_id, actor=ACTOR)
    job = store.jobs.get("acme", "XDM1", request.request_id)
    assert (job.state, job.details) == (JobState.CREATED, None)

    with pytest.raises(IntegrityError, match=REFUSAL):
        unpublish_mapping(store, "acme", "XDM1", actor=ACTOR)
    assert store.mappings.get("acme", "XDM1").publication_status == "Published"

    assert store.tenants.audit.count("acme") == 0


def test_deleting_an_integration_is_audited_once_deleted(world: Store) -> None:
    created = create_integration(world, "acme", groups=["Standard Users"], actor=ACTOR)
    delete_integration(world, "acme", created.client_id, actor=ACTOR)
    with pytest.raises(NotFound, match="unknown integration"):
        delete_integration(world, "acme", created.client_id, actor=ACTOR)
    assert entries(world) == [
        (ACTOR, "integration.delete", created.client_id),
        (ACTOR, "integration.create", created.client_id),
    ]
