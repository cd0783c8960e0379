"""Bearer tokens from Adobe IMS (or the local platform service's), kept until near expiry.

::

    tokens = ImsTokens(client, "https://ims-na1.adobelogin.com", "0af2...", secret, policy)
    tokens.token()       # asks IMS the first time, then answers the kept token
    tokens.invalidate()  # after a 401: the next token() asks again

A token is asked for with ``POST {ims}/ims/token/v3`` (form fields ``client_id``,
``client_secret``, ``grant_type=client_credentials`` and ``scope``) and renewed once less
than a tenth of its life (at most five minutes) is left. Neither the secret nor a token
is ever logged or put in an error message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from xdm_connector.destinations.aep.answers import PlatformError, raise_for_answer, transport_error
from xdm_connector.retry import RetryPolicy

TOKEN_PATH = "/ims/token/v3"  # noqa: S105 - a path, not a password
MAX_RENEWAL_MARGIN_SECONDS = 300.0


class ImsTokens:
    """One client's bearer token, asked for when missing or about to expire."""

    def __init__(
        self,
        client: httpx.Client,
        ims_url: str,
        client_id: str,
        secret: Callable[[], str],
        policy: RetryPolicy,
        *,
        scope: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = ims_url.rstrip("/") + TOKEN_PATH
        self._client_id = client_id
        self._secret = secret
        self._policy = policy
        self._scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        """A valid bearer token; asks IMS for one when none is kept or it nears expiry."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = self._policy.call(self._ask, what="IMS token request")
                margin = min(MAX_RENEWAL_MARGIN_SECONDS, lifetime / 10)
                self._renew_at = self._clock() + lifetime - margin
            return self._token

    def invalidate(self) -> None:
        """Forget the kept token (the platform said it is not valid)."""
        with self._lock:
            self._token = None

    def _ask(self) -> tuple[str, float]:
        form = {
            "client_id": self._client_id,
            "client_secret": self._secret(),
            "grant_type": "client_credentials",
        }
        if self._scope:
            form["scope"] = self._scope
        try:
            response = self._client.post(self._url, data=form)
        except httpx.HTTPError as exc:
            raise transport_error("IMS", exc) from exc
        if response.status_code == 401:
            raise PlatformError(
                f"IMS refused the client credentials of client {self._client_id}: check the "
                "client id and the secret its variable holds",
                status_code=401,
                error_code="401013",
            )
        raise_for_answer(response, "IMS")
        try:
            document = response.json()
            token = document["access_token"]
            lifetime = float(document.get("expires_in", 86400))
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformError("IMS answered without an access token", transient=True) from exc
        if not isinstance(token, str) or not token:
            raise PlatformError("IMS answered an empty access token", transient=True)
        return token, lifetime
