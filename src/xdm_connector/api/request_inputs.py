"""A request's inputs, checked before any route reads them (``inputs.py`` says what passes).

``check_request`` runs ahead of every route of the app (a dependency of the app itself)
and ahead of the ingestion trigger and status (``api/shortcut.py``): the path's
parameters, the query's names and values, and the fields of a JSON or form body. A text
holding NUL, another control character or a lone surrogate, and a JSON document holding a
number that is not finite or nested too deep, are refused with ``InvalidInput`` (400,
``XDMC-400``) naming where the fault is, never echoing it::

    GET /acme/campaign/auditTrail?action=grant%00
    400 {"error_code": "XDMC-400", "message": "invalid request: query.action: holds the
         control character U+0000"}

``store_integer`` declares an integer parameter that a store column can hold: FastAPI's
parsing takes ASCII digits only, and the bounds keep it within ``STORE_INTEGERS``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from fastapi import Query
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from xdm_connector.errors import InvalidInput
from xdm_connector.inputs import STORE_INTEGERS, refusal, refused_character, refused_in_document

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def check_request(request: Request) -> None:
    """``InvalidInput`` when a text of the request's path, query or body is refused."""
    for name, value in request.path_params.items():
        _check_text(f"path.{name}", str(value), lines=False)
    for name, value in request.query_params.multi_items():
        _check_text("query", name, lines=False)
        _check_text(f"query.{name}", value, lines=True)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type in _FORMS:
        await _check_form(request)
    elif media_type == "application/json" or media_type.endswith("+json"):
        await _check_json(request)


def _check_text(where: str, text: str, *, lines: bool) -> None:
    character = refused_character(text, lines=lines)
    if character is not None:
        raise InvalidInput(f"invalid request: {where}: {refusal(character)}")


async def _check_json(request: Request) -> None:
    try:
        document = await request.json()
    except (ValueError, RecursionError):
        return  # not JSON: the route that reads the body refuses it
    fault = refused_in_document(document)
    if fault is not None:
        where, what = fault
        raise InvalidInput(f"invalid request: body.{where}: {what}")


async def _check_form(request: Request) -> None:
    # The body is kept first, for a route that reads it after the form; when the framework
    # has parsed the form already, the stream is gone (RuntimeError) and the form is kept.
    with contextlib.suppress(RuntimeError):
        await request.body()
    try:
        form = await request.form()
    except (HTTPException, MultiPartException, ValueError) as exc:
        raise InvalidInput("invalid request: the form does not parse") from exc
    for name, value in form.multi_items():
        _check_text("form", name, lines=False)
        if isinstance(value, str):
            _check_text(f"form.{name}", value, lines=True)


def store_integer(
    kind: Callable[..., Any] = Query,
    *,
    ge: int = STORE_INTEGERS.start,
    le: int = STORE_INTEGERS.stop - 1,
    **options: Any,
) -> Any:
    """A ``Query`` (or ``Path``, given as ``kind``) of an integer that a store column can
    hold, within ``ge`` and ``le`` and never beyond ``STORE_INTEGERS``:
    ``Annotated[int, store_integer(Query, alias="_lineStart", ge=0)]``."""
    least = max(ge, STORE_INTEGERS.start)
    greatest = min(le, STORE_INTEGERS.stop - 1)
    return kind(ge=least, le=greatest, **options)
