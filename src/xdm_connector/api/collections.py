"""What the Campaign-style resources share: collection pages, the caller's scope, error docs.

A collection answers one page of its rows, like the original Campaign API::

    GET /acme/campaign/dataIngestion/xdmMapping?_lineCount=2
    {"content": [{...}, {...}],
     "count": {"value": 5},
     "next": {"href": "http://host/acme/campaign/dataIngestion/xdmMapping?_lineCount=2&_lineStart=2"}}

``_lineCount`` is the page size (25 by default, at most 500), ``_lineStart`` the offset of
the page's first row; ``next`` is there only when rows follow the page.

Every resource lives under ``/{org}/...``: a caller of another organization is answered
404 exactly like an unknown object (another tenant's ids are never revealed), and every
write needs the ``administration`` role (403).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from xdm_connector.api.deps import PrincipalDep, administrator, member
from xdm_connector.api.request_inputs import store_integer
from xdm_connector.store.principals import Principal

BASE = "/{org}/campaign/dataIngestion"
DEFAULT_LINE_COUNT = 25
MAX_LINE_COUNT = 500

__all__ = [
    "BASE",
    "Collection",
    "OrgReaderDep",
    "OrgWriterDep",
    "PageDep",
    "administrator",
    "error_responses",
    "member",
    "paginate",
]

RowT = TypeVar("RowT")
ItemT = TypeVar("ItemT")


class CamelModel(BaseModel):
    """A model whose fields answer in camelCase (``batch_id`` as ``batchId``)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Count(BaseModel):
    """How many rows the whole collection holds."""

    value: int


class Link(BaseModel):
    """A link to another page."""

    href: str


class Collection(BaseModel, Generic[ItemT]):
    """One page of a collection; ``next`` only when more rows follow."""

    content: list[ItemT]
    count: Count
    next: Link | None = None

    def response(self) -> JSONResponse:
        """The page as JSON, without ``next`` when it is the last one."""
        document = self.model_dump(mode="json", by_alias=True)
        if self.next is None:
            del document["next"]
        return JSONResponse(document)


class GatewayError(BaseModel):
    """The body of every error: a stable code, a message, and the missing role on a 403."""

    error_code: str
    message: str
    role: str | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of the error answers a route gives."""
    descriptions = {
        400: "Invalid request or definition",
        401: "Missing or invalid token or API key",
        403: "The caller lacks the role administration",
        404: "Unknown object, or one of another organization",
        409: "The object's state forbids the action",
        422: "The mapping failed validation",
    }
    return {code: {"model": GatewayError, "description": descriptions[code]} for code in codes}


@dataclass(frozen=True)
class Page:
    """Which rows of a collection to answer."""

    line_count: int
    line_start: int


def page_parameters(
    line_count: Annotated[
        int,
        store_integer(
            Query, alias="_lineCount", ge=1, le=MAX_LINE_COUNT, description="Rows per page."
        ),
    ] = DEFAULT_LINE_COUNT,
    line_start: Annotated[
        int,
        store_integer(
            Query, alias="_lineStart", ge=0, description="Offset of the page's first row."
        ),
    ] = 0,
) -> Page:
    """``_lineCount`` and ``_lineStart`` of the query string."""
    return Page(line_count=line_count, line_start=line_start)


PageDep = Annotated[Page, Depends(page_parameters)]


def paginate(
    request: Request, page: Page, rows: Sequence[RowT], item: Callable[[RowT], ItemT]
) -> JSONResponse:
    """The page of ``rows`` that ``page`` asks for, each row turned into an ``item``.

    The answer is rendered here (routes declare ``Collection[...]`` as their response
    model for the OpenAPI document) so that ``next`` can be left out of the last page.
    """
    end = page.line_start + page.line_count
    collection = Collection[ItemT](
        content=[item(row) for row in rows[page.line_start : end]], count=Count(value=len(rows))
    )
    if end < len(rows):
        href = request.url.include_query_params(_lineCount=page.line_count, _lineStart=end)
        collection.next = Link(href=str(href))
    return collection.response()


def _organization_reader(org: str, principal: PrincipalDep) -> Principal:
    return member(principal, org, f"unknown organization {org}")


def _organization_writer(org: str, principal: PrincipalDep) -> Principal:
    return administrator(principal, org, f"unknown organization {org}")


OrgReaderDep = Annotated[Principal, Depends(_organization_reader)]
"""A member of the path's organization."""
OrgWriterDep = Annotated[Principal, Depends(_organization_writer)]
"""An administrator of the path's organization."""
