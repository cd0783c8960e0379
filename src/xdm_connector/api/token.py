"""``POST /ims/token/v3``: credentials for a bearer token, as Adobe's IMS answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form

from xdm_connector.api.deps import SettingsDep, StoreDep
from xdm_connector.api.responses import ContractJSONResponse, gateway_error
from xdm_connector.security.credentials import issue_token

router = APIRouter(tags=["token"])


@router.post(
    "/ims/token/v3",
    response_class=ContractJSONResponse,
    responses={
        400: {"description": "Unsupported grant type"},
        401: {"description": "Bad credentials"},
    },
)
def create_token(
    store: StoreDep,
    settings: SettingsDep,
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    grant_type: Annotated[str, Form()] = "client_credentials",
    scope: Annotated[str | None, Form()] = None,  # noqa: ARG001 - IMS accepts it; no scopes here
) -> Any:
    """Exchange an integration's client id and secret for a bearer token."""
    if grant_type != "client_credentials":
        return gateway_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    token = issue_token(store, client_id, client_secret, settings.token_ttl_seconds)
    return ContractJSONResponse(
        {"access_token": token.access_token, "token_type": "bearer", "expires_in": token.expires_in}
    )
