"""What every page shares: the signed-in viewer, CSRF checks, rendering and error pages.

Pages never answer the API's JSON errors: ``UiRoute`` turns a missing or expired session
into a redirect to the sign-in page (``?next=`` the page asked for), and the product's
errors into an HTML page with the same status codes as the API (403, 404, 409, 400...).
Every answer gets a strict Content-Security-Policy (the pages' own scripts and styles
only), ``no-store`` caching and no framing.

A POST needs the viewer's per-session CSRF token in the form field ``csrf_token``, and,
when the browser sends one, an ``Origin`` equal to the page's own; otherwise it is refused
with 403 before its handler runs.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment
from starlette.responses import RedirectResponse, Response

from xdm_connector.api.deps import StoreDep
from xdm_connector.api.errors import STATUS_BY_ERROR
from xdm_connector.errors import AuthenticationError, InvalidInput, PermissionDenied, XdmcError
from xdm_connector.security.credentials import authenticate
from xdm_connector.security.roles import ROLE_ADMINISTRATION, ROLE_SQL, role_required
from xdm_connector.store.principals import Principal
from xdm_connector.ui.sessions import (
    Notice,
    Session,
    Signer,
    clear_notice,
    csrf_matches,
    read_session,
    set_notice,
    take_notice,
)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Ui:
    """The pages' templates and cookie signer (one per app)."""

    templates: Environment
    signer: Signer


class SignInRequired(AuthenticationError):
    """The page needs a valid session: a page sends the browser to the sign-in page, a
    JSON route of the pages answers the API's 401."""

    code = "XDMC-SIGNIN"


class FormRefused(XdmcError):
    """A POST without the session's CSRF token, or from another origin (403)."""

    code = "XDMC-CSRF"


PAGE_STATUS: tuple[tuple[type[XdmcError], int], ...] = ((FormRefused, 403), *STATUS_BY_ERROR)


@dataclass(frozen=True)
class Viewer:
    """The person at the browser: an integration's principal and its session."""

    principal: Principal
    session: Session

    @property
    def org_id(self) -> str:
        """The organization whose pages the viewer sees."""
        return self.principal.org_id

    @property
    def can_administer(self) -> bool:
        """Publish, unpublish, stop, start and edit mappings (role ``administration``)."""
        return ROLE_ADMINISTRATION in self.principal.roles

    @property
    def can_trigger(self) -> bool:
        """Ingest now (role ``sql``)."""
        return ROLE_SQL in self.principal.roles

    @property
    def can_cancel(self) -> bool:
        """Cancel a job in progress (role ``sql``, as the API's cancel of a request)."""
        return self.can_trigger

    def require(self, allowed: bool, role: str, action: str) -> None:
        """``PermissionDenied`` naming ``role`` unless ``allowed``."""
        if not allowed:
            raise PermissionDenied(role_required(role, action), role=role)


def get_ui(request: Request) -> Ui:
    """The app's page machinery, made by ``mount_ui``."""
    ui: Ui = request.app.state.ui
    return ui


UiDep = Annotated[Ui, Depends(get_ui)]


def current_viewer(request: Request, store: StoreDep, ui: UiDep) -> Viewer:
    """The signed-in viewer; ``SignInRequired`` without a valid session and token."""
    session = read_session(ui.signer, request)
    if session is None:
        raise SignInRequired("sign in to see this page")
    try:
        principal = authenticate(store, session.token, session.client_id)
    except AuthenticationError as exc:
        raise SignInRequired("the session has ended: sign in again") from exc
    viewer = Viewer(principal=principal, session=session)
    request.state.viewer = viewer
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin``, when the browser sent one, is the page's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:  # not a URL (``http://[``): no origin of ours
        return False
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


async def posting_viewer(request: Request, viewer: ViewerDep) -> Viewer:
    """The viewer of a form POST whose CSRF token and origin check out, else 403."""
    form = await request.form()
    given = form.get("csrf_token")
    if (
        not same_origin(request)
        or not isinstance(given, str)
        or not csrf_matches(viewer.session, given)
    ):
        raise FormRefused("The form has expired or comes from another site: reload the page")
    return viewer


PosterDep = Annotated[Viewer, Depends(posting_viewer)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """The page ``template`` with ``context``, the viewer and the pending notice."""
    ui = get_ui(request)
    notice = take_notice(ui.signer, request)
    viewer = getattr(request.state, "viewer", None)
    html = ui.templates.get_template(template).render(
        {"request": request, "viewer": viewer, "notice": notice, **context}
    )
    response = Response(html, status_code=status_code, media_type="text/html")
    if notice is not None:
        clear_notice(response)
    return response


def redirect(request: Request, url: str, notice: Notice | None = None) -> RedirectResponse:
    """A 303 to ``url`` (after a form), showing ``notice`` there."""
    response = RedirectResponse(url, status_code=303)
    if notice is not None:
        set_notice(get_ui(request).signer, request, response, notice)
    return response


def signin_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back to the page asked for after."""
    if request.method != "GET":
        # A form's target cannot be opened again after signing in: start over.
        return RedirectResponse("/ui/signin", status_code=303)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/signin?next={quote(target, safe='/')}", status_code=303)


def error_page(request: Request, exc: XdmcError) -> Response:
    """The HTML answer to a product error, with the API's status code for it."""
    status = next((code for kind, code in PAGE_STATUS if isinstance(exc, kind)), 500)
    return render(
        request, "error.html", {"status": status, "message": exc.message}, status_code=status
    )


class UiRoute(APIRoute):
    """A page route: product errors become HTML pages, and every answer gets the headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = signin_redirect(request)
            except XdmcError as exc:
                response = error_page(request, exc)
            except RequestValidationError as exc:
                wrong = "; ".join(str(error.get("msg", "")) for error in exc.errors())
                response = error_page(request, InvalidInput(f"invalid request: {wrong}"))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page
