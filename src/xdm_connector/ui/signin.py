"""Signing in and out of the pages, and ``/`` (to the data mappings).

``POST /ui/signin`` takes an integration's client id with its client secret, which it
exchanges for a token through ``issue_token`` under the token endpoint's rate limit, or
with a bearer token it checks through ``authenticate``; the session then holds that
token. Signing out ends the session and deletes the token it issued (never a token the
person brought: scripts may still use it).
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from xdm_connector.api.deps import AddressDep, SettingsDep, StoreDep
from xdm_connector.errors import AuthenticationError
from xdm_connector.security.credentials import authenticate, digest, issue_token
from xdm_connector.security.rate_limit import TooManyAttempts, login_attempt
from xdm_connector.store.models import AccessToken
from xdm_connector.store.store import Store
from xdm_connector.ui.sessions import (
    SESSION_SECONDS,
    Notice,
    end_session,
    forget_signin_csrf,
    new_session,
    read_session,
    remember_signin_csrf,
    set_notice,
    signin_csrf,
    signin_csrf_matches,
    write_session,
)
from xdm_connector.ui.web import PosterDep, UiDep, UiRoute, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)

HOME = "/ui/mappings"
REFUSED = "The client id and secret (or token) were not accepted."


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of ``/ui`` only, never another site."""
    if not target or not target.startswith("/ui/") or target.startswith("//"):
        return HOME
    if "\\" in target or target.startswith("/ui/signin"):
        return HOME
    return target


@router.get("/")
def root() -> RedirectResponse:
    """The product's home: the data mappings."""
    return RedirectResponse(HOME, status_code=307)


@router.get("/ui")
def ui_root() -> RedirectResponse:
    """The pages' home: the data mappings."""
    return RedirectResponse(HOME, status_code=307)


def _signin_page(
    request: Request,
    ui: UiDep,
    target: str,
    *,
    error: str = "",
    client_id: str = "",
    status: int = 200,
) -> Response:
    csrf, fresh = signin_csrf(ui.signer, request)
    page = render(
        request,
        "signin.html",
        {"csrf": csrf, "next": target, "error": error, "client_id": client_id},
        status_code=status,
    )
    if fresh:
        remember_signin_csrf(ui.signer, request, page, csrf)
    return page


@router.get("/ui/signin")
def signin_form(request: Request, ui: UiDep, store: StoreDep, next: str | None = None) -> Response:
    """The sign-in form; a browser whose session still holds a valid token goes straight on."""
    session = read_session(ui.signer, request)
    if session is not None:
        try:
            authenticate(store, session.token, session.client_id)
        except AuthenticationError:
            page = _signin_page(request, ui, safe_next(next))
            end_session(page)
            return page
        return RedirectResponse(safe_next(next), status_code=303)
    return _signin_page(request, ui, safe_next(next))


@router.post("/ui/signin")
def signin(
    request: Request,
    ui: UiDep,
    store: StoreDep,
    settings: SettingsDep,
    address: AddressDep,
    csrf_token: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
    access_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    """Check the credentials, open the session, and go to the page asked for."""
    target = safe_next(next)
    client_id = client_id.strip()
    if not signin_csrf_matches(ui.signer, request, csrf_token):
        error = "The sign-in form had expired: please sign in again."
        return _signin_page(request, ui, target, error=error, client_id=client_id, status=403)
    if not client_id or not (client_secret or access_token.strip()):
        error = "Give the client id, and its client secret or a bearer token."
        return _signin_page(request, ui, target, error=error, client_id=client_id, status=400)
    ttl = min(settings.token_ttl_seconds, SESSION_SECONDS)
    issued = bool(client_secret)
    try:
        with login_attempt(store, client_id, address):
            if issued:
                token = issue_token(store, client_id, client_secret, ttl).access_token
            else:
                token = access_token.strip()
                authenticate(store, token, client_id)
    except TooManyAttempts as exc:
        error = f"Too many failed attempts: retry in {exc.retry_after} seconds."
        return _signin_page(request, ui, target, error=error, client_id=client_id, status=429)
    except AuthenticationError:
        return _signin_page(request, ui, target, error=REFUSED, client_id=client_id, status=401)
    integration = store.tenants.get_integration(client_id)
    name = integration.name if integration is not None else client_id
    session = new_session(client_id, token, name, issued=issued)
    response = RedirectResponse(target, status_code=303)
    write_session(ui.signer, request, response, session)
    forget_signin_csrf(response)
    return response


@router.post("/ui/signout")
def signout(request: Request, ui: UiDep, store: StoreDep, viewer: PosterDep) -> Response:
    """End the session; the token it issued stops working at once."""
    if viewer.session.issued:
        revoke_token(store, viewer.session.token)
    response = RedirectResponse("/ui/signin", status_code=303)
    end_session(response)
    set_notice(ui.signer, request, response, Notice("ok", "You are signed out."))
    return response


def revoke_token(store: Store, token: str) -> None:
    """Delete a bearer token from the store: it stops working at once."""
    with store.write() as session:
        session.execute(sa.delete(AccessToken).where(AccessToken.token_hash == digest(token)))
