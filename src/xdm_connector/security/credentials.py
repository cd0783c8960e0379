"""Integration credentials and bearer tokens.

Integrations are created, rotated and deleted by ``services/integrations.py``.
Client secrets and tokens are 256-bit random values, so a SHA-256 digest is a safe way to
store them (no stretching is needed against guessing a value of that size); digests are
compared in constant time. Neither a secret nor a token is ever stored or logged in clear.

A token is bound to its integration: ``X-Api-Key`` must be that integration's client id,
and rotating the secret or deleting the integration deletes its tokens in the same
transaction, so they stop working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from xdm_connector.errors import AuthenticationError
from xdm_connector.security.roles import ROLE_ADMINISTRATION, ROLE_SQL
from xdm_connector.store.models import utcnow
from xdm_connector.store.principals import Principal
from xdm_connector.store.store import Store

__all__ = [
    "OPERATOR",
    "ROLE_ADMINISTRATION",
    "ROLE_SQL",
    "IssuedToken",
    "authenticate",
    "authenticate_cached",
    "digest",
    "issue_token",
]

OPERATOR = "operator"
"""The audit trail's actor for changes made with direct access to the store (CLI, demo)."""


def digest(value: str) -> str:
    """The SHA-256 hex digest under which a secret or token is stored."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A bearer token as ``/ims/token/v3`` answers it."""

    access_token: str
    expires_in: int


def issue_token(store: Store, client_id: str, client_secret: str, ttl_seconds: int) -> IssuedToken:
    """Exchange an integration's credentials for a bearer token."""
    integration = store.tenants.get_integration(client_id)
    expected = integration.secret_hash if integration else digest(secrets.token_hex(16))
    if not hmac.compare_digest(expected, digest(client_secret)) or integration is None:
        raise AuthenticationError("invalid client credentials", code="401013")
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    if not store.tenants.add_token(
        digest(token), integration.client_id, expires_at, secret_hash=expected
    ):
        raise AuthenticationError("invalid client credentials", code="401013")
    return IssuedToken(access_token=token, expires_in=ttl_seconds)


def authenticate(store: Store, token: str | None, api_key: str | None) -> Principal:
    """The caller behind a bearer token, checked against its ``X-Api-Key``.

    The token's principal may come from the store's cache, which answers for at most
    ``PRINCIPAL_CACHE_SECONDS`` (2 s) and never past the token's expiry: a rotation, a
    deletion or a change of roles committed by this process takes effect at once, one
    committed by another process within those seconds (``store/principals.py``).
    """
    token_hash = _token_digest(token, api_key)
    principal = store.tenants.current_principal(token_hash)
    if principal is None:
        raise AuthenticationError("Oauth token is not valid", code="401013")
    return _bound_to(principal, api_key)


def authenticate_cached(store: Store, token: str | None, api_key: str | None) -> Principal | None:
    """``authenticate`` without reading the store: None when the token's principal is not
    cached (call ``authenticate`` then); the same errors for a missing token or key, or a
    key that is not the token's integration."""
    principal = store.tenants.principals.get(_token_digest(token, api_key))
    return None if principal is None else _bound_to(principal, api_key)


def _token_digest(token: str | None, api_key: str | None) -> str:
    if not token:
        raise AuthenticationError("Oauth token is missing.", code="403010")
    if not api_key:
        raise AuthenticationError("Api Key is required", code="403000")
    return digest(token)


def _bound_to(principal: Principal, api_key: str | None) -> Principal:
    if not hmac.compare_digest(principal.client_id.encode(), (api_key or "").encode()):
        raise AuthenticationError("Api Key is invalid", code="403003")
    return principal
