"""Dependencies of the routes: the store, the settings, the caller and its rights.

Every route under ``/{org}/...`` checks the caller against the path's organization
before anything else: a caller of another organization is answered ``NotFound`` with the
message of a missing object (``member``), so another tenant's ids are never revealed;
then the role the action needs (``require_role``, 403 naming the role).

This module's dependencies are ``async``, since they do no blocking I/O: FastAPI runs a
plain ``def`` dependency in its thread pool, a hop that costs more than the dependency
itself. ``get_principal`` answers a cached token in the event loop and reads the store in
the pool only on a miss. ``member``, ``require_role`` and ``administrator`` are plain
functions, not dependencies; the route modules' dependencies that call them with the
path's ids (``_mapping_reader`` in ``api/mappings.py``...) are plain ``def``, and so run
in the thread pool.
The ingestion API's polled routes call ``request_principal`` themselves: FastAPI's solving
of declared parameters costs more than the rest of such a request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.errors import AuthenticationError, NotFound, PermissionDenied
from xdm_connector.security.credentials import authenticate, authenticate_cached
from xdm_connector.security.roles import ROLE_ADMINISTRATION, role_required
from xdm_connector.settings import Settings
from xdm_connector.store.principals import Principal
from xdm_connector.store.store import Store


async def get_store(request: Request) -> Store:
    """The process's metadata store, opened by the app's lifespan."""
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_destinations(request: Request) -> OrgDestinations:
    """The organizations' destinations, opened as each one's configuration says."""
    destinations: OrgDestinations = request.app.state.destinations
    return destinations


async def client_address(request: Request) -> str:
    """The caller's address, as the server saw it.

    Behind a reverse proxy, uvicorn's ``FORWARDED_ALLOW_IPS`` makes it the client's; a
    forwarded header is never read here.
    """
    return request.client.host if request.client else "unknown"


async def get_principal(
    store: Annotated[Store, Depends(get_store)],
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    """The integration calling, from ``Authorization: Bearer`` and ``X-Api-Key``."""
    return await _principal(store, authorization, x_api_key)


async def request_principal(request: Request) -> Principal:
    """``get_principal`` of a request, for a route that reads its own parameters."""
    headers = request.headers
    return await _principal(
        request.app.state.store, headers.get("authorization"), headers.get("x-api-key")
    )


async def _principal(store: Store, authorization: str | None, x_api_key: str | None) -> Principal:
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("Oauth token is not valid", code="401013")
        token = value.strip()
    cached = authenticate_cached(store, token, x_api_key)
    if cached is not None:
        return cached
    return await run_in_threadpool(authenticate, store, token, x_api_key)


def member(principal: Principal, org: str, unknown: str) -> Principal:
    """The caller, if it belongs to ``org``; else ``NotFound(unknown)``.

    ``unknown`` is the message a missing object gets (``unknown mapping XDM44``), so that
    another organization's object is answered exactly like one that does not exist.
    """
    if principal.org_id != org:
        raise NotFound(unknown)
    return principal


def require_role(principal: Principal, org: str, role: str, unknown: str, action: str) -> Principal:
    """The caller, if it belongs to ``org`` and holds ``role``; else 404, then 403.

    ``require_role(caller, "acme", "sql", "unknown mapping XDM44", "trigger an ingestion")``
    raises, for a caller of ``acme`` without ``sql``, ``PermissionDenied`` with the message
    ``The role sql (SQL function execution) is required to trigger an ingestion``.
    """
    member(principal, org, unknown)
    if role not in principal.roles:
        raise PermissionDenied(role_required(role, action), role=role)
    return principal


def administrator(principal: Principal, org: str, unknown: str) -> Principal:
    """The caller, if it belongs to ``org`` and holds the ``administration`` role."""
    return require_role(
        principal, org, ROLE_ADMINISTRATION, unknown, "change the organization's objects"
    )


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DestinationsDep = Annotated[OrgDestinations, Depends(get_destinations)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AddressDep = Annotated[str, Depends(client_address)]
