"""Browser sessions of the pages: signed, expiring cookies over the API's own tokens.

Signing in exchanges an integration's client id and secret for a bearer token through
``security.credentials.issue_token`` (or checks a token given instead), exactly as
``/ims/token/v3`` does; the session cookie then carries that token, the client id, a
per-session CSRF token, signed with the time of signing by itsdangerous's
``URLSafeTimedSerializer`` (HMAC-SHA256, the cookie's purpose as its salt)::

    xdmc_session = base64url(json) "." base64url(time) "." base64url(hmac(key, ...))

A cookie older than its purpose's lifetime (``LIFETIMES``), or altered, is no cookie.

Every request re-authenticates the token against the store, so a rotated secret, a deleted
integration or a revoked role takes effect on the next page. The cookie is ``HttpOnly``,
``SameSite=Lax``, ``Secure`` when the page is served over HTTPS, and scoped to ``/ui``.

The signing key is 32 random bytes kept in ``$XDMC_HOME/ui-session.key`` (mode 0600),
made by the first process that needs it; servers sharing sessions share that file, and
deleting it ends every session. The same key signs two short-lived cookies: the sign-in
form's CSRF token (before there is a session) and the one-shot notice shown after a form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from xdm_connector.security.key_files import load_or_create_key

SESSION_COOKIE = "xdmc_session"
SIGNIN_COOKIE = "xdmc_signin"
NOTICE_COOKIE = "xdmc_notice"
COOKIE_PATH = "/ui"
KEY_FILE = "ui-session.key"
SESSION_SECONDS = 8 * 3600
SIGNIN_SECONDS = 3600
NOTICE_SECONDS = 60
LIFETIMES = {"session": SESSION_SECONDS, "signin": SIGNIN_SECONDS, "notice": NOTICE_SECONDS}
"""How long a cookie signed for each purpose is good for, in seconds."""


@dataclass(frozen=True)
class Session:
    """What the session cookie holds."""

    client_id: str
    token: str
    csrf: str
    name: str
    issued: bool
    """Whether signing in issued the token (signing out then deletes it)."""

    def document(self) -> dict[str, Any]:
        """The signed payload."""
        return {
            "c": self.client_id,
            "t": self.token,
            "x": self.csrf,
            "n": self.name,
            "i": self.issued,
        }


@dataclass(frozen=True)
class Notice:
    """A one-shot message shown on the next page: ``kind`` is ``ok`` or ``error``."""

    kind: str
    text: str


class Signer:
    """Signs and checks the pages' cookies with the installation's key, for a purpose
    (``session``, ``signin``, ``notice``: a cookie signed for one is refused for another)."""

    def __init__(self, key_path: Path) -> None:
        self._key_path = key_path
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    def sign(self, purpose: str, document: dict[str, Any]) -> str:
        """``document``, signed now for ``purpose``."""
        return self._serializer(purpose).dumps(document)

    def unsign(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        """The document of a value signed for ``purpose`` within its lifetime, else None
        (whatever the value holds)."""
        if not value:
            return None
        try:
            document = self._serializer(purpose).loads(value, max_age=LIFETIMES[purpose])
        except BadData:
            return None
        return document if isinstance(document, dict) else None

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if not self._serializers:
            key = load_or_create_key(self._key_path)
            self._serializers = {
                name: URLSafeTimedSerializer(
                    key, salt=name, signer_kwargs={"digest_method": hashlib.sha256}
                )
                for name in LIFETIMES
            }
        return self._serializers[purpose]


def new_session(client_id: str, token: str, name: str, *, issued: bool) -> Session:
    """A session for a token just issued or checked, with a fresh CSRF token."""
    return Session(
        client_id=client_id, token=token, csrf=secrets.token_urlsafe(32), name=name, issued=issued
    )


def read_session(signer: Signer, request: Request) -> Session | None:
    """The request's valid session, if it has one."""
    document = signer.unsign("session", request.cookies.get(SESSION_COOKIE))
    if document is None:
        return None
    fields = (document.get("c"), document.get("t"), document.get("x"), document.get("n"))
    if not all(isinstance(value, str) and value for value in fields[:3]):
        return None
    return Session(
        client_id=str(fields[0]),
        token=str(fields[1]),
        csrf=str(fields[2]),
        name=str(fields[3] or fields[0]),
        issued=document.get("i") is True,
    )


def _set(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def write_session(signer: Signer, request: Request, response: Response, session: Session) -> None:
    """Set the session cookie on ``response``."""
    value = signer.sign("session", session.document())
    _set(response, request, SESSION_COOKIE, value, SESSION_SECONDS)


def end_session(response: Response) -> None:
    """Clear the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def signin_csrf(signer: Signer, request: Request) -> tuple[str, bool]:
    """The sign-in form's CSRF token (the request cookie's, or a new one) and whether it
    is new (``remember_signin_csrf`` must then set it on the page)."""
    document = signer.unsign("signin", request.cookies.get(SIGNIN_COOKIE))
    if document is not None and isinstance(document.get("x"), str):
        return str(document["x"]), False
    return secrets.token_urlsafe(32), True


def remember_signin_csrf(signer: Signer, request: Request, response: Response, token: str) -> None:
    """Set the sign-in form's CSRF cookie, before there is a session to hold the token."""
    value = signer.sign("signin", {"x": token})
    _set(response, request, SIGNIN_COOKIE, value, SIGNIN_SECONDS)


def forget_signin_csrf(response: Response) -> None:
    """Clear the sign-in form's CSRF cookie once signed in."""
    response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)


def signin_csrf_matches(signer: Signer, request: Request, given: str) -> bool:
    """Whether ``given`` is the CSRF token of the request's sign-in cookie."""
    document = signer.unsign("signin", request.cookies.get(SIGNIN_COOKIE))
    expected = document.get("x") if document else None
    return isinstance(expected, str) and _same_token(expected, given)


def csrf_matches(session: Session, given: str) -> bool:
    """Whether ``given`` is the session's CSRF token (compared in constant time)."""
    return _same_token(session.csrf, given)


def _same_token(expected: str, given: str) -> bool:
    """``expected == given`` in constant time; as bytes, since ``compare_digest`` refuses
    texts that are not ASCII (a posted token may be anything)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def set_notice(signer: Signer, request: Request, response: Response, notice: Notice) -> None:
    """Show ``notice`` on the next page the browser asks for."""
    value = signer.sign("notice", {"k": notice.kind, "m": notice.text})
    _set(response, request, NOTICE_COOKIE, value, NOTICE_SECONDS)


def take_notice(signer: Signer, request: Request) -> Notice | None:
    """The notice the request carries, if any (the page then clears its cookie)."""
    document = signer.unsign("notice", request.cookies.get(NOTICE_COOKIE))
    if document is None:
        return None
    return Notice(kind=str(document.get("k", "ok")), text=str(document.get("m", "")))


def clear_notice(response: Response) -> None:
    """Clear the notice cookie once shown."""
    response.delete_cookie(NOTICE_COOKIE, path=COOKIE_PATH)
