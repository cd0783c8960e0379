"""The decorators of the routes every resource of the API has alike: a collection read a
page at a time, one object read, created or deleted; each with the errors it documents."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from xdm_connector.api.collections import error_responses


def collection_route(
    router: APIRouter,
    path: str,
    summary: str,
    collection: type[BaseModel],
    errors: Sequence[int] = (400, 401, 404),
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The ``GET`` route of a ``collection`` (``Collection[...]``), answered a page at a time
    by ``paginate``, with the ``errors`` it documents."""
    return router.get(
        path, summary=summary, response_model=collection, responses=error_responses(*errors)
    )


def item_route(
    router: APIRouter, path: str, summary: str, item: type[BaseModel]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The ``GET`` route of one object of an organization (401, or 404 when unknown)."""
    return router.get(
        path, summary=summary, response_model=item, responses=error_responses(401, 404)
    )


def creation_route(
    router: APIRouter, path: str, summary: str, created: type[BaseModel]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The ``POST`` route that creates an object of an organization: 201 and ``created``,
    or 400, 401, 403, 404 and 409 (the id is taken)."""
    return router.post(
        path,
        summary=summary,
        status_code=201,
        response_model=created,
        responses=error_responses(400, 401, 403, 404, 409),
    )


def deletion_route(
    router: APIRouter, path: str, summary: str, errors: Sequence[int]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The ``DELETE`` route of an object: 204 and no body, or the ``errors`` it documents."""
    return router.delete(
        path,
        summary=summary,
        status_code=204,
        response_class=Response,
        responses=error_responses(*errors),
    )
