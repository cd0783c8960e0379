"""Organizations, security groups, integrations, tokens and datasets."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import make_dataset, make_org
from xdm_connector.errors import Conflict, NotFound
from xdm_connector.store.models import AccessToken, Integration, IntegrationGroup, SecurityGroup
from xdm_connector.store.store import Store


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _group_names(store: Store, org_id: str) -> list[str]:
    with store.read() as session:
        query = sa.select(SecurityGroup.name).where(SecurityGroup.org_id == org_id)
        return sorted(session.scalars(query))


def _integration(
    store: Store, client_id: str = "client-1", groups: list[str] | None = None
) -> None:
    store.tenants.create_integration(
        "acme",
        client_id,
        secret_hash="$hash$",
        name=f"Integration {client_id}",
        groups=["Administrators"] if groups is None else groups,
    )


def test_organization_creation_makes_the_default_groups_and_grants_roles(store: Store) -> None:
    with pytest.raises(NotFound):
        store.tenants.get_organization("acme")

    org = make_org(store, source_url="postgresql://crm/db")

    assert (org.id, org.source_url) == ("acme", "postgresql://crm/db")
    assert org.created_at.tzinfo is not None
    assert store.tenants.get_organization("acme").source_url == "postgresql://crm/db"
    assert _group_names(store, "acme") == ["Administrators", "Standard Users"]
    assert store.tenants.group_roles("acme", "Administrators") == ["administration"]
    assert store.tenants.group_roles("acme", "Standard Users") == []

    with pytest.raises(Conflict):
        make_org(store, source_url="sqlite:///other.db")

    assert store.tenants.get_organization("acme").source_url == "postgresql://crm/db"
    assert _group_names(store, "acme") == ["Administrators", "Standard Users"]
    with pytest.raises(NotFound):
        store.tenants.group_roles("acme", "Operators")

    # Roles: granting is idempotent and stays inside the organization.
    make_org(store, org_id="globex")
    store.tenants.grant_role("acme", "Administrators", "sql")
    store.tenants.grant_role("acme", "Administrators", "sql")
    store.tenants.grant_role("acme", "Standard Users", "sql")

    assert store.tenants.group_roles("acme", "Administrators") == ["administration", "sql"]
    assert store.tenants.group_roles("acme", "Standard Users") == ["sql"]
    assert store.tenants.group_roles("globex", "Administrators") == ["administration"]
    assert store.tenants.group_roles("globex", "Standard Users") == []
    assert [org.id for org in store.tenants.list_organizations()] == ["acme", "globex"]
    with pytest.raises(NotFound):
        store.tenants.grant_role("acme", "Operators", "sql")


def test_integrations_belong_to_groups_and_own_their_tokens(store: Store) -> None:
    with pytest.raises(NotFound):
        _integration(store)
    make_org(store)
    with pytest.raises(NotFound):
        _integration(store, groups=["Administrators", "Operators"])
    assert store.tenants.get_integration("client-1") is None

    _integration(store, groups=["Administrators", "Standard Users"])

    integration = store.tenants.get_integration("client-1")
    assert integration is not None
    assert (integration.org_id, integration.name, integration.secret_hash) == (
        "acme",
        "Integration client-1",
        "$hash$",
    )
    with store.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IntegrationGroup)) == 2

    # Deleting an integration's row cascades to its tokens and memberships.
    _integration(store, "client-2")
    expires = datetime.now(UTC) + timedelta(hours=1)
    store.tenants.add_token(_digest("a"), "client-1", expires)
    store.tenants.add_token(_digest("b"), "client-1", expires)
    store.tenants.add_token(_digest("c"), "client-2", expires)

    with store.write() as session:
        session.execute(sa.delete(Integration).where(Integration.client_id == "client-1"))

    with store.read() as session:
        tokens = set(session.scalars(sa.select(AccessToken.token_hash)))
        members = set(session.scalars(sa.select(IntegrationGroup.client_id)))
    assert tokens == {_digest("c")}
    assert members == {"client-2"}
    assert store.tenants.principal_for_token(_digest("a"), datetime.now(UTC)) is None
    assert store.tenants.principal_for_token(_digest("c"), datetime.now(UTC)) is not None


def test_principal_for_token_answers_the_roles_of_the_integrations_groups(store: Store) -> None:
    make_org(store)
    make_org(store, org_id="globex")
    store.tenants.grant_role("globex", "Standard Users", "sql")
    _integration(store, "client-1", groups=["Administrators", "Standard Users"])
    _integration(store, "client-2", groups=["Standard Users"])
    now = datetime.now(UTC)
    store.tenants.add_token(_digest("token-1"), "client-1", now + timedelta(hours=1))
    store.tenants.add_token(_digest("token-2"), "client-2", now + timedelta(hours=1))

    first = store.tenants.principal_for_token(_digest("token-1"), now)
    second = store.tenants.principal_for_token(_digest("token-2"), now)

    assert first is not None
    assert (first.client_id, first.org_id) == ("client-1", "acme")
    assert first.roles == frozenset({"administration"})
    assert second is not None
    assert second.roles == frozenset()

    store.tenants.grant_role("acme", "Standard Users", "sql")

    first = store.tenants.principal_for_token(_digest("token-1"), now)
    second = store.tenants.principal_for_token(_digest("token-2"), now)
    assert first is not None
    assert first.roles == frozenset({"administration", "sql"})
    assert second is not None
    assert second.roles == frozenset({"sql"})


def test_expired_and_unknown_tokens_are_refused(store: Store) -> None:
    make_org(store)
    _integration(store, "client-1")
    _integration(store, "client-2")
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=5)
    store.tenants.add_token(_digest("token-1"), "client-1", expires)

    assert store.tenants.principal_for_token(_digest("unknown"), now) is None
    assert store.tenants.principal_for_token(_digest("token-1"), expires) is None
    assert (
        store.tenants.principal_for_token(_digest("token-1"), expires + timedelta(days=1)) is None
    )
    just_before = expires - timedelta(microseconds=1)
    assert store.tenants.principal_for_token(_digest("token-1"), just_before) is not None

    # Issuing a token drops the client's expired ones, and only the client's.
    store.tenants.add_token(_digest("old-1"), "client-1", now - timedelta(hours=1))
    store.tenants.add_token(_digest("old-2"), "client-2", now - timedelta(hours=1))
    assert store.tenants.principal_for_token(_digest("old-1"), now) is None
    store.tenants.add_token(_digest("new-1"), "client-1", now + timedelta(hours=1))
    with store.read() as session:
        hashes = set(session.scalars(sa.select(AccessToken.token_hash)))
    assert hashes == {_digest("token-1"), _digest("new-1"), _digest("old-2")}


def test_datasets(store: Store) -> None:
    with pytest.raises(NotFound):
        make_dataset(store)
    make_org(store)
    make_org(store, org_id="globex")
    make_dataset(store, dataset_id="profiles")
    make_dataset(store, dataset_id="events", schema_spec={"class": "x", "fieldGroups": ["a"]})
    make_dataset(store, org_id="globex", dataset_id="events")

    with pytest.raises(Conflict):
        make_dataset(store, dataset_id="events")

    assert [d.id for d in store.tenants.list_datasets("acme")] == ["events", "profiles"]
    assert store.tenants.get_dataset("acme", "events").schema_spec == {
        "class": "x",
        "fieldGroups": ["a"],
    }
    with pytest.raises(NotFound):
        store.tenants.get_dataset("acme", "nothing")
