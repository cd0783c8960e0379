"""A job's window over the source's rows, and how a window and its bounds are stored.

**Windows.** Rows are ordered by ``(audit value, key)``. A job reads the high-water mark
``H`` (the last row in that order) when it starts and exports the rows ``(after, H]``,
where ``after`` is the mapping's watermark, the ``H`` of its last successful job. Rows
sharing one audit value are split by their key, so none is lost or repeated at equal
timestamps; rows changed while a job runs get an audit value above its ``H`` (or see
below) and go to the next job.

**Look-back.** A row committed late, with an audit value older than the watermark (a long
transaction, a clock behind, a replica catching up), would fall behind the cursor. So a
window also re-reads the recent past: every row whose audit value is at least ``since``
(the watermark's audit value minus ``XDMC_LOOKBACK_SECONDS``), even if it is before
``after``. The watermark document keeps, beside the bound, the rows already processed
inside that span (``pipeline/lookback.py``: ``{"since": ..., "changes": [{"audit": ...,
"keys": [...]}...]}``);
a re-read row whose key and audit value are there is skipped, any other (late, or changed
since) is exported. Only versions are compared, so the lake gets each version of a row
once. The kept rows are bounded (``XDMC_LOOKBACK_MAX_KEYS``): past the bound, the oldest
audit values are dropped whole and ``since`` moves up to the oldest one kept (exclusive),
narrowing the look-back rather than exporting twice. The look-back applies to audit values
that are dates or date-times; other audit values (a version number) use the strict cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from xdm_connector.errors import InvalidInput


@dataclass(frozen=True)
class Bound:
    """A position in the export order: an audit value and a key value."""

    audit: Any
    key: Any


@dataclass(frozen=True)
class Since:
    """Where the look-back starts: rows whose audit value is at least (or, ``exclusive``,
    above) ``audit`` are read again, whatever the window's ``after``."""

    audit: Any
    exclusive: bool = False


@dataclass(frozen=True)
class Window:
    """The rows of one job: after ``after`` (exclusive, None = the beginning), up to
    ``until``, and the look-back's rows from ``since``."""

    after: Bound | None
    until: Bound
    since: Since | None = None


@dataclass(frozen=True)
class KeyRange:
    """One slice of a window: the rows whose key is above ``after`` (exclusive, None = the
    first key) and at most ``until`` (None = the last key)."""

    after: Any = None
    until: Any = None


def encode_bound(bound: Bound) -> dict[str, Any]:
    """A bound as JSON, keeping the Python type of each value."""
    return {"audit": encode_value(bound.audit), "key": encode_value(bound.key)}


def decode_bound(document: dict[str, Any] | None) -> Bound | None:
    """The bound ``encode_bound`` wrote, or None."""
    if not document:
        return None
    return Bound(audit=decode_value(document["audit"]), key=decode_value(document["key"]))


def encode_value(value: Any) -> dict[str, Any]:
    """An audit or key value as JSON, with its Python type (``{"type": "int", "value": 42}``)."""
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float | str):
        return {"type": type(value).__name__, "value": value}
    raise InvalidInput(f"an audit or key value of type {type(value).__name__} cannot be a bound")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "decimal": Decimal,
}


def decode_value(document: dict[str, Any]) -> Any:
    """The value ``encode_value`` wrote."""
    kind, value = document["type"], document["value"]
    return _DECODERS[kind](value) if kind in _DECODERS else value


def decode_values(kind: str, values: list[Any]) -> list[Any]:
    """Values of one ``type`` as ``encode_value`` wrote them, without their ``type``."""
    decoder = _DECODERS.get(kind)
    return values if decoder is None else [decoder(value) for value in values]


def window_document(window: Window) -> dict[str, Any]:
    """A job's window as JSON (``jobs.window``; ``window_from_document`` reads it)."""
    document: dict[str, Any] = {
        "after": encode_bound(window.after) if window.after else None,
        "until": encode_bound(window.until),
    }
    if window.since is not None:
        document["lookbackFrom"] = {
            "audit": encode_value(window.since.audit),
            "exclusive": window.since.exclusive,
        }
    return document


def window_from_document(document: dict[str, Any]) -> Window:
    """The window ``window_document`` wrote."""
    until = decode_bound(document["until"])
    if until is None:
        raise InvalidInput("a job's window has no upper bound")
    since = document.get("lookbackFrom")
    return Window(
        after=decode_bound(document.get("after")),
        until=until,
        since=None
        if since is None
        else Since(decode_value(since["audit"]), bool(since.get("exclusive"))),
    )
