"""Integer parameters of the routes, bounded by what a store column holds.

``store_integer`` declares an integer parameter that a store column can hold: FastAPI's
parsing takes ASCII digits only, and the bounds keep it within ``STORE_INTEGERS``, so that
a ``requestId`` or a job id of 2**63 is refused (400) before it reaches a query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Query

from xdm_connector.inputs import STORE_INTEGERS


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
