"""``POST /ims/token/v3``: credentials for a bearer token, as Adobe's IMS answers.

Failed attempts are rate-limited per client id and per remote address
(``security.rate_limit``): over the limit the answer is 429 with ``Retry-After`` and
``{"error_code": "429050", "message": "Too many failed attempts; retry later"}``, whatever
the credentials.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form

from xdm_connector.api.deps import AddressDep, SettingsDep, StoreDep
from xdm_connector.api.responses import ContractJSONResponse, gateway_error
from xdm_connector.security.credentials import issue_token
from xdm_connector.security.rate_limit import TooManyAttempts, login_attempt

router = APIRouter(tags=["token"])


@router.post(
    "/ims/token/v3",
    response_class=ContractJSONResponse,
    responses={
        400: {"description": "Unsupported grant type"},
        401: {"description": "Bad credentials"},
        429: {"description": "Too many failed attempts of this client id or address"},
    },
)
def create_token(
    store: StoreDep,
    settings: SettingsDep,
    address: AddressDep,
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    grant_type: Annotated[str, Form()] = "client_credentials",
    scope: Annotated[str | None, Form()] = None,  # noqa: ARG001 - IMS accepts it; no scopes here
) -> Any:
    """Exchange an integration's client id and secret for a bearer token."""
    if grant_type != "client_credentials":
        return gateway_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    try:
        with login_attempt(store, client_id, address):
            token = issue_token(store, client_id, client_secret, settings.token_ttl_seconds)
    except TooManyAttempts as exc:
        refused = gateway_error(429, exc.code, exc.message)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    return ContractJSONResponse(
        {"access_token": token.access_token, "token_type": "bearer", "expires_in": token.expires_in}
    )
