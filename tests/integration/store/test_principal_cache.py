"""Tokens' principals remembered for a few seconds, and forgotten at every revocation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import make_org
from xdm_connector.store.models import AccessToken, utcnow
from xdm_connector.store.principals import Principal, PrincipalCache, TokenHolder
from xdm_connector.store.store import Store

TOKEN = hashlib.sha256(b"token-1").hexdigest()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _holder(roles: frozenset[str] = frozenset({"sql"}), *, seconds: float = 3600) -> TokenHolder:
    principal = Principal(client_id="client-1", org_id="acme", roles=roles)
    return TokenHolder(principal=principal, expires_at=utcnow() + timedelta(seconds=seconds))


@pytest.fixture
def world(store: Store) -> Store:
    """``acme`` with ``client-1`` (Standard Users, holding ``sql``) and its token."""
    make_org(store)
    store.tenants.grant_role("acme", "Standard Users", "sql")
    store.tenants.create_integration(
        "acme", "client-1", secret_hash="$hash$", name="one", groups=["Standard Users"]
    )
    store.tenants.add_token(TOKEN, "client-1", utcnow() + timedelta(hours=1))
    return store


def test_a_principal_is_read_once_then_answered_from_the_cache(world: Store) -> None:
    assert world.tenants.principals.get(TOKEN) is None
    principal = world.tenants.current_principal(TOKEN)
    assert principal == Principal("client-1", "acme", frozenset({"sql"}))
    assert world.tenants.principals.get(TOKEN) == principal
    assert world.tenants.current_principal(hashlib.sha256(b"unknown").hexdigest()) is None


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda s: s.tenants.revoke_role("acme", "Standard Users", "sql"), id="revoke"),
        pytest.param(lambda s: s.tenants.rotate_secret("acme", "client-1", "$new$"), id="rotate"),
        pytest.param(lambda s: s.tenants.delete_integration("acme", "client-1"), id="delete"),
        pytest.param(lambda s: _delete_token(s, TOKEN), id="sign-out"),
    ],
)
def test_a_change_committed_through_any_store_of_the_process_empties_the_caches(
    world: Store, open_store: Callable[[], Store], revoke: Callable[[Store], object]
) -> None:
    """The API's store caches; the CLI's store (same process, other engine) revokes."""
    assert world.tenants.current_principal(TOKEN) is not None
    cli = open_store()

    revoke(cli)

    assert world.tenants.principals.get(TOKEN) is None
    after = world.tenants.current_principal(TOKEN)
    assert after is None or "sql" not in after.roles


def test_a_grant_reaches_a_cached_principal_at_once(
    world: Store, open_store: Callable[[], Store]
) -> None:
    assert world.tenants.current_principal(TOKEN) == Principal(
        "client-1", "acme", frozenset({"sql"})
    )
    open_store().tenants.grant_role("acme", "Standard Users", "administration")
    principal = world.tenants.current_principal(TOKEN)
    assert principal is not None
    assert principal.roles == frozenset({"sql", "administration"})


def test_a_failed_write_changes_nothing(world: Store) -> None:
    assert world.tenants.current_principal(TOKEN) is not None

    def delete_then_fail() -> None:
        with world.write() as session:
            session.execute(sa.delete(AccessToken).where(AccessToken.token_hash == TOKEN))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    assert world.tenants.principals.get(TOKEN) is not None


def test_an_entry_lives_at_most_the_cache_age() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl_seconds=2.0, clock=clock)
    cache.put(TOKEN, _holder(), cache.generation())
    clock.now += 1.9
    assert cache.get(TOKEN) is not None
    clock.now += 0.2
    assert cache.get(TOKEN) is None


def test_an_entry_never_outlives_its_token() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl_seconds=2.0, clock=clock)
    cache.put(TOKEN, _holder(seconds=0.5), cache.generation())
    assert cache.get(TOKEN) is not None
    clock.now += 0.6
    assert cache.get(TOKEN) is None
    cache.put(TOKEN, _holder(seconds=-1), cache.generation())
    assert cache.get(TOKEN) is None


def test_an_answer_read_before_a_revocation_is_not_kept(world: Store) -> None:
    cache = world.tenants.principals
    generation = cache.generation()
    holder = world.tenants.token_holder(TOKEN, utcnow())
    assert holder is not None
    world.tenants.revoke_role("acme", "Standard Users", "sql")  # commits meanwhile
    cache.put(TOKEN, holder, generation)
    assert cache.get(TOKEN) is None


def test_the_cache_keeps_at_most_its_size() -> None:
    cache = PrincipalCache(max_entries=2)
    keys = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(3)]
    for key in keys:
        cache.put(key, _holder(), cache.generation())
    assert cache.get(keys[0]) is None
    assert cache.get(keys[1]) is not None
    assert cache.get(keys[2]) is not None


def _delete_token(store: Store, token_hash: str) -> None:
    with store.write() as session:
        session.execute(sa.delete(AccessToken).where(AccessToken.token_hash == token_hash))
