"""Dependencies of the routes: the store, the settings and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from xdm_connector.errors import AuthenticationError
from xdm_connector.security.credentials import authenticate
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.store.tenants import Principal


def get_store(request: Request) -> Store:
    """The process's metadata store, opened by the app's lifespan."""
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_principal(
    store: Annotated[Store, Depends(get_store)],
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    """The integration calling, from ``Authorization: Bearer`` and ``X-Api-Key``."""
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("Oauth token is not valid", code="401013")
        token = value.strip()
    return authenticate(store, token, x_api_key)


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
