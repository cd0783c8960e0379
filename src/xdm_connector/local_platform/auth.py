"""Tokens and the gateway's checks of the local platform service.

``POST /ims/token/v3`` exchanges a client's id and secret (``xdm-connector platform clients
create [--ims-org ORG]``) for a bearer token kept in memory for ``XDMC_TOKEN_TTL_SECONDS``.
A token is bound to one IMS organization: its client's own, else the service's
(``platform serve --ims-org ORG``); only a service started with ``--any-org`` gives the
tokens of a client created without one the right to call for any. Every other call needs
the four headers, checked in this order, each failure in the gateway's shape::

    no Authorization                 401 {"error_code": "403010", "message": "Oauth token is missing."}
    unknown or expired token         401 {"error_code": "401013", "message": "Oauth token is not valid"}
    no x-api-key                     403 {"error_code": "403000", "message": "Api Key is required"}
    x-api-key not the token's client 403 {"error_code": "403003", "message": "Api Key is invalid"}
    no x-gw-ims-org-id / x-sandbox-name  400 {"error_code": "400003", "message": "Missing header", ...}
    x-gw-ims-org-id not the token's   403 {"error_code": "403025", "message": "Profile is not valid"}
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Request

from xdm_connector.api.responses import ContractJSONResponse
from xdm_connector.local_platform.storage import PlatformStorage
from xdm_connector.security.credentials import digest

router = APIRouter(tags=["ims"])


class GatewayError(Exception):
    """A refusal in the gateway's shape: ``{"error_code": ..., "message": ...}``."""

    close_connection = False
    """Whether the answer closes the connection (the rest of the request is not read)."""

    def __init__(self, status_code: int, error_code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class IssuedToken:
    """What a token stands for: its client, the organization it is bound to (``None``: any),
    and when it expires (monotonic clock)."""

    client_id: str
    ims_org: str | None
    expires: float


class TokenIssuer:
    """Bearer tokens of the service's clients, kept in memory as digests.

    ``clients_org``: the organization a client created without one is bound to; ``None``
    (``--any-org``) lets such a client call for any organization.
    """

    def __init__(self, storage: PlatformStorage, ttl_seconds: int, clients_org: str | None) -> None:
        self.storage = storage
        self.ttl_seconds = ttl_seconds
        self.clients_org = clients_org
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, client_id: str, client_secret: str) -> str | None:
        """A new token for valid credentials, else ``None``."""
        client = self.storage.client(client_id)
        if client is None or not hmac.compare_digest(
            client.secret_digest.encode(), digest(client_secret).encode()
        ):
            return None
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v.expires > now}
            self._tokens[digest(token)] = IssuedToken(
                client_id, client.ims_org or self.clients_org, now + self.ttl_seconds
            )
        return token

    def issued(self, token: str) -> IssuedToken | None:
        """The unexpired token ``token`` stands for, if any."""
        with self._lock:
            found = self._tokens.get(digest(token))
        if found is None or found.expires <= time.monotonic():
            return None
        return found


@dataclass(frozen=True)
class Caller:
    """An authenticated call: its client, organization and sandbox."""

    client_id: str
    org: str
    sandbox: str


def get_caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    x_gw_ims_org_id: Annotated[str | None, Header()] = None,
    x_sandbox_name: Annotated[str | None, Header()] = None,
) -> Caller:
    """The caller of a platform API call, checked as the gateway checks it."""
    if not authorization:
        raise GatewayError(401, "403010", "Oauth token is missing.")
    scheme, _, token = authorization.partition(" ")
    issuer: TokenIssuer = request.app.state.tokens
    issued = issuer.issued(token.strip()) if scheme.lower() == "bearer" else None
    if issued is None:
        raise GatewayError(401, "401013", "Oauth token is not valid")
    if not x_api_key:
        raise GatewayError(403, "403000", "Api Key is required")
    # Bytes, not text: compare_digest refuses text outside ASCII, which a header may hold.
    if not hmac.compare_digest(issued.client_id.encode(), x_api_key.encode()):
        raise GatewayError(403, "403003", "Api Key is invalid")
    if not x_gw_ims_org_id:
        raise GatewayError(400, "400003", "Missing header", header="x-gw-ims-org-id")
    if not x_sandbox_name:
        raise GatewayError(400, "400003", "Missing header", header="x-sandbox-name")
    if issued.ims_org is not None and issued.ims_org != x_gw_ims_org_id:
        raise GatewayError(403, "403025", "Profile is not valid")
    return Caller(issued.client_id, x_gw_ims_org_id, x_sandbox_name.lower())


CallerDep = Annotated[Caller, Depends(get_caller)]


@router.post("/ims/token/v3", response_class=ContractJSONResponse)
def create_token(
    request: Request,
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    grant_type: Annotated[str, Form()] = "client_credentials",
    scope: Annotated[str | None, Form()] = None,  # noqa: ARG001 - IMS takes it; no scopes here
) -> Any:
    """Exchange a client's id and secret for a bearer token, as IMS does."""
    if grant_type != "client_credentials":
        body = {"error": "unsupported_grant_type", "error_description": "client_credentials only"}
        return ContractJSONResponse(body, 400)
    issuer: TokenIssuer = request.app.state.tokens
    token = issuer.issue(client_id, client_secret)
    if token is None:
        body = {"error": "invalid_client", "error_description": "invalid client credentials"}
        return ContractJSONResponse(body, 401)
    return ContractJSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": issuer.ttl_seconds}
    )
